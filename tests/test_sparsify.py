"""Sparsified twins: masks, variational dropout, population parity, twin zoos and their links."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import checkpoint_folder, tiny_config

from weightspace.errors import ConfigError, ZooFormatError
from weightspace.sparsify import SparsifyConfig, resolve_original, sparsify_zoo
from weightspace.sparsify.masks import Layout, layer_sparsity, magnitude_mask, total_sparsity
from weightspace.sparsify.methods import magnitude_twins, variational_twins
from weightspace.sparsify.run import source_rows, zoo_task
from weightspace.sparsify.variational import (
    K1,
    K2,
    K3,
    KLPenalty,
    VariationalLinear,
    to_variational,
    variational_layers,
)
from weightspace.zoo import ArchConfig, build_model, create_zoo
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import Population

ARCH = ArchConfig("cnn-s", (1, 8, 8), 10, "tanh", 0.0, "uniform")


@pytest.fixture(scope="module")
def trained(digits):
    """Three small trained models: specs and their final weights {key: (3, *shape)}."""
    specs = [ModelSpec(i, 20 + i, ARCH, "adam", 3e-3, 1e-3) for i in range(3)]
    result = Population(specs, digits, batch_size=128).train(1, checkpoint_epochs=[1])
    return specs, {k: v[:, -1] for k, v in result.weights.items()}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return create_zoo(
        tiny_config(epochs=1, batch_size=128), tmp_path_factory.mktemp("sp") / "zoo", progress=False
    )


@pytest.fixture(scope="module")
def vd_twin(zoo, tmp_path_factory):
    config = SparsifyConfig(method="vd", vd_epochs=2, kl_scale=1.0, kl_ramp=2)
    return sparsify_zoo(zoo, tmp_path_factory.mktemp("vd") / "twin", config)


def _layout() -> tuple[Layout, list[str]]:
    net = build_model(ARCH)
    names = [k for k, _ in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]
    return Layout.of(net, names, sizes), names


# --- magnitude pruning -----------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_mask_prunes_exactly_the_smallest_weights(scope):
    layout, _ = _layout()
    flat = torch.randn(4, layout.size)
    share = torch.tensor([0.1, 0.5, 0.9, 0.98])
    mask = magnitude_mask(flat, layout, share, scope)
    groups = (
        [layout.index()]
        if scope == "global"
        else [torch.arange(s.start, s.stop) for s in layout.segments()]
    )
    for i in range(4):
        for index in groups:
            values, kept = flat[i, index].abs(), mask[i, index]
            assert (~kept).sum() == round(float(share[i]) * len(index))
            if kept.any():  # a tiny layer at 98 % may lose every weight
                assert values[~kept].max() <= values[kept].min()  # the smallest, no other
    biases = torch.ones(layout.size, dtype=torch.bool)
    biases[layout.index()] = False
    assert mask[:, biases].all()  # only conv/linear weights are sparsified


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_finetuned_twins_keep_pruned_weights_at_zero_and_hit_the_sparsity(digits, trained, scope):
    specs, start = trained
    config = SparsifyConfig(sparsity=(0.3, 0.8), scope=scope, finetune_epochs=1)
    twins = magnitude_twins(specs[:2], {k: v[:2] for k, v in start.items()}, digits, 128, config)
    layout, names = _layout()
    flat0 = torch.cat([start[k][:2].reshape(2, -1) for k in names], 1).repeat_interleave(2, 0)
    flat1 = torch.cat([twins.weights[k].reshape(4, -1) for k in names], 1)
    mask = magnitude_mask(flat0, layout, torch.tensor([0.3, 0.8] * 2), scope)
    assert (flat1[~mask] == 0).all()  # pruned weights stayed exactly zero (Adam, weight decay)
    assert not torch.allclose(flat1[mask], flat0[mask])  # while fine-tuning moved the others
    weights = tuple(layout.names)
    if scope == "global":
        expected = torch.tensor([round(s * layout.count) / layout.count for s in (0.3, 0.8)] * 2)
        torch.testing.assert_close(total_sparsity(twins.weights, weights), expected)
    else:
        per_layer = layer_sparsity(twins.weights, weights)
        for j, size in enumerate(layout.sizes):
            expected = torch.tensor([round(s * size) / size for s in (0.3, 0.8)] * 2)
            torch.testing.assert_close(per_layer[:, j], expected)
    assert [v["target_sparsity"] for v in twins.values] == pytest.approx([0.3, 0.8] * 2)


def test_gradual_schedule_reaches_the_target(digits, trained):
    specs, start = trained
    config = SparsifyConfig(sparsity=(0.6,), schedule="gradual", finetune_epochs=2)
    twins = magnitude_twins(specs[:1], {k: v[:1] for k, v in start.items()}, digits, 128, config)
    layout, _ = _layout()
    assert twins.values[0]["sparsity"] == pytest.approx(round(0.6 * layout.count) / layout.count)


# --- variational dropout ---------------------------------------------------------------------
def test_kl_term_equals_a_direct_computation():
    net = to_variational(build_model(ARCH))
    names = [k for k, _ in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]
    flat = torch.randn(2, sum(sizes), dtype=torch.float64) * 3

    def unflatten(f):
        parts = torch.split(f, sizes, dim=1)
        shapes = [p.shape for _, p in net.named_parameters()]
        return {k: c.reshape(len(f), *s) for k, c, s in zip(names, parts, shapes, strict=True)}

    penalty = KLPenalty(variational_layers(net), unflatten)
    got = penalty.total(flat)
    named = unflatten(flat)
    for i in range(2):
        expected = 0.0
        for prefix, bound in variational_layers(net):
            w = named[f"{prefix}.weight"][i].flatten().tolist()
            s2 = named[f"{prefix}.log_sigma2"][i].flatten().tolist()
            for wj, sj in zip(w, s2, strict=True):
                a = min(bound, max(-bound, sj - math.log(wj * wj + 1e-15)))
                neg_kl = K1 / (1 + math.exp(-(K2 + K3 * a))) - 0.5 * math.log1p(math.exp(-a)) - K1
                expected -= neg_kl
        assert float(got[i]) == pytest.approx(expected, rel=1e-9)
    penalty.weight = 0.25
    torch.testing.assert_close(penalty(flat), 0.25 * got)
    bounds = dict(variational_layers(net))
    assert bounds["features.0"] == 8.0 and bounds["classifier.4"] == 10.0


def test_evaluation_zeroes_exactly_the_weights_with_log_alpha_at_least_3():
    layer = VariationalLinear(torch.nn.Linear(6, 4), salt=1, init=-10.0, threshold=3.0)
    with torch.no_grad():
        layer.weight.fill_(0.5)
        # log alpha = log sigma^2 - log 0.25: just under, at and over 3
        offsets = torch.tensor([-1e-3, 0.0, 1e-3, 2.0, -5.0, 0.5]).repeat(4, 1)
        layer.log_sigma2.copy_(3.0 + math.log(0.25) + offsets)
    alpha = layer.log_alpha()
    x = torch.randn(5, 6)
    layer.eval()
    expected = F.linear(x, torch.where(alpha >= 3.0, 0.0, layer.weight), layer.bias)
    torch.testing.assert_close(layer(x), expected)
    zeroed = layer.sparse_weight() == 0
    assert torch.equal(zeroed, alpha >= 3.0) and zeroed.any() and (~zeroed).any()
    layer.train()  # negative control: training draws noise around the unmasked mean
    assert not torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias))


def test_vd_twins_trajectory_and_kl_ramp(digits, trained):
    specs, start = trained
    config = SparsifyConfig(method="vd", vd_epochs=2, kl_scale=1.0, kl_ramp=2)
    twins = variational_twins(specs[:1], {k: v[:1] for k, v in start.items()}, digits, 128, config)
    assert [v["epoch"] for v in twins.values] == [0, 1, 2]
    sparsity = [v["sparsity"] for v in twins.values]
    assert sparsity[0] < 0.01 < sparsity[2]  # the KL term drives weights to be dropped
    assert config.kl_weight(1) == 0.5 and SparsifyConfig().kl_weight(25) == pytest.approx(0.01)


def _hand_kl(weight: list[float], log_sigma2: list[float], bound: float) -> float:
    """The summed approximate KL of Molchanov et al. (their -KL fit, negated), one weight at a
    time."""
    total = 0.0
    for w, s2 in zip(weight, log_sigma2, strict=True):
        a = min(bound, max(-bound, s2 - math.log(w * w + 1e-15)))
        total -= K1 / (1 + math.exp(-(K2 + K3 * a))) - 0.5 * math.log1p(math.exp(-a)) - K1
    return total


def _hand_mean_ce(logits: list[list[float]], labels: list[int]) -> float:
    losses = [
        math.log(sum(math.exp(v) for v in row)) - row[label]
        for row, label in zip(logits, labels, strict=True)
    ]
    return sum(losses) / len(losses)


@pytest.mark.parametrize("objective", ["elbo", "twins"])
def test_vd_objective_of_a_tiny_layer_equals_a_hand_computation(objective):
    """The loss the population adds up per model (the batch's mean CE + the penalty): by default
    (``twins``, the sparsified twins' code) mean CE + ramp * KL; ``elbo`` is Molchanov et al.'s
    ELBO per example, mean CE + ramp * KL / N_train."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        VariationalLinear(torch.nn.Linear(4, 3), salt=1, init=-10.0, threshold=3.0)
    ).double()
    with torch.no_grad():
        model[0].log_sigma2.uniform_(-8.0, 4.0)  # dropout rates across the KL fit's range
    model.eval()  # the mean network: the CE by hand needs no noise draws
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0])
    params = dict(model.named_parameters())
    flat = torch.cat([p.reshape(1, -1) for p in params.values()], 1)

    def unflatten(f):
        parts = torch.split(f, [p.numel() for p in params.values()], dim=1)
        return {k: c.view(1, *p.shape) for (k, p), c in zip(params.items(), parts, strict=True)}

    config = SparsifyConfig(method="vd", kl_objective=objective)
    train_size, epoch = 1257, 7
    penalty = KLPenalty(variational_layers(model), unflatten)
    penalty.weight = config.kl_factor(epoch, train_size)
    loss = F.cross_entropy(model(x), y) + penalty(flat)[0]

    ramp = min(1.0, 0.01 * epoch / 25)  # the twins paper's KL-weight ramp
    layer = model[0]
    kl = _hand_kl(layer.weight.flatten().tolist(), layer.log_sigma2.flatten().tolist(), 10)
    ce = _hand_mean_ce(model(x).detach().tolist(), y.tolist())
    expected = ce + ramp * kl / (train_size if objective == "elbo" else 1)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    assert kl > 1.0 and ramp * kl / train_size < 0.01 * ramp * kl  # the two scales differ


