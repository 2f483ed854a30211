"""Baselines across architectures: s(W) of fixed width for any depth (and the padded "dynamic
StatNN"), WeightWatcher summaries, weight-graph encoders over several specs, and `probe_many`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weightspace.errors import ConfigError, NotFittedError
from weightspace.graphs.weight_probe import WeightGraphConfig, WeightGraphFeatures
from weightspace.probe import (
    CrossArchStatistics,
    CrossArchWeightWatcher,
    WeightWatcherFeatures,
    probe_many,
)
from weightspace.probe.across import summarize_layers
from weightspace.probe.features import QUANTILES, weight_layers
from weightspace.tokens.dataset import zoo_spec

TINY_GRAPH = WeightGraphConfig(hidden=8, layers=1, steps=1, epochs=2)


def _split(zoo, train_models: int):  # noqa: ANN001, ANN202
    """(train rows, test rows): the first ``train_models`` models, and the others."""
    ids = np.asarray(zoo.column("model_id"))
    keep = np.isin(ids, np.unique(ids)[:train_models])
    return np.flatnonzero(keep), np.flatnonzero(~keep)


def _all(zoo):  # noqa: ANN001, ANN202
    return (zoo, np.arange(len(zoo)))


def _direct(values: torch.Tensor) -> np.ndarray:
    """The 7 s(W) statistics of one tensor, computed directly."""
    v = values.detach().double().reshape(-1)
    q = torch.quantile(v, torch.tensor(QUANTILES, dtype=torch.float64))
    return torch.cat([v.mean()[None], v.var(correction=0)[None], q]).numpy()


def test_widths_agree_across_depths(pool_zoos):
    parts = [_all(pool_zoos[k]) for k in ("cnn", "mlp", "big")]
    depths = [len(weight_layers(zoo_spec(z))) for z, _ in parts]
    assert depths == [5, 2, 3]
    summary = CrossArchStatistics().fit_many(parts)
    padded = CrossArchStatistics("padded").fit_many(parts)
    for features, width in ((summary, 52), (padded, 14 * 5 + 1)):
        X = features.transform_many(parts)
        assert X.shape == (sum(len(r) for _, r in parts), width)
        assert all(features.transform_many([p]).shape[1] == width for p in parts)
    # the depth column tells the architectures apart
    assert sorted(set(summary.transform_many(parts)[:, -2].tolist())) == [2.0, 3.0, 5.0]


def test_layer_statistics_equal_a_direct_computation(pool_zoos):
    for key in ("cnn", "mlp", "big"):
        zoo = pool_zoos[key]
        rows = np.array([0, len(zoo) - 1])
        X = CrossArchStatistics().transform(zoo, rows)
        layers = weight_layers(zoo_spec(zoo))
        for i, row in enumerate(rows):
            state = zoo.state_dict(int(row))
            (w0, b0), (wl, bl) = layers[0], layers[-1]
            pooled = torch.cat([state[w].reshape(-1) for w, _ in layers])
            hidden = [state[w].reshape(-1) for w, _ in layers[1:-1]]
            expected = [_direct(state[w0]), _direct(state[b0]), _direct(state[wl])]
            expected += [_direct(state[bl]), _direct(pooled)]
            expected += [_direct(torch.cat([state[b].reshape(-1) for _, b in layers]))]
            expected += [_direct(torch.cat(hidden)) if hidden else np.zeros(7)]
            np.testing.assert_allclose(X[i, :49], np.concatenate(expected), rtol=1e-6, atol=1e-9)
            params = zoo_spec(zoo).num_params
            np.testing.assert_allclose(X[i, 49:], [len(layers) > 2, len(layers), np.log10(params)])


def test_padded_variant_has_zeros_beyond_depth_and_refuses_deeper(pool_zoos):
    cnn, mlp = pool_zoos["cnn"], pool_zoos["mlp"]
    features = CrossArchStatistics("padded").fit_many([_all(cnn), _all(mlp)])
    X = features.transform(mlp, np.arange(len(mlp)))
    assert X.shape[1] == 14 * 5 + 1
    assert np.all(X[:, 28:70] == 0.0) and np.all(X[:, -1] == 2.0)
    assert np.abs(X[:, :28]).sum(1).min() > 0  # the two layers are there
    summary = CrossArchStatistics().transform(mlp, np.arange(len(mlp)))
    np.testing.assert_allclose(X[:, :14], summary[:, :14])  # first layer: weight, bias
    np.testing.assert_allclose(X[:, 14:28], summary[:, 14:28])  # last layer
    shallow = CrossArchStatistics("padded").fit(mlp, np.arange(4))
    with pytest.raises(ConfigError, match="at most 2 weight layers"):
        shallow.transform(cnn, np.arange(2))


def test_one_zoo_fit_equals_fit_many_on_one_part(pool_zoos):
    zoo = pool_zoos["cnn"]
    rows, test = _split(zoo, 6)
    for variant in ("summary", "padded"):
        one = CrossArchStatistics(variant).fit(zoo, rows).transform(zoo, test)
        many = CrossArchStatistics(variant).fit_many([(zoo, rows)]).transform_many([(zoo, test)])
        np.testing.assert_array_equal(one, many)
    one = WeightGraphFeatures(TINY_GRAPH).fit(zoo, rows)
    many = WeightGraphFeatures(TINY_GRAPH).fit_many([(zoo, rows)])
    assert one.history_ == many.history_
    np.testing.assert_array_equal(one.transform(zoo, test), many.transform_many([(zoo, test)]))
    assert one.name == many.name == "DBGNN (weight graph, supervised)"


def test_weight_graphs_of_several_specs_pad_edges_and_train_together(pool_zoos):
    cnn, mlp = pool_zoos["cnn"], pool_zoos["mlp"]
    parts = [(cnn, _split(cnn, 6)[0]), (mlp, _split(mlp, 6)[0])]
    features = WeightGraphFeatures(TINY_GRAPH).fit_many(parts)
    assert features.edge_values_ == 9  # the CNN's 3x3 kernels; the MLP's edges carry 1 value
    X = features.transform_many([_all(cnn), _all(mlp)])
    assert X.shape == (len(cnn) + len(mlp), 8 + 3) and np.isfinite(X).all()
    flat = mlp.flat(np.arange(2)).float()
    layout = features._layout(mlp)
    plain, padded = layout.graphs(flat), features._padded(layout, flat)
    assert padded.edge_attr.shape[1] == 9 + 4
    assert torch.equal(padded.edge_attr[:, 0], plain.edge_attr[:, 0])
    assert torch.all(padded.edge_attr[:, 1:9] == 0)
    assert torch.equal(padded.edge_attr[:, 9:], plain.edge_attr[:, 1:])  # kind, direction
    tests = [(cnn, _split(cnn, 6)[1]), (mlp, _split(mlp, 6)[1])]
    out = probe_many([WeightGraphFeatures(TINY_GRAPH)], parts, tests)
    ((name, result),) = out.items()
    assert name == "DBGNN (weight graph, supervised)" and result["supervised"]
    assert result["width"] == 11 and np.isfinite(result["pred"]).all()
    only_mlp = WeightGraphFeatures(TINY_GRAPH).fit_many(parts[1:])
    with pytest.raises(ConfigError, match="at most 1 values"):
        only_mlp.transform(cnn, np.arange(2))


def test_weightwatcher_summaries(pool_zoos):
    metrics = np.array([[1.0, np.nan], [3.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(
        summarize_layers(metrics), [1, 2, 2, 1, 3, np.nan, 4, 3, 2, 4, 3], equal_nan=True
    )
    cnn, mlp = pool_zoos["cnn"], pool_zoos["mlp"]
    rows = np.arange(3)
    features = CrossArchWeightWatcher().fit_many([(cnn, rows), (mlp, rows)])
    X = features.transform_many([(cnn, rows), (mlp, rows)])
    assert X.shape == (6, 31) and np.isfinite(X).all()
    assert X[:3, -1].tolist() == [5.0] * 3 and X[3:, -1].tolist() == [2.0] * 3
    per_layer = WeightWatcherFeatures().fit(mlp, rows).transform(mlp, rows)  # layer-major
    np.testing.assert_allclose(X[3:, 0:30:5], per_layer[:, :6])  # first layer, every metric
    np.testing.assert_allclose(X[3:, 1:30:5], per_layer[:, 6:12])  # last layer
    np.testing.assert_array_equal(
        CrossArchWeightWatcher().fit(mlp, rows).transform(mlp, rows), X[3:]
    )


def _weight_variance(zoo, rows):  # noqa: ANN001, ANN202
    """A target the weights determine: the variance of all entries of the flat vector."""
    return zoo.flat(rows).double().var(1, correction=0).numpy()


def test_probe_many_reads_a_weight_property_and_not_a_shuffled_one(pool_zoos):
    zoos = [pool_zoos["cnn"], pool_zoos["mlp"]]
    splits = [_split(z, 6) for z in zoos]
    train = [(z, s[0]) for z, s in zip(zoos, splits, strict=True)]
    test = [(z, s[1]) for z, s in zip(zoos, splits, strict=True)]
    values = {
        (str(z.root), int(r)): v
        for z in zoos
        for r, v in enumerate(_weight_variance(z, np.arange(len(z))))
    }
    shuffled = dict(
        zip(values, np.random.default_rng(0).permutation(list(values.values())), strict=True)
    )

    def noise(zoo, rows):  # noqa: ANN001, ANN202 - the same values, shuffled over both zoos
        return np.array([shuffled[(str(zoo.root), int(r))] for r in rows])

    methods = [CrossArchStatistics(), CrossArchStatistics("padded")]
    real = probe_many(methods, train, test, target=_weight_variance)
    control = probe_many(methods, train, test, target=noise)
    # the pooled variance is a column of the summary; the padded layers need a combination
    # that differs between architectures, so one linear probe reads it less well
    for name, least in (("s(W) across architectures", 0.9), ("StatNN", 0.4)):
        assert real[name]["r2"] > least, real[name]["r2"]
        assert control[name]["r2"] < 0.2, control[name]["r2"]
    out = real["s(W) across architectures"]
    n = sum(len(r) for _, r in test)
    assert out["y"].shape == out["pred"].shape == out["units"].shape == (n,)
    np.testing.assert_array_equal(out["y"], real["StatNN"]["y"])  # rows pair across methods
    units = {z: set(out["units"][out["zoos"] == z]) for z in ("cnn", "mlp")}
    assert units["cnn"] and units["mlp"] and not units["cnn"] & units["mlp"]
    assert len(set(out["units"])) == 4  # two test models per zoo, each its own unit
    assert set(out["r2_by_zoo"]) == {"cnn", "mlp"} and out["unit"] == "model"
    acc = probe_many(methods[:1], train, test)  # the default target: the zoo's test accuracy
    np.testing.assert_array_equal(
        acc["s(W) across architectures"]["y"],
        np.concatenate([np.asarray(z.column("test_acc"), dtype=float)[r] for z, r in test]),
    )


def test_batchnorm_bias_free_and_imported_specs():
    from torch import nn

    from weightspace.spec import spec_from_state_dict
    from weightspace.zoo import ArchConfig, build_model, weight_spec

    resnet = weight_spec(ArchConfig("resnet18", input_shape=(3, 8, 8)))
    layers = weight_layers(resnet)
    assert len(layers) == 21  # stem, 16 block convs, 3 shortcut convs, the head
    assert all(len(resnet.by_key[w].shape) >= 2 for w, _ in layers)  # BatchNorm scales left out
    assert [b for _, b in layers[:-1]] == [None] * 20 and layers[-1][1] is not None
    net = build_model(ArchConfig("tetris-mlp", input_shape=(1, 4, 4), num_classes=4))
    spec = weight_spec(ArchConfig("tetris-mlp", input_shape=(1, 4, 4), num_classes=4))
    flat = spec.flatten(net.state_dict())
    X = CrossArchStatistics().vectors(spec, flat)
    assert X.shape == (1, 52) and np.all(X[0, 7:14] == 0) and np.all(X[0, 35:42] == 0)  # no bias
    np.testing.assert_allclose(X[0, 0:7], _direct(net.state_dict()[weight_layers(spec)[0][0]]))
    imported = nn.Sequential(
        nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)
    )
    spec = spec_from_state_dict(imported.state_dict())
    flat = spec.flatten(imported.state_dict())
    X = CrossArchStatistics().vectors(spec, flat)
    np.testing.assert_allclose(X[0, 42:49], _direct(imported[2].weight))  # the hidden layer
    np.testing.assert_allclose(X[0, 14:21], _direct(imported[4].weight))
    padded = CrossArchStatistics("padded")
    with pytest.raises(NotFittedError):
        padded.vectors(spec, flat)
