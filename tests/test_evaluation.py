"""Evaluation you can trust: grouped splits, the encoder's own split, bootstrap intervals,
Kendall's tau, log-scale targets."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import tiny_config

from weightspace.cli import main
from weightspace.encoders import SANE, load_encoder
from weightspace.errors import ConfigError
from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
from weightspace.probe.run import probe_splits, run_probes, zoo_targets
from weightspace.stats import (
    bootstrap_scores,
    interval,
    paired_difference,
    r2,
    tau,
    unit_resamples,
)
from weightspace.tokens.splits import (
    PLAIN,
    Split,
    SplitConfig,
    resolve_split,
    siblings_across,
    split_models,
)
from weightspace.train.trainer import TrainConfig
from weightspace.zoo import create_zoo, open_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A fixed-seed grid: 4 seeds x 2 inits x 2 learning rates (a decade apart) = 16 models,
    8 sibling groups (same seed and init: identical initial weights and data order)."""
    path = tmp_path_factory.mktemp("zoo")
    config = tiny_config(
        seeds=4, epochs=2, lr=[1e-3, 1e-2], init=["uniform", "kaiming_normal"], shard_size=16
    )
    create_zoo(config, path, progress=False)
    return open_zoo(path)


def test_grouped_split_keeps_siblings_together_the_plain_split_leaks(zoo):
    grouped = resolve_split(zoo, SplitConfig())
    assert grouped.grouped_by == ("seed", "init")
    assert siblings_across(zoo, grouped) == []
    for part in ("val", "test"):  # and no group straddles any two parts
        assert not _groups(zoo, grouped.models[part]) & _groups(zoo, grouped.models["train"])
    # negative control: some plain split of this grid puts siblings on both sides
    leaky = [resolve_split(zoo, SplitConfig(seed=s, group_by=())) for s in range(5)]
    assert any(siblings_across(zoo, s) for s in leaky)
    everything = set().union(*(set(v) for v in grouped.models.values()))
    assert everything == set(zoo.column("model_id").tolist())


def _groups(zoo, models) -> set:
    columns = zip(zoo.column("model_id"), zoo.column("seed"), zoo.column("init"), strict=True)
    return {(int(s), str(i)) for m, s, i in columns if m in models}