@pytest.mark.parametrize("objective", ["elbo", "twins"])
def test_vd_twins_train_with_the_kl_over_the_training_set_size(
    digits, trained, monkeypatch, objective
):
    """The KL factor the population's penalty carries in every epoch: the ramped weight over
    N_train for the ELBO, the ramped weight itself for ``twins`` (the default)."""
    specs, start = trained
    chosen = {} if objective == "twins" else {"kl_objective": objective}  # twins: the default
    config = SparsifyConfig(method="vd", vd_epochs=2, kl_ramp=2, **chosen)
    seen, train_epoch = [], Population.train_epoch

    def spy(pop, epoch):
        seen.append(pop.penalty.weight)
        return train_epoch(pop, epoch)

    monkeypatch.setattr(Population, "train_epoch", spy)
    variational_twins(specs[:1], {k: v[:1] for k, v in start.items()}, digits, 128, config)
    n = len(digits.train_x) if objective == "elbo" else 1
    assert seen == pytest.approx([0.005 / n, 0.01 / n], rel=1e-12)


# --- population parity -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["magnitude", "vd"])
def test_model_sparsified_in_population_equals_model_sparsified_alone(digits, trained, method):
    specs, start = trained
    config = SparsifyConfig(method=method, sparsity=(0.5, 0.9), finetune_epochs=1, vd_epochs=1)
    run = magnitude_twins if method == "magnitude" else variational_twins
    together = run(specs, start, digits, 128, config)
    alone = run(specs[1:2], {k: v[1:2] for k, v in start.items()}, digits, 128, config)
    rows = [r for r, m in enumerate(together.member) if m == 1]
    for key, value in alone.weights.items():
        torch.testing.assert_close(together.weights[key][rows], value, atol=1e-5, rtol=1e-5)
    other = [r for r, m in enumerate(together.member) if m == 0]
    key = "features.0.weight"
    assert not torch.allclose(together.weights[key][other], alone.weights[key])


