"""Weight graphs: layout, permutation invariance of the encoder, the probe-table predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config
from torch import nn

from weightspace.errors import ConfigError, NotFittedError
from weightspace.graphs import DBGNN, MPNN, DBGNNConfig
from weightspace.graphs.weight_graph import weight_graph_layout
from weightspace.graphs.weight_probe import WeightGraphConfig, WeightGraphFeatures
from weightspace.spec import permute, random_permutations, spec_from_module
from weightspace.zoo import create_zoo
from weightspace.zoo.architectures import ArchConfig, weight_spec


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # small graphs: a second thread only contends (see test_graphs.py)


class Residual(nn.Module):
    """conv -> BN -> relu -> conv -> BN, added to its input; pool; linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1)
        self.conv1, self.bn1 = nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.conv2, self.bn2 = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = h + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(h)))))
        return self.head(torch.flatten(torch.relu(h), 1))


SPECS = {
    "cnn-s": lambda: weight_spec(ArchConfig("cnn-s")),
    "mlp": lambda: weight_spec(ArchConfig("mlp", hidden=(6, 5))),
    "residual": lambda: spec_from_module(Residual(), (2, 4, 4)),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_weight_lands_once_in_the_graph(name):
    spec = SPECS[name]()
    layout = weight_graph_layout(spec)
    used = torch.cat([layout.edge_gather.flatten(), layout.node_gather.flatten()])
    used = used[used >= 0]
    assert len(used) == spec.num_params and len(used.unique()) == spec.num_params


def test_cnn_layout_by_hand():
    spec = weight_spec(ArchConfig("cnn-s"))  # (1, 8, 8): convs 1->8->6->4 (3x3, 3x3, 1x1)
    layout = weight_graph_layout(spec)
    assert layout.num_nodes == 1 + 8 + 6 + 4 + 20 + 10
    flat = torch.arange(spec.num_params, dtype=torch.float32).unsqueeze(0)
    state = spec.unflatten(flat[0])
    graph = layout.graphs(flat)
    first = layout.node_sets
    # the edge of conv 2 from channel 3 of group 0 to channel 5 of group 1 holds its 3x3 kernel
    src, dst = first["group0"][0] + 3, first["group1"][0] + 5
    m = layout.edge_index.shape[1]
    hit = ((graph.edge_index[0, :m] == src) & (graph.edge_index[1, :m] == dst)).nonzero().item()
    np.testing.assert_array_equal(
        graph.edge_attr[hit, :9], state["features.4.weight"][5, 3].flatten()
    )
    # the first linear reads conv channel 2's block of 2x2 positions
    src, dst = first["group2"][0] + 2, first["group3"][0] + 7
    hit = ((graph.edge_index[0, :m] == src) & (graph.edge_index[1, :m] == dst)).nonzero().item()
    np.testing.assert_array_equal(graph.edge_attr[hit, :4], state["classifier.1.weight"][7, 8:12])
    assert (graph.edge_attr[hit, 4:9] == 0).all()  # padding
    # node features: bias of conv 1 channel 4 on its node
    assert graph.x[first["group0"][0] + 4, 0] == state["features.0.bias"][4]


def test_residual_stream_shares_nodes_and_batchnorm_lands_on_channels():
    spec = spec_from_module(Residual(), (2, 4, 4))
    layout = weight_graph_layout(spec)
    flat = torch.randn(1, spec.num_params)
    state = spec.unflatten(flat[0])
    graph = layout.graphs(flat)
    stream = spec.by_key["stem.weight"].out_group
    assert spec.by_key["conv2.weight"].out_group == stream  # the addition ties the groups
    node = layout.node_sets[f"group{stream}"][0] + 1
    assert graph.x[node, 0] == pytest.approx(
        float(state["stem.bias"][1] + state["conv2.bias"][1]) / 2
    )
    assert graph.x[node, 1] == state["bn2.weight"][1]  # bn_weight slot
    assert graph.x[node, 4] == state["bn2.running_var"][1]


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("kind", [DBGNN, MPNN])
def test_encoder_is_invariant_to_weight_permutations(name, kind):
    spec = SPECS[name]()
    layout = weight_graph_layout(spec)
    torch.manual_seed(0)
    flat = torch.randn(3, spec.num_params)
    permuted = permute(spec, flat, random_permutations(spec, 3, torch.Generator().manual_seed(1)))
    assert not torch.allclose(flat, permuted)
    config = DBGNNConfig(
        node_in=layout.node_dim,
        edge_in=layout.edge_dim,
        out=2,
        layers=2,
        steps=3,
        delta=0.3,
        activation="leaky_relu",
        readout="graph",
    )
    model = kind(config).eval()
    with torch.no_grad():
        before, after = model(layout.graphs(flat)), model(layout.graphs(permuted))
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)
    # control: permuting only one layer's rows (not a symmetry) changes the prediction
    broken = flat.clone()
    key = spec.tensors[0].key
    start, rows = spec.offsets[key], spec.tensors[0].shape[0]
    block = broken[:, start : start + spec.tensors[0].numel].view(3, rows, -1)
    block[:] = block.roll(1, dims=1).clone()
    with torch.no_grad():
        changed = model(layout.graphs(broken))
    assert (changed - before).abs().max() > 1e-4


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    config = tiny_config(seeds=10, epochs=3, lr=3e-3)
    return create_zoo(config.with_changes(shard_size=10), path, progress=False)  # 10 models