def test_plain_split_is_the_split_by_model_id():
    ids = np.repeat(np.arange(20), 3)
    parts = split_models(ids, PLAIN)
    assert sorted(len(p) for p in parts.values()) == [3, 3, 14]
    groups = np.repeat(np.arange(20) // 2, 3)  # pairs of models
    paired = split_models(ids, SplitConfig(), groups)
    for part in paired.values():
        assert all((m ^ 1) in part for m in part)  # each model's partner on the same side


def test_too_few_groups_fall_back_to_plain_and_say_so(tmp_path):
    zoo = SimpleNamespace(
        name="two-seeds",
        column=lambda c: {"model_id": np.arange(8), "seed": np.arange(8) % 2}[c],
        table=SimpleNamespace(column_names=["model_id", "seed"]),
    )
    with pytest.warns(UserWarning, match="too few"):
        split = resolve_split(zoo, SplitConfig(group_by=("seed",)))
    assert split.grouped_by == () and split.kind == "plain"
    assert Split.from_dict(split.to_dict()) == split


def _fake_encoder(zoo, split: Split):
    """Enough of a fitted encoder for the probe: its split and embeddings (the flat weights)."""
    return SimpleNamespace(
        split_=split,
        train_config_=TrainConfig(splits=split.config),
        transform=lambda z, rows, pooling=None: WeightStatistics().transform(z, rows),
    )


def test_probing_an_encoder_on_another_split_is_an_error(zoo):
    own = resolve_split(zoo, SplitConfig(seed=0))
    features = EncoderFeatures(_fake_encoder(zoo, own), "enc")
    report = run_probes(zoo, [features, WeightStatistics()], bootstrap=0, repeats=2, epochs=[2])
    assert "one split (fitted)" in report.repeats_markdown()  # a fitted encoder has one split
    assert report.repeats["s(W)"]["test_acc"][2] == 2
    assert report.models["test"] == list(own.models["test"])
    other = SplitConfig(seed=3)
    assert resolve_split(zoo, other).models != own.models
    with pytest.raises(ConfigError, match="split"):
        run_probes(zoo, [features], other, bootstrap=0, epochs=[2])
    with pytest.raises(ConfigError, match="--split"):  # among several splits, none is its own
        probe_splits(zoo, [WeightStatistics(), features], [other, PLAIN], bootstrap=0)


def test_a_fitted_encoder_keeps_its_split_and_probes_only_there(zoo, tmp_path):
    train = TrainConfig(epochs=1, batch_size=8, progress=False, splits=SplitConfig(seed=2))
    encoder = SANE("tiny", train=train).fit(zoo)
    encoder.save(tmp_path / "enc")
    loaded = load_encoder(tmp_path / "enc")
    assert loaded.split_ == encoder.split_ == resolve_split(zoo, SplitConfig(seed=2))
    train_models = set(loaded.split_.models["train"])
    report = run_probes(zoo, [EncoderFeatures(loaded, "SANE")], bootstrap=0, epochs=[2])
    assert not train_models & set(report.models["test"])
    with pytest.raises(ConfigError, match="split"):  # test models it was trained on
        run_probes(zoo, [EncoderFeatures(loaded, "SANE")], SplitConfig(seed=0), bootstrap=0)


def test_targets_tau_and_log_scale(zoo):
    targets = {t.key: t for t in zoo_targets(zoo)}
    assert targets["test_acc_tau"].metric == "tau" and targets["test_acc"].metric == "r2"
    assert targets["lr"].log  # 1e-3 and 1e-2: log-spaced
    assert targets["init"].categorical and not targets["init"].log
    methods = [FlatWeights(), WeightStatistics()]
    # the plain split's unit is the model: 2 test models, intervals allowed from 2 units here
    report = run_probes(zoo, methods, PLAIN, bootstrap=200, epochs=[2], min_units=2)
    assert report.split["unit"] == "model" and report.split["test_units"] == 2
    for method in ("W", "s(W)"):
        low, high = report.intervals[method]["test_acc"]
        assert low <= report.scores[method]["test_acc"] <= high
    md = report.markdown()
    assert "lr (log, R²)" in md and "test_acc (τ)" in md and "[" in md
    assert "over the 2 independent test models" in md
    assert "sibling pairs" in report.title()


def test_grouped_split_intervals_resample_groups_and_need_enough_of_them(zoo):
    """On a grouped split the unit is the group of siblings: with fewer groups than the
    minimum, the table gives their count and no interval (the default minimum is 8)."""
    report = run_probes(zoo, [WeightStatistics()], bootstrap=100, epochs=[2])
    test_models = report.models["test"]
    groups = _groups(zoo, test_models)
    assert report.split["unit"] == "group" and report.split["test_units"] == len(groups)
    assert len(groups) < len(test_models)  # two learning rates per group: units != models
    assert report.intervals == {} and not report.beaten("s(W)", "test_acc")
    md = report.markdown()
    assert f"no intervals: {len(groups)} independent test groups" in md
    assert f"in {len(groups)} independent groups" in report.title()
    assert json.loads(report.to_json())["split"]["test_units"] == len(groups)


def test_unit_resamples_draw_whole_units():
    units = np.array(["a", "a", "a", "b", "c", "c"])
    sizes = {"a": 3, "b": 1, "c": 2}
    for rows in unit_resamples(units, 50, seed=0):
        drawn = units[rows]
        assert len(rows) >= 3  # three units drawn, each with all its rows
        for key, size in sizes.items():
            assert (drawn == key).sum() % size == 0
    # negative control: drawing rows one by one (the old per-row bootstrap) splits units
    rng = np.random.default_rng(0)
    rowwise = [units[rng.integers(len(units), size=len(units))] for _ in range(50)]
    assert any((d == "a").sum() % 3 for d in rowwise)


def test_probe_refuses_a_test_split_of_one_model(zoo):
    """One test model's checkpoints give R² over epochs (-1e15 once): refused, with counts."""
    one = SplitConfig(fractions=(14, 1, 1), group_by=())
    split = resolve_split(zoo, one)
    assert len(split.models["test"]) == 1
    with pytest.raises(ConfigError, match=r"enough models.*'test': 1"):
        run_probes(zoo, [WeightStatistics()], split, bootstrap=0, epochs=[2])


def test_bootstrap_interval_narrows_with_more_models_and_pairs_methods():
    rng = np.random.default_rng(0)

    def scores(n_models: int, noise_a: float, noise_b: float):
        ids = np.repeat(np.arange(n_models), 4)
        y = rng.normal(size=len(ids))
        a, b = y + noise_a * rng.normal(size=len(ids)), y + noise_b * rng.normal(size=len(ids))
        draws = unit_resamples(ids, 400, seed=1)
        return bootstrap_scores("r2", y, a, draws), bootstrap_scores("r2", y, b, draws), y, a

    small_a, small_b, y, a = scores(10, 0.5, 0.5)
    big_a, big_b, _, _ = scores(200, 0.5, 0.5)
    width = lambda v: np.subtract(*interval(v)[::-1])  # noqa: E731
    assert width(big_a) < width(small_a) / 2
    low, high = interval(small_a)
    assert low < r2(y, a) < high
    # a real difference is outside the noise, a null difference is not (negative control)
    better, worse, _, _ = scores(200, 0.2, 0.8)
    assert paired_difference(better, worse)[1] > 0
    _, lo, hi = paired_difference(big_a, big_b)
    assert lo < 0 < hi
    assert tau(np.arange(10.0), np.arange(10.0) ** 3) == pytest.approx(1.0)


def test_cli_probe_grouped_and_plain_side_by_side(zoo, tmp_path, capsys):
    out = tmp_path / "p.json"
    argv = ["probe", "--zoo", str(zoo.root), "--split", "grouped", "plain", "--bootstrap", "50"]
    assert main([*argv, "--json", str(out), "--zoo-epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "split grouped by seed, init" in text and "split plain" in text
    reports = json.loads(out.read_text())
    assert [r["split"]["kind"] for r in reports] == ["grouped by seed, init", "plain"]
    assert reports[0]["split"]["siblings"] == 0
    assert set(reports[0]["scores"]) == {"W", "s(W)"}
    assert main(["probe", "--zoo", str(tmp_path / "missing")]) == 2


def test_no_warning_for_a_zoo_with_enough_groups(zoo):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_split(zoo, SplitConfig())


def test_fit_warns_when_the_split_leaves_nothing_to_probe(tmp_path):
    zoo = open_zoo(create_zoo(tiny_config(seeds=1), tmp_path / "two", progress=False).root)
    train = TrainConfig(epochs=1, batch_size=8, progress=False)
    with pytest.warns(UserWarning, match="too few to validate or probe"):
        SANE("tiny", train=train).fit(zoo)


def test_sampling_refuses_a_training_split_of_one_model(zoo):
    from weightspace.generate.run import anchor_rows

    ids = sorted(set(zoo.column("model_id").tolist()))
    one = Split(PLAIN, zoo.name, {"train": (ids[0],), "val": (ids[1],), "test": tuple(ids[2:])}, ())
    with pytest.raises(ConfigError, match=r"to draw anchors from.*'train': 1"):
        anchor_rows(zoo, _fake_encoder(zoo, one), 0.3)
    two = Split(PLAIN, zoo.name, {"train": tuple(ids[:2]), "val": (ids[2],), "test": ()}, ())
    assert len(anchor_rows(zoo, _fake_encoder(zoo, two), 0.3)) >= 2  # control: two suffice