# --- twin zoos ---------------------------------------------------------------------------------
def test_twin_links_resolve_to_the_original_rows(zoo, vd_twin):
    original, rows = resolve_original(vd_twin)
    assert original.root.resolve() == zoo.root.resolve()
    np.testing.assert_array_equal(zoo.column("model_id")[rows], vd_twin.column("model_id"))
    np.testing.assert_array_equal(zoo.column("epoch")[rows], 1)
    np.testing.assert_array_equal(rows, vd_twin.column("original_row"))
    start = vd_twin.column("epoch") == 0  # before training: the original's weights, nearly all
    close = torch.isclose(vd_twin.flat(np.flatnonzero(start)), zoo.flat(rows[start]))
    assert close.float().mean() > 0.99
    assert len(vd_twin) == 4 * 3 and vd_twin.config.dataset == zoo.config.dataset
    assert vd_twin.manifest["twin"]["method"] == "vd"


def test_twin_link_refuses_another_zoo(vd_twin, tmp_path):
    other = create_zoo(tiny_config(name="other", seeds=1, lr=1e-3), tmp_path / "o", progress=False)
    with pytest.raises(ZooFormatError, match="content hash"):
        resolve_original(vd_twin, other)


def test_source_rows_and_resume_guard(zoo, tmp_path):
    rows = source_rows(zoo, SparsifyConfig(models=3))
    assert len(rows) == 3 and (zoo.column("epoch")[rows] == 1).all()
    assert (zoo.column("epoch")[source_rows(zoo, SparsifyConfig(epoch=0))] == 0).all()
    with pytest.raises(ConfigError, match="epoch"):
        source_rows(zoo, SparsifyConfig(epoch=7))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(ConfigError, match="--out"):
        sparsify_zoo(zoo, tmp_path / "full", SparsifyConfig(models=1))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"sparsity": (1.5,)}, "sparsity"),
        ({"sparsity": (0.0,)}, "sparsity"),
        ({"sparsity": (50,)}, "not percent"),
        ({"sparsity": ()}, "sparsity"),
        ({"method": "lottery"}, "method"),
        ({"scope": "row"}, "scope"),
        ({"kl_objective": "batch"}, "kl_objective"),
        ({"schedule": "gradual", "finetune_epochs": 0}, "finetune_epochs"),
    ],
)
def test_bad_settings_give_one_clear_error(changes, match):
    with pytest.raises(ConfigError, match=match):
        SparsifyConfig(**changes)


