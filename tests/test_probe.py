"""Probes and baselines: estimator contracts, recovery of known relations, leak-free splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_config
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from weightspace.cli import main
from weightspace.encoders import SANE
from weightspace.probe.features import (
    EncoderFeatures,
    FlatWeights,
    WeightStatistics,
    WeightWatcherFeatures,
)
from weightspace.probe.probes import LogisticProbe, RidgeProbe
from weightspace.probe.run import run_probes, zoo_targets
from weightspace.tokens.dataset import zoo_spec
from weightspace.train.trainer import TrainConfig
from weightspace.zoo import create_zoo, open_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo")
    config = tiny_config(seeds=5, epochs=3, lr=[1e-3, 1e-2], activation=["tanh", "relu"])
    create_zoo(config.with_changes(shard_size=10), path, progress=False)  # 20 models
    return open_zoo(path)


@parametrize_with_checks([RidgeProbe(), LogisticProbe()])
def test_probes_are_scikit_learn_estimators(estimator, check):
    check(estimator)


def test_ridge_probe_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = X @ rng.normal(size=20) + 0.01 * rng.normal(size=300)
    probe = RidgeProbe().fit(X[:200], y[:200], X[200:250], y[200:250])
    assert probe.score(X[250:], y[250:]) > 0.99
    assert probe.alpha_ in probe.alphas
    # and it plugs into scikit-learn's tools
    scores = cross_val_score(make_pipeline(FunctionTransformer(), RidgeProbe()), X, y, cv=3)
    assert scores.min() > 0.99


def test_logistic_probe_separates_classes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, "relu", "tanh")
    probe = LogisticProbe().fit(X[:150], y[:150])
    assert probe.score(X[150:], y[150:]) > 0.95
    assert set(probe.classes_) == {"relu", "tanh"}


def test_weight_statistics_per_tensor(zoo):
    X = WeightStatistics().fit(zoo, [0]).transform(zoo, [0, 1])
    spec = zoo_spec(zoo)
    assert X.shape == (2, 7 * len(spec.tensors))
    w = spec.unflatten(zoo.flat([1])[0].double())["features.4.weight"].flatten()
    first = [t.key for t in spec.tensors].index("features.4.weight") * 7
    expected = [
        w.mean(),
        w.var(correction=0),
        *torch.quantile(w, torch.tensor([0.01, 0.25, 0.5, 0.75, 0.99], dtype=torch.float64)),
    ]
    np.testing.assert_allclose(X[1, first : first + 7], np.array(expected), rtol=1e-6)


def test_targets_follow_what_varies(zoo):
    names = {t.key: t.categorical for t in zoo_targets(zoo)}
    assert names == {
        "test_acc": False,
        "test_acc_tau": False,
        "epoch": False,
        "ggap": False,
        "lr": False,
        "activation": True,
    }


def test_probe_table_is_leak_free_and_complete(zoo):
    encoder = SANE("tiny", train=TrainConfig(epochs=2, batch_size=8, progress=False)).fit(zoo)
    report = run_probes(zoo, [FlatWeights(), WeightStatistics(), EncoderFeatures(encoder)])
    assert set(report.scores) == {"W", "s(W)", "SANE"}
    train, val, test = (set(report.models[s]) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)  # no model in two splits
    assert len(train | val | test) == zoo.num_models
    for row in report.scores.values():
        assert set(row) == {"test_acc", "test_acc_tau", "epoch", "ggap", "lr", "activation"}
        assert 0.0 <= row["activation"] <= 1.0
    assert json.loads(report.to_json())["scores"] == report.scores
    assert report.markdown().splitlines()[0].startswith("| method | test_acc (R²)")


def test_weightwatcher_features(zoo):
    pytest.importorskip("weightwatcher")
    features = WeightWatcherFeatures().fit(zoo, np.arange(4))
    X = features.transform(zoo, np.arange(6))
    assert X.shape[0] == 6 and X.shape[1] % 6 == 0 and np.isfinite(X).all()


def test_cli_probe_writes_json_csv_and_plot(zoo, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["probe", "--zoo", str(zoo.root), "--out", str(out)]) == 0
    assert "| s(W) |" in capsys.readouterr().out
    (report,) = json.loads((out / "probes.json").read_text())  # one report per split
    scores = report["scores"]
    assert set(scores) == {"W", "s(W)"} and "test_acc" in scores["W"]
    assert (out / "predicted.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "probes.csv").read_text().startswith("method,target,score,low,high")
    # again: refused (the files exist) unless --overwrite; the old per-file flags still work
    assert main(["probe", "--zoo", str(zoo.root), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    old = tmp_path / "scores.json"
    assert main(["probe", "--zoo", str(zoo.root), "--json", str(old)]) == 0
    assert json.loads(old.read_text())[0]["scores"] == scores
    assert "note: --json FILE is the old spelling" in capsys.readouterr().err