def test_weight_graph_predictor_learns_the_epoch(zoo):
    rows = np.flatnonzero(np.isin(zoo.column("model_id"), np.arange(7)))
    test = np.flatnonzero(~np.isin(zoo.column("model_id"), np.arange(7)))
    config = WeightGraphConfig(
        hidden=16, layers=2, steps=3, epochs=40, batch_size=8, lr=3e-3, targets=("epoch",)
    )
    features = WeightGraphFeatures(config).fit(zoo, rows)
    with pytest.raises(NotFittedError):
        WeightGraphFeatures(config).transform(zoo, rows)
    out = features.transform(zoo, test)
    assert out.shape == (len(test), 16 + 1)
    truth = zoo.column("epoch")[test]
    predicted = features.predict(zoo, test)[:, 0]
    r2 = 1 - ((predicted - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    assert r2 > 0.5, r2  # the epoch (0..3) changes the weights a lot; chance is R^2 <= 0


def test_predictor_rejects_unknown_columns_and_models(zoo):
    with pytest.raises(ConfigError, match="model"):
        WeightGraphConfig(model="transformer")
    with pytest.raises(ConfigError, match="targets"):
        WeightGraphFeatures(WeightGraphConfig(targets=("nope",))).fit(zoo, np.arange(len(zoo)))


def test_cli_graphs_probe_adds_rows_to_the_probe_table(zoo, tmp_path, capsys):
    from weightspace.cli import main

    out = tmp_path / "scores.json"
    args = ["graphs", "probe", "--zoo", str(zoo.root), "--out", str(out), "--hidden", "8",
            "--layers", "1", "--steps", "2", "--epochs", "3"]  # fmt: skip
    assert main(args) == 0
    import json

    scores = json.loads(out.read_text())
    scores = scores.get("scores", scores)  # the report's JSON: the scores by method
    supervised = {"DBGNN (weight graph, supervised)", "MPNN (weight graph, supervised)"}
    assert {"W", "s(W)"} | supervised <= set(scores)
    text = capsys.readouterr().out
    assert "| DBGNN (weight graph, supervised) ‡ |" in text and "‡ supervised" in text
    assert "| s(W) |" in text  # a baseline is not marked
    assert main(args) == 2  # --out exists
    assert main([*args[:-1], "0", "--overwrite"]) == 2  # zero epochs


def test_inner_hold_out_keeps_siblings_together(tmp_path):
    from weightspace.graphs.weight_probe import _hold_out_groups

    config = tiny_config(seeds=4, epochs=1, lr=[1e-3, 3e-3], shard_size=8)
    siblings = create_zoo(config, tmp_path / "grid", progress=False)  # 4 groups of 2 models
    rows = np.arange(len(siblings))
    for seed in range(4):
        kept, held = _hold_out_groups(siblings, rows, 0.25, seed)
        assert len(held) and len(kept) and not set(kept) & set(held)
        seeds = siblings.column("seed")
        assert not set(seeds[kept]) & set(seeds[held])  # no sibling on both sides
    # negative control: holding out models one by one puts some sibling on both sides
    rng = np.random.default_rng(0)
    ids = siblings.column("model_id")
    straddles = []
    for _ in range(8):
        held_ids = rng.permutation(np.unique(ids))[:2]
        held_mask = np.isin(ids, held_ids)
        straddles.append(bool(set(seeds[held_mask]) & set(seeds[~held_mask])))
    assert any(straddles)