def test_a_zoo_without_a_task_is_refused(vd_twin, tmp_path):
    from weightspace.zoo.imports.writer import Checkpoint, write_zoo

    state = vd_twin.state_dict(0)
    imported = write_zoo(tmp_path / "imp", [Checkpoint(0, 0, state)], name="imp", source={})
    with pytest.raises(ConfigError, match="task"):
        zoo_task(imported)


def test_an_imported_zoo_with_a_task_is_sparsified_with_the_settings_it_lacks(tmp_path, capsys):
    """A folder import knows no optimizer, lr or batch size: the flags give them; the twins
    reach the asked sparsity and record the factors they were trained with."""
    from weightspace.cli import main
    from weightspace.zoo import open_zoo

    made = create_zoo(tiny_config(epochs=1), tmp_path / "made", progress=False)
    last = np.flatnonzero(made.column("epoch") == 1)
    src = checkpoint_folder(made, tmp_path / "ckpts", last)
    out = tmp_path / "imported"
    assert main(["zoo", "import", "--from", "folder", str(src), "--out", str(out)]) == 0
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "digits", "--arch", "cnn-s"]
    assert main([*attach, "--activation", "tanh"]) == 0
    imported = open_zoo(out)
    base = dict(method="magnitude", sparsity=(0.5,), finetune_epochs=1)
    with pytest.raises(ConfigError, match="--batch-size"):
        sparsify_zoo(imported, tmp_path / "t0", SparsifyConfig(**base))
    with pytest.raises(ConfigError, match="--optimizer"):
        sparsify_zoo(imported, tmp_path / "t1", SparsifyConfig(**base, batch_size=32))
    config = SparsifyConfig(**base, batch_size=32, optimizer="adam", lr=1e-3)
    twin = sparsify_zoo(imported, tmp_path / "twin", config)
    assert twin.num_models == imported.num_models
    np.testing.assert_allclose(twin.column("sparsity"), 0.5, atol=0.01)
    assert set(twin.column("lr")) == {1e-3} and set(twin.column("optimizer")) == {"adam"}
    assert np.isfinite(twin.column("test_acc")).all()


def test_a_users_folder_named_like_the_work_folder_is_left_alone(zoo, tmp_path):
    from weightspace.sparsify.run import WORK_SUFFIX

    work = tmp_path / ("twin" + WORK_SUFFIX)
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--out"):
        sparsify_zoo(zoo, tmp_path / "twin", SparsifyConfig(models=1))
    assert (work / "notes.txt").read_text() == "mine" and not (tmp_path / "twin").exists()
    (work / "notes.txt").unlink()  # positive control: an empty work folder is taken as ours
    assert len(sparsify_zoo(zoo, tmp_path / "twin", SparsifyConfig(models=1))) > 0
    assert not work.exists()


def test_a_reproductions_twin_is_reused_only_for_the_same_zoo_content(zoo, tmp_path):
    from weightspace.reproduce.twins import _twin
    from weightspace.sparsify.run import content_hash

    config = SparsifyConfig(method="vd", vd_epochs=1, kl_ramp=1, models=2)
    out = tmp_path / "twin"
    _twin(zoo, out, config)
    made = (out / "manifest.json").stat().st_mtime_ns
    assert _twin(zoo, out, config).manifest["twin"]["original"]["content_sha256"] == content_hash(
        zoo
    )
    assert (out / "manifest.json").stat().st_mtime_ns == made  # the same zoo: reused
    other = create_zoo(tiny_config(name="other", seeds=1, lr=1e-3), tmp_path / "o", progress=False)
    again = _twin(other, out, config)  # a retrained zoo: its twins are made again
    assert again.manifest["twin"]["original"]["content_sha256"] == content_hash(other)
    with pytest.raises(ConfigError, match="other settings"):  # settings still refused
        _twin(other, out, SparsifyConfig(method="vd", vd_epochs=2, kl_ramp=2, models=2))
