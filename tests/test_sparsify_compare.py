"""Twins against a plain per-model loop, the comparison's statistics, and the CLI end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_config
from sklearn.metrics import cohen_kappa_score

from weightspace.cli import main
from weightspace.sparsify import SparsifyConfig
from weightspace.sparsify.compare import (
    cohen_kappa,
    compare_twins,
    crossover,
    predictions,
    summary_table,
    twin_units,
)
from weightspace.sparsify.methods import magnitude_twins, variational_twins
from weightspace.sparsify.reference import magnitude_alone, variational_alone
from weightspace.zoo import ArchConfig, create_zoo, load_dataset, open_zoo
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import Population


@pytest.fixture(scope="module")
def trained(digits):
    arch = ArchConfig("cnn-s", (1, 8, 8), 10, "relu", 0.5, "uniform")  # dropout: keys must agree
    specs = [ModelSpec(i, 40 + i, arch, "sgd", 1e-2, 1e-3) for i in range(2)]
    result = Population(specs, digits, batch_size=128).train(1, checkpoint_epochs=[1])
    return specs, {k: v[:, -1] for k, v in result.weights.items()}


@pytest.mark.parametrize("method", ["magnitude", "vd"])
def test_population_matches_a_plain_per_model_loop(digits, trained, method):
    specs, start = trained
    config = SparsifyConfig(
        method=method, sparsity=(0.7,), finetune_epochs=1, vd_epochs=1, kl_scale=1.0, kl_ramp=1
    )
    if method == "magnitude":
        together = magnitude_twins(specs, start, digits, 128, config, first_epoch=1)
        alone = magnitude_alone(
            specs[1], {k: v[1] for k, v in start.items()}, 0.7, digits, 128, config, first_epoch=1
        )
        row = 1
    else:
        together = variational_twins(specs, start, digits, 128, config, first_epoch=1)
        alone = variational_alone(
            specs[1], {k: v[1] for k, v in start.items()}, digits, 128, config, first_epoch=1
        )
        row = 3  # model 1, epoch 1
    for key, value in alone.items():
        torch.testing.assert_close(together.weights[key][row], value, atol=1e-5, rtol=1e-4)
    # negative control: the other model's twin differs
    assert not torch.allclose(together.weights["features.0.weight"][0], alone["features.0.weight"])


def test_cohen_kappa_matches_scikit_learn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (5, 60))
    b = np.where(rng.random((5, 60)) < 0.6, a, rng.integers(0, 4, (5, 60)))
    expected = [cohen_kappa_score(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(cohen_kappa(a, b, 4), expected, atol=1e-12)
    assert cohen_kappa(a[:1], a[:1], 4)[0] == 1.0


def _curve(model, sparsity, acc, key=None):
    out = {"model": [model] * len(sparsity), "sparsity": list(sparsity), "test_acc": list(acc)}
    return out if key is None else {**out, "key": list(key)}


def _join(*parts):
    return {k: sum((p[k] for p in parts), []) for k in parts[0]}


def test_crossover_pairs_each_model_with_its_own_pruning_curve():
    # models 0 and 1 are good (MP flat at 0.9), 2 and 3 poor (MP flat at 0.2); VD matches MP
    # exactly on each, but only the poor models reach high sparsity under VD
    levels = (0.1, 0.5, 0.9)
    mp_points = _join(*(_curve(m, levels, [0.9 if m < 2 else 0.2] * 3) for m in range(4)))
    mp = {
        "groups": [{"sparsity_mean": x, "test_acc_mean": 0.55} for x in levels],
        "points": mp_points,
    }
    vd = {
        "points": _join(
            _curve(0, (0.3,), (0.9,), key=(25,)),
            _curve(1, (0.4,), (0.9,), key=(25,)),
            _curve(2, (0.85,), (0.2,), key=(25,)),
            _curve(3, (0.5, 0.88), (0.9, 0.2), key=(3, 25)),  # only its last epoch counts
        )
    }
    cross = crossover(mp, vd)
    assert cross["below"]["n"] == 2 and cross["above"]["n"] == 2  # one twin per model
    assert cross["below"]["vd_minus_mp"] == pytest.approx(0.0)
    assert cross["above"]["vd_minus_mp"] == pytest.approx(0.0)
    # negative control: against the population's mean curve, model quality leaks in
    assert cross["unpaired"]["below"]["vd_minus_mp"] == pytest.approx(0.9 - 0.55)
    assert cross["unpaired"]["above"]["vd_minus_mp"] == pytest.approx(0.2 - 0.55)


def test_crossover_signs_and_interval_when_one_method_is_better():
    mp = {
        "groups": [{"sparsity_mean": x, "test_acc_mean": 0.65} for x in (0.1, 0.5, 0.9)],
        "points": _join(*(_curve(m, (0.1, 0.5, 0.9), (0.85, 0.65, 0.45)) for m in range(16))),
    }
    # VD is better above 80 % on every model, worse below, by amounts that vary by model
    spread = [0.0, 0.02, -0.02, 0.01, -0.01, 0.015, -0.015, 0.0]
    vd_s = [0.3] * 8 + [0.85] * 8
    vd_a = [0.70 + d for d in spread] + [0.55 + d for d in spread]
    vd = {"points": _join(*(_curve(m, (vd_s[m],), (vd_a[m],)) for m in range(16)))}
    cross = crossover(mp, vd)
    below, above = cross["below"], cross["above"]
    assert below["vd_minus_mp"] == pytest.approx(0.70 - 0.75)
    assert above["vd_minus_mp"] == pytest.approx(0.55 - 0.475)
    assert below["low"] < below["vd_minus_mp"] < below["high"] < 0 < above["low"]
    assert below["test_units"] == above["test_units"] == 8 and cross["unit"] == "model"
    assert below["finding"] == above["finding"] == "as published"


def _crossing(below: float, above: float, units: list[str] | None = None):
    """MP flat at 0.5 for 20 models; the final VD twins of models 0-9 below 80 % sparsity, of
    10-19 above, each ``below`` / ``above`` better than its MP curve on average, with a
    model-to-model spread of +-0.05."""
    spread = [0.05, -0.05, 0.03, -0.03, 0.04, -0.04, 0.02, -0.02, 0.01, -0.01]  # mean 0
    mp = {
        "groups": [{"sparsity_mean": x, "test_acc_mean": 0.5} for x in (0.1, 0.5, 0.9)],
        "points": _join(*(_curve(m, (0.1, 0.5, 0.9), (0.5, 0.5, 0.5)) for m in range(20))),
    }
    acc = [0.5 + below + d for d in spread] + [0.5 + above + d for d in spread]
    points = _join(*(_curve(m, (0.3 if m < 10 else 0.85,), (acc[m],)) for m in range(20)))
    points["original_test_acc"] = [0.5] * 20
    vd = {"points": points}
    if units is not None:
        vd["points"]["unit"], vd["unit"] = units, "seed-init group"
    return mp, vd


def test_twins_prints_as_published_only_when_the_interval_says_so():
    from weightspace.reproduce.twins import _notes

    # the point estimates have the published signs (MP better below, VD above) but the 95 %
    # intervals over 10 models per side hold 0: not "as published"
    mp, vd = _crossing(-0.002, 0.002)
    notes = " ".join(_notes(mp, vd, crossover(mp, vd)))
    assert "as published" not in notes and notes.count("within the noise") == 2
    mp, vd = _crossing(-0.1, 0.1)  # control: both intervals exclude 0 on the paper's side
    assert " ".join(_notes(mp, vd, crossover(mp, vd))).count("as published") == 2
    mp, vd = _crossing(0.1, 0.1)  # VD better below 80 % too: the opposite of the paper
    cross = crossover(mp, vd)
    assert (cross["below"]["finding"], cross["above"]["finding"]) == (
        "not reproduced",
        "as published",
    )
    # a fixed-seed grid: 20 models but 4 seed-init groups, too few for an interval
    mp, vd = _crossing(-0.1, 0.1, units=[str(m % 4) for m in range(20)])
    cross = crossover(mp, vd)
    assert cross["below"]["test_units"] == 4 and math.isnan(cross["below"]["low"])
    assert cross["below"]["finding"] == "too few units (4)"
    assert "as published" not in " ".join(_notes(mp, vd, cross))


class _Table:
    def __init__(self, columns: dict) -> None:
        self.columns = {k: np.asarray(v) for k, v in columns.items()}
        self.table = type("T", (), {"column_names": list(columns)})()

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]


def test_units_are_models_with_own_seeds_and_seed_init_groups_in_a_grid():
    own = _Table({"model_id": [0, 1, 2, 3], "seed": [5, 6, 7, 8], "init": ["u"] * 4})
    keys, unit = twin_units(own, np.array([0, 1, 1, 3]))
    assert unit == "model" and keys.tolist() == ["0", "1", "1", "3"]
    grid = _Table({"model_id": [0, 1, 2, 3], "seed": [5, 5, 6, 6], "init": ["u"] * 4})
    keys, unit = twin_units(grid, np.arange(4))
    assert unit == "seed-init group" and len(set(keys)) == 2 and keys[0] == keys[1]
    inits = _Table({"model_id": [0, 1, 2, 3], "seed": [5, 5, 6, 6], "init": ["u", "k"] * 2})
    assert twin_units(inits, np.arange(4))[1] == "model"  # no two models start alike


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    config = tiny_config(epochs=1, batch_size=128, seeds=3)
    return create_zoo(config, tmp_path_factory.mktemp("cmp") / "zoo", progress=False)


def test_cli_sparsify_and_compare_end_to_end(zoo, tmp_path, capsys):
    twin = tmp_path / "twin"
    args = [
        "zoo",
        "sparsify",
        "--zoo",
        str(zoo.root),
        "--out",
        str(twin),
        "--method",
        "magnitude",
        "--sparsity",
        "0.5",
        "0.9",
        "--finetune-epochs",
        "1",
        "--scope",
        "layer",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "target_sparsity 0.9" in captured.out
    assert "sparsify: 100%" in captured.err and "6/6" in captured.err  # the progress bar
    quiet = tmp_path / "quiet"
    assert main([*args[:-1], "global", "--out", str(quiet), "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # --quiet: no bar
    twin_zoo = open_zoo(twin)
    assert len(twin_zoo) == 6 * 2 and twin_zoo.manifest["twin"]["config"]["scope"] == "layer"
    assert not (tmp_path / "twin.sparsifying").exists()
    assert main(["zoo", "info", "--zoo", str(twin)]) == 0  # an ordinary zoo for the other commands
    out = tmp_path / "cmp"
    assert (
        main(["zoo", "compare", "--zoo", str(zoo.root), "--twin", str(twin), "--out", str(out)])
        == 0
    )
    result = json.loads((out / "comparison.json").read_text())
    assert [g["key"] for g in result["groups"]] == [0.5, 0.9]
    assert all(
        (out / n).stat().st_size > 1000
        for n in ("accuracy_vs_sparsity.png", "original_vs_twin.png", "twins.html")
    )
    # the vectorized predictions equal each network's own, and agreement is their match rate
    x = load_dataset(zoo.config.dataset).test_x
    agreement = []
    for r in np.flatnonzero(twin_zoo.column("target_sparsity") == 0.5):
        mine = twin_zoo.model(int(r))(x).argmax(1).numpy()
        theirs = zoo.model(int(twin_zoo.column("original_row")[r]))(x).argmax(1).numpy()
        assert np.array_equal(predictions(twin_zoo, np.array([r]), x)[0], mine)
        agreement.append((mine == theirs).mean())
    assert result["groups"][0]["agreement_mean"] == pytest.approx(np.mean(agreement))
    refused = main(
        ["zoo", "compare", "--zoo", str(zoo.root), "--twin", str(twin), "--out", str(out)]
    )
    assert refused == 2  # earlier results are not overwritten by surprise


def test_cli_rejects_bad_input_with_exit_2(zoo, tmp_path, capsys):
    base = ["zoo", "sparsify", "--zoo", str(zoo.root), "--out", str(tmp_path / "t")]
    assert main([*base, "--sparsity", "1.2"]) == 2
    assert "sparsity" in capsys.readouterr().err
    assert main([*base, "--method", "lottery"]) == 2
    assert "lottery" in capsys.readouterr().err
    assert (
        main(["zoo", "sparsify", "--zoo", str(tmp_path / "missing"), "--out", str(tmp_path / "u")])
        == 2
    )
    assert (
        main(["zoo", "compare", "--zoo", str(zoo.root), "--twin", str(zoo.root)]) == 2
    )  # not a twin


def test_compare_statistics_from_a_vd_twin(zoo, tmp_path):
    from weightspace.sparsify import sparsify_zoo

    twin = sparsify_zoo(zoo, tmp_path / "vd", SparsifyConfig(method="vd", vd_epochs=1))
    result = compare_twins(zoo, twin)
    first = result["groups"][0]  # epoch 0: the originals themselves, nearly
    assert first["agreement_mean"] > 0.95 and first["kappa_mean"] > 0.9
    assert first["pearson"] > 0.9
    assert len(first["layer_sparsity"]) == len(result["layers"]) == 5
    # 3 seeds x 2 learning rates, one init: 3 groups of siblings, too few for an interval
    assert result["unit"] == "seed-init group" and first["test_units"] == 3
    assert first["loss"]["low"] is None and first["loss"]["test_units"] == 3
    table = summary_table([result])
    assert "| test_units | unit |" in table and "| 3 | seed-init group |" in table


@pytest.mark.slow
def test_reproduce_twins_quick_runs_end_to_end(tmp_path):
    from weightspace.reproduce.twins import reproduce_twins

    result = reproduce_twins(tmp_path, quick=True, log=lambda _: None)
    assert len(result.rows) == 9 and "| vd |" in result.tables[0]
    assert (tmp_path / "twins.html").stat().st_size > 10_000
    vd_sparsity = result.rows[0].ours
    assert 0.0 < vd_sparsity < 1.0


def test_a_study_never_reuses_twins_made_with_other_settings(zoo, tmp_path):
    from weightspace.errors import ConfigError
    from weightspace.reproduce.twins import _twin
    from weightspace.sparsify import SparsifyConfig

    made = SparsifyConfig(sparsity=(0.5,), finetune_epochs=1)
    first = _twin(zoo, tmp_path / "twin", made)
    assert _twin(zoo, tmp_path / "twin", made).root == first.root  # same settings: reused
    with pytest.raises(ConfigError, match="other settings"):
        _twin(zoo, tmp_path / "twin", SparsifyConfig(sparsity=(0.5,), finetune_epochs=2))
