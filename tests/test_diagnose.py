"""Model diagnosis: Hessian estimators, Bézier curves, CKA, RFI labels, MD-tree fitting, tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import hessian

from weightspace.diagnose import (
    PUBLISHED_COLUMNS,
    EvaluateConfig,
    MDTree,
    Stack,
    bezier,
    connectivity_scores,
    derive_labels,
    evaluate,
    hutchinson_trace,
    linear_cka,
    read_metrics,
    top_eigenvalue,
)
from weightspace.diagnose.connectivity import _recalibrate, curve_errors
from weightspace.diagnose.hessian import batched_hvp, hessian_metrics
from weightspace.diagnose.tree import SHAPES, BaselineTree, _leaf_path


def _small_stack(n: int = 2) -> tuple[Stack, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    template = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    states = []
    for _ in range(n):
        states.append({k: v.clone() for k, v in nn.Sequential(
            nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).state_dict().items()})  # fmt: skip
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    return Stack.from_state_dicts(template, states), x, y


def _exact_hessians(stack: Stack, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    loss = stack.loss_fn(x, y)
    return [hessian(lambda p: loss(p, {}))(stack.flat[i]) for i in range(len(stack))]


def test_stack_logits_match_the_modules():
    stack, x, _ = _small_stack()
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    torch.nn.utils.vector_to_parameters(stack.flat[1], net.parameters())
    torch.testing.assert_close(stack.logits(x)[1], net(x))


def test_hutchinson_trace_matches_the_exact_hessian():
    stack, x, y = _small_stack()
    hvp = batched_hvp(stack, x, y)
    n, size = stack.flat.shape
    trace = hutchinson_trace(hvp, n, size, [1, 2], max_iter=100, tol=0.0)
    for i, h in enumerate(_exact_hessians(stack, x, y)):
        off = h - torch.diag(torch.diag(h))
        stderr = float(torch.sqrt(2 * off.square().sum() / 100))  # Var vᵀHv = 2 Σ_{i≠j} H_ij²
        assert abs(float(trace[i]) - float(torch.trace(h))) < 4 * stderr + 1e-5
        assert stderr < 0.25 * abs(float(torch.trace(h)))  # the bar is tight enough to fail


def test_power_iteration_finds_the_dominant_eigenvalue():
    stack, x, y = _small_stack()
    hvp = batched_hvp(stack, x, y)
    n, size = stack.flat.shape
    top = top_eigenvalue(hvp, n, size, [3, 4], max_iter=300, tol=1e-7)
    for i, h in enumerate(_exact_hessians(stack, x, y)):
        eig = torch.linalg.eigvalsh(h)
        dominant = eig[eig.abs().argmax()]
        assert float(top[i]) == pytest.approx(float(dominant), rel=2e-3)
        assert abs(float(top[i]) - float(eig.median())) > 1e-3  # not any eigenvalue


def test_batched_hessian_metrics_equal_the_per_model_loop():
    stack, x, y = _small_stack(3)
    trace, eig = hessian_metrics(stack, x, y, [5, 6, 7], max_iter=8)
    for i, seed in enumerate([5, 6, 7]):
        t, e = hessian_metrics(stack.select([i]), x, y, [seed], max_iter=8)
        torch.testing.assert_close(t[0], trace[i], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(e[0], eig[i], rtol=1e-4, atol=1e-6)


def test_bezier_endpoints_are_the_two_models():
    stack, x, y = _small_stack()
    a, b = stack.flat[0], stack.flat[1]
    bend = torch.randn_like(a)
    torch.testing.assert_close(bezier(a, bend, b, 0.0), a)
    torch.testing.assert_close(bezier(a, bend, b, 1.0), b)
    assert not torch.allclose(bezier(a, bend, b, 0.5), a)  # negative control
    errors = curve_errors(stack, a, bend, b, x, y)
    _, own = stack.loss_and_error(x, y)
    assert errors[0] == pytest.approx(float(own[0]))
    assert errors[-1] == pytest.approx(float(own[1]))


def test_connectivity_scores():
    mc, peak = connectivity_scores([2.0, 10.0, 30.0, 4.0, 4.0])
    assert peak == -30.0 and mc == pytest.approx(3.0 - 30.0)
    mc, peak = connectivity_scores([10.0, 5.0, 6.0, 7.0, 10.0])  # a valley between the seeds
    assert peak == -7.0 and mc == pytest.approx(10.0 - 5.0)


def test_batchnorm_recalibration_uses_the_data():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    x = torch.randn(64, 1, 6, 6) * 3 + 2
    _recalibrate(net, x, batch_size=16)
    expected = net[0](x).mean((0, 2, 3))
    torch.testing.assert_close(net[1].running_mean, expected, rtol=1e-4, atol=1e-4)
    assert not net.training


def test_cka_of_identical_representations_is_one():
    a = torch.randn(50, 8)
    assert float(linear_cka(a, a)) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_cka_invariant_to_orthogonal_maps_and_isotropic_scaling(seed, scale):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(40, 6, generator=gen)
    b = a @ torch.randn(6, 5, generator=gen) + 0.5 * torch.randn(40, 5, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen))
    base = float(linear_cka(a, b))
    assert float(linear_cka(a, scale * b @ q)) == pytest.approx(base, abs=1e-5)
    stretch = torch.diag(torch.tensor([1.0, 1.0, 1.0, 1.0, 50.0]))
    assert abs(float(linear_cka(a, b @ stretch)) - base) > 1e-4  # not invariant to any map


def test_rfi_labels_on_a_hand_made_grid():
    # one width, one data amount, batch sizes 16 / 64 / 256; plus a wider model at batch 64
    width = np.array([1, 1, 1, 2])
    bs = np.array([16, 64, 256, 64])
    data = np.array([10, 10, 10, 10])
    acc = np.array([80.0, 90.0, 70.0, 95.0])
    out = derive_labels(width, bs, data, acc)
    np.testing.assert_allclose(out["rfi_inc_temp"], [0, 0, 20, 0])
    np.testing.assert_allclose(out["rfi_dec_temp"], [10, 0, 0, 0])
    np.testing.assert_allclose(out["rfi_width"], [0, 5, 0, 0])
    np.testing.assert_allclose(out["rfi_data"], [0, 0, 0, 0])
    assert out["bs_failure"].tolist() == ["large", "optimal", "small", "optimal"]
    assert out["width_vs_batch"].tolist() == ["batch", "width", "batch", "optimal"]
    assert out["data_vs_batch"].tolist() == ["batch", "optimal", "batch", "optimal"]


def _synthetic(question: str, thresholds: np.ndarray, n: int = 400, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    shape = SHAPES[question]
    table = {}
    for t in shape.thresholds:
        if t.feature not in table:
            table[t.feature] = rng.uniform(t.low - 0.1 * (t.high - t.low), t.high, n)
    features = np.stack([table[t.feature] for t in shape.thresholds], 1)
    table[shape.label] = np.array([_leaf_path(shape.root, f, thresholds, []) for f in features])
    for name in ("width", "bs", "data", "data_amount", "para_amount", "test_acc"):
        table[name] = rng.integers(1, 5, n).astype(float)
    for name in (
        "log_data_amount",
        "log_para_amount",
        "train_loss",
        "test_loss",
        "test_error",
        "hessian_e",
        "mode_connectivity",
        "mode_connectivity_peak",
        "CKA",
        "hessian_t",
    ):
        table.setdefault(name, rng.normal(size=n))  # fmt: skip
    return table


@pytest.mark.parametrize("question", ["temperature", "width"])
def test_fitted_thresholds_recover_known_ones(question):
    known = {"temperature": [0.3, -12.0, 6.2], "width": [0.6, -20.0, -5.0]}[question]
    table = _synthetic(question, np.array(known))
    tree = MDTree(question, search="scan", passes=2).fit(table)
    assert tree.score(table) == 1.0
    for fitted, truth, t in zip(tree.thresholds_, known, SHAPES[question].thresholds, strict=True):
        column = np.sort(table[t.feature])
        gap = np.diff(column).max()  # recovered up to the spacing of the data
        assert abs(fitted - truth) <= gap
    untrained = MDTree(question)
    untrained.thresholds_ = np.array([t.init for t in SHAPES[question].thresholds])
    assert untrained.score(table) < 0.95  # negative control: the initial thresholds are off
    bounded = MDTree(question).fit(table)  # the published search: one pass, no exact scan
    assert bounded.score(table) > max(0.75, untrained.score(table))


def test_md_tree_save_load_round_trip(tmp_path):
    table = _synthetic("temperature", np.array([0.3, -12.0, 6.2]))
    tree = MDTree("temperature", search="scan").fit(table)
    tree.save(tmp_path / "tree.json")
    loaded = MDTree.load(tmp_path / "tree.json")
    np.testing.assert_array_equal(loaded.predict(table), tree.predict(table))
    label, path = loaded.explain({k: v[0] for k, v in table.items()})
    assert label == table["bs_failure"][0] and path[0].startswith("train_error")


def test_evaluate_md_tree_beats_hyperparameter_tree_on_tree_labels():
    known = np.array([0.3, -12.0, 6.2])
    train, test = _synthetic("temperature", known, seed=1), _synthetic("temperature", known, seed=2)
    config = EvaluateConfig(pairs=12, seeds=(42, 90), search="scan")
    results = evaluate(train, test, config)
    assert results["md"]["mean"] > 0.95
    assert results["hyperparameter"]["mean"] < 0.8  # features unrelated to the labels


def test_md_tree_versus_baselines_is_paired_by_seed_with_an_interval_from_8_seeds():
    from weightspace.diagnose.protocols import format_results

    known = np.array([0.3, -12.0, 6.2])
    train, test = _synthetic("temperature", known, seed=1), _synthetic("temperature", known, seed=2)
    few = EvaluateConfig(pairs=12, seeds=(42, 90), search="scan")
    results = evaluate(train, test, few)
    gap = results["hyperparameter"]["md_minus"]
    per_seed = np.subtract(results["md"]["per_seed"], results["hyperparameter"]["per_seed"])
    assert gap["value"] == pytest.approx(per_seed.mean()) and gap["low"] is None
    assert "2 seeds: too few for an interval" in format_results(results, few)
    many = EvaluateConfig(pairs=12, seeds=tuple(range(8)), search="scan")
    results = evaluate(train, test, many)
    gap = results["hyperparameter"]["md_minus"]
    assert gap["test_units"] == 8 and gap["unit"] == "seed" and gap["low"] > 0  # MD tree wins
    assert "95 % interval over seeds" in format_results(results, many)


def _write_csv(path, table, columns):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    pcsv.write_csv(pa.table({c: list(table[c]) for c in columns}), path)


def test_published_csv_layout_gives_the_derived_labels(tmp_path):
    rng = np.random.default_rng(0)
    widths, batches, datas = [2, 4, 8], [16, 32, 64, 128], [1, 5, 10]
    grid = np.array([(w, b, d) for w in widths for b in batches for d in datas], dtype=float)
    table = {name: rng.normal(size=len(grid)) for name in PUBLISHED_COLUMNS}
    table["width"], table["bs"], table["data"] = grid.T
    table["test_acc"] = np.round(rng.uniform(50, 90, len(grid)), 2)
    derived = derive_labels(table["width"], table["bs"], table["data"], table["test_acc"])
    table.update(derived)
    _write_csv(tmp_path / "published.csv", table, PUBLISHED_COLUMNS)
    read = read_metrics(tmp_path / "published.csv")
    for name in ("bs_failure", "width_vs_batch", "data_vs_batch"):
        assert read[name].astype(str).tolist() == derived[name].tolist()
    # without label columns the reader derives the same labels
    bare = [c for c in PUBLISHED_COLUMNS if not c.startswith("rfi") and "_vs_" not in c
            and c != "bs_failure"]  # fmt: skip
    _write_csv(tmp_path / "bare.csv", table, bare)
    again = read_metrics(tmp_path / "bare.csv")
    assert again["bs_failure"].tolist() == derived["bs_failure"].tolist()
    np.testing.assert_allclose(again["rfi_inc_temp"], derived["rfi_inc_temp"])
    # labels present in a file are used as they are, not re-derived
    flipped = dict(table, bs_failure=np.where(derived["bs_failure"] == "small", "large", "small"))
    _write_csv(tmp_path / "flipped.csv", flipped, PUBLISHED_COLUMNS)
    assert (
        read_metrics(tmp_path / "flipped.csv")["bs_failure"].tolist()
        != derived["bs_failure"].tolist()
    )


def _published_grid(label_of, widths=(2, 3, 4, 8), batches=(16, 64, 256), datas=(1, 2, 5, 10),
                    seed: int = 0) -> dict:  # fmt: skip
    """A small table in the published CSV layout (CIFAR-10: 5,000 images per data tenth; the
    narrowest model has 11,420 parameters, "0.011 M"); ``label_of(width, bs, data)`` gives the
    three labels, so a test controls what each feature can explain."""
    rng = np.random.default_rng(seed)
    grid = np.array([(w, b, d) for w in widths for b in batches for d in datas], dtype=float)
    table = {name: rng.normal(size=len(grid)) for name in PUBLISHED_COLUMNS}
    table["width"], table["bs"], table["data"] = grid.T
    table["data_amount"] = 5000 * table["data"]
    table["para_amount"] = np.round(11420 * (table["width"] / 2) ** 2)
    for name in ("data_amount", "para_amount", "bs"):
        table["log_" + name] = np.log(table[name])
    for i, name in enumerate(("bs_failure", "width_vs_batch", "data_vs_batch")):
        table[name] = np.array([label_of(*row)[i] for row in grid], dtype=object)
    return table


def _share(labels: np.ndarray, value: str) -> float:
    labels = labels[labels != "optimal"]
    return float((labels == value).mean())


@pytest.mark.parametrize(
    ("question", "label", "majority"),
    [("width", "width_vs_batch", "width"), ("data", "data_vs_batch", "data")],
)
def test_q2_hyperparameter_tree_sees_only_the_published_feature(question, label, majority):
    # width vs batch decided by the model size, data vs batch by the data amount: the released
    # scripts give the width question's tree only log_data_amount and the data question's only
    # log_para_amount, so neither can read its answer off the feature (the old default used
    # both features for every question and scored 100 % here)
    def label_of(width, bs, data):
        return ("small", "width" if width < 8 else "batch", "data" if data < 10 else "batch")

    table = _published_grid(label_of)
    config = EvaluateConfig(question=question, pairs=16, seeds=(42,), min_width=0)
    results = evaluate(table, table, config)
    assert results["hyperparameter"]["mean"] == pytest.approx(_share(table[label], majority))
    assert results["hyperparameter"]["mean"] < 0.9
    both = evaluate(table, table, EvaluateConfig(**{**config.__dict__, "hyperparameters": "both"}))
    assert both["hyperparameter"]["mean"] == 1.0  # the option keeps the old feature set


def test_temperature_hyperparameter_tree_keeps_both_features():
    # negative control: the temperature question's tree sees data amount and parameter count
    def label_of(width, bs, data):
        return ("small" if (width < 4) != (data < 5) else "large", "width", "data")

    table = _published_grid(label_of)
    results = evaluate(table, table, EvaluateConfig(pairs=16, seeds=(42,)))
    assert results["hyperparameter"]["mean"] == 1.0


def test_score_drops_optimal_rows_like_evaluate():
    known = np.array([0.3, -12.0, 6.2])
    table = _synthetic("temperature", known)
    tree = MDTree("temperature", search="scan", passes=2).fit(table)
    assert tree.score(table) == 1.0
    with_optimal = dict(table, bs_failure=table["bs_failure"].astype(object).copy())
    with_optimal["bs_failure"][::5] = "optimal"  # never predicted; the paper drops these rows
    assert tree.score(with_optimal) == 1.0
    config = EvaluateConfig(pairs=16, seeds=(42,), search="scan", passes=2)
    per_seed = evaluate(with_optimal, with_optimal, config)["md"]["per_seed"][0]
    assert per_seed == pytest.approx(tree.fit(with_optimal).score(with_optimal))
    baseline = BaselineTree("landscape", "bs_failure").fit(with_optimal)
    assert "optimal" not in baseline.tree_.classes_  # not fitted on the rows that do not count
    kept = with_optimal["bs_failure"] != "optimal"
    expected = baseline.score({k: v[kept] for k, v in with_optimal.items()})
    assert baseline.score(with_optimal) == pytest.approx(expected)


def test_landscape_metrics_of_an_imported_zoo_equal_those_of_the_zoo_it_came_from(tmp_path):
    """The same checkpoints, imported as plain state dicts with a task attached, give the same
    landscape metrics (a created zoo's batch size is the only thing an import cannot know)."""
    from conftest import checkpoint_folder, tiny_config

    from weightspace.cli import main
    from weightspace.diagnose.metrics import MetricsConfig, zoo_metrics
    from weightspace.zoo import create_zoo, open_zoo

    made = create_zoo(tiny_config(lr=1e-3, epochs=1), tmp_path / "made", progress=False)
    src = checkpoint_folder(made, tmp_path / "ckpts")
    out = tmp_path / "imported"
    assert main(["zoo", "import", "--from", "folder", str(src), "--out", str(out)]) == 0
    with pytest.raises(Exception, match="zoo attach"):  # no task yet: says how to attach one
        zoo_metrics(open_zoo(out))
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "digits", "--arch", "cnn-s"]
    assert main([*attach, "--activation", "tanh"]) == 0
    config = MetricsConfig(hessian_samples=50, hessian_iters=5, cka_samples=50, curve_epochs=1)
    ours, theirs = zoo_metrics(open_zoo(out), config), zoo_metrics(made, config)
    assert len(ours) == len(theirs) == 1 and ours[0]["n_seeds"] == 2
    for key in ("train_error", "test_error", "hessian_t", "hessian_e", "CKA", "mode_connectivity"):
        assert ours[0][key] == pytest.approx(theirs[0][key], rel=1e-5, abs=1e-6), key
    assert np.isnan(ours[0]["bs"]) and theirs[0]["bs"] == made.config.batch_size
