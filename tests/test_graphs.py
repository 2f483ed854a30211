"""DBGNN layer and model: dense parity, equivariance, PyG batches, diagnostics, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from weightspace.errors import ConfigError
from weightspace.graphs import (
    DBGNN,
    GCN,
    MPNN,
    DBGNNConfig,
    DiracBianconiStep,
    Graph,
    collate,
    dirichlet_energy,
    path_graph,
    ring_graph,
)
from weightspace.graphs.diagnostics import arrival_step, impulse_response


@pytest.fixture(autouse=True)
def _one_thread():
    """On the shared 2-core machine two threads per process spin against each other (measured:
    a DBGNN step 17x slower); these small graphs gain nothing from a second thread."""
    torch.set_num_threads(1)


def random_graph(n: int, m: int, seed: int, d_node: int = 3, d_edge: int = 2) -> Graph:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, m), generator=g)
    return Graph(
        torch.randn(n, d_node, generator=g), edge_index, torch.randn(m, d_edge, generator=g)
    )


def incidence(edge_index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed incidence B (n, m): +1 at the target, -1 at the source; and its target part."""
    m = edge_index.shape[1]
    signed, into = torch.zeros(n, m), torch.zeros(n, m)
    for l, (s, t) in enumerate(edge_index.T.tolist()):
        signed[t, l] += 1.0
        signed[s, l] -= 1.0
        into[t, l] = 1.0
    return signed, into


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_step_equals_dense_incidence_form(seed, activation):
    n, m = 7, 15
    config = DBGNNConfig(hidden_node=5, hidden_edge=4, delta=0.3, activation=activation)
    torch.manual_seed(seed)
    step = DiracBianconiStep(config)
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, m), generator=g)
    x, e = torch.randn(n, 5, generator=g), torch.randn(m, 4, generator=g)
    signed, into = incidence(edge_index, n)
    act = torch.relu if activation == "relu" else (lambda v: v)
    e_ref = act(e + signed.T @ x @ step.w_en + e @ step.beta_e.T)  # B^T x: x_t - x_s
    x_ref = act(x + into @ e @ step.w_ne + x @ step.beta_n.T)
    x_new, e_new = step(x, e, edge_index)
    torch.testing.assert_close(e_new, e_ref)
    torch.testing.assert_close(x_new, x_ref)


def test_antisymmetric_edge_states_give_the_dirac_operator():
    """Both directions with states (e, -e): the node update is B e, the edge update B^T x."""
    n = 6
    lines = torch.tensor([[0, 1, 2, 3, 0, 4], [1, 2, 3, 4, 5, 5]])
    both = torch.cat([lines, lines.flip(0)], 1)
    config = DBGNNConfig(hidden_node=3, hidden_edge=3, delta=0.2)
    torch.manual_seed(1)
    step = DiracBianconiStep(config)
    x, e = torch.randn(n, 3), torch.randn(lines.shape[1], 3)
    x_new, e_new = step(x, torch.cat([e, -e]), both)
    signed, _ = incidence(lines, n)
    torch.testing.assert_close(x_new, x + signed @ e @ step.w_ne + x @ step.beta_n.T)
    forward = e + signed.T @ x @ step.w_en + e @ step.beta_e.T
    torch.testing.assert_close(e_new, torch.cat([forward, -forward]))  # stays antisymmetric


def test_node_update_is_the_unsigned_incoming_sum_by_a_loop():
    """The node update adds the states of the edges INTO each node, unsigned, as the authors'
    released code does (parity with a plain loop); with the same state on both directions of a
    line (as the grid inputs start) that is not the signed Dirac block B E (negative control)."""
    n = 5
    lines = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 4, 4]])
    both = torch.cat([lines, lines.flip(0)], 1)
    config = DBGNNConfig(hidden_node=3, hidden_edge=2, delta=0.3)
    torch.manual_seed(2)
    step = DiracBianconiStep(config)
    x, half = torch.randn(n, 3), torch.randn(lines.shape[1], 2)
    e = torch.cat([half, half])  # both directions of a line hold the same state
    x_new, _ = step(x, e, both)
    incoming = [torch.zeros(2) for _ in range(n)]
    for l, (_, t) in enumerate(both.T.tolist()):
        incoming[t] = incoming[t] + e[l]  # unsigned; edges leaving t do not count
    loop = torch.stack([x[i] + incoming[i] @ step.w_ne + x[i] @ step.beta_n.T for i in range(n)])
    torch.testing.assert_close(x_new, loop)
    signed, _ = incidence(lines, n)
    dirac = x + signed @ half @ step.w_ne + x @ step.beta_n.T
    assert (x_new - dirac).abs().max() > 1e-2


def test_init_follows_the_published_scales():
    step = DiracBianconiStep(DBGNNConfig(hidden_node=64, hidden_edge=64, delta=0.01))
    torch.testing.assert_close(step.beta_e, 0.01 * torch.eye(64))
    torch.testing.assert_close(step.beta_n, -0.01 * torch.eye(64))
    assert abs(step.w_en.std().item() - 0.01) < 0.001
    model = DBGNN(DBGNNConfig())
    assert model.node_encoder.bias.abs().max() == 0 and model.edge_encoder.bias.abs().max() == 0


@pytest.mark.parametrize("kind", [DBGNN, MPNN])
def test_relabelling_nodes_permutes_outputs(kind):
    config = DBGNNConfig(
        node_in=3, edge_in=2, out=2, layers=2, steps=3, delta=0.2, activation="relu"
    )
    torch.manual_seed(0)
    model = kind(config).eval()
    graph = random_graph(9, 20, seed=3)
    perm = torch.randperm(9)  # new node i is old node perm[i]
    inverse = perm.argsort()
    order = torch.randperm(20)  # edge order must not matter either
    relabelled = Graph(graph.x[perm], inverse[graph.edge_index][:, order], graph.edge_attr[order])
    torch.testing.assert_close(model(relabelled), model(graph)[perm], atol=1e-5, rtol=1e-5)
    # control: changing one node's features is not a relabelling
    moved = Graph(graph.x.clone(), graph.edge_index, graph.edge_attr)
    moved.x[0] += 1.0
    assert not torch.allclose(model(moved), model(graph), atol=1e-4)


def test_graph_readout_is_invariant_and_batches_match_single_graphs():
    config = DBGNNConfig(node_in=3, edge_in=2, out=1, layers=2, steps=2, readout="graph")
    torch.manual_seed(0)
    model = DBGNN(config).eval()
    graphs = [random_graph(5 + i, 9 + i, seed=i) for i in range(3)]
    batched = model(collate(graphs))  # (3, 1)
    singles = torch.cat([model(g) for g in graphs])
    torch.testing.assert_close(batched, singles, atol=1e-6, rtol=1e-5)


def test_accepts_pyg_batches():
    pyg = pytest.importorskip("torch_geometric.data")
    config = DBGNNConfig(node_in=3, edge_in=2, out=1, layers=2, steps=2)
    torch.manual_seed(0)
    model = DBGNN(config).eval()
    graphs = [random_graph(5 + i, 9 + i, seed=i) for i in range(3)]
    batch = pyg.Batch.from_data_list(
        [pyg.Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr) for g in graphs]
    )
    torch.testing.assert_close(model(batch), model(collate(graphs)))


def test_dirichlet_energy_known_answers():
    n = 12
    for k in (1, 3):
        x = torch.cos(2 * math.pi * k * torch.arange(n) / n).unsqueeze(1)  # Laplacian eigvec
        expected = 2 - 2 * math.cos(2 * math.pi * k / n)
        assert dirichlet_energy(x, ring_graph(n)) == pytest.approx(expected, rel=1e-5)
    alternating = (-1.0) ** torch.arange(5).unsqueeze(1)  # path 0-4: 4 lines, each |2|^2
    assert dirichlet_energy(alternating, path_graph(5)) == pytest.approx(16 / 5)
    # one direction only counts the same as both
    one_way = torch.stack([torch.arange(4), torch.arange(1, 5)])
    assert dirichlet_energy(alternating, one_way) == pytest.approx(16 / 5)


def test_signals_travel_one_hop_per_two_dirac_steps():
    """Edges hear nodes one step after them and nodes hear edges one step later."""
    config = DBGNNConfig(
        node_in=1, edge_in=1, hidden_node=4, hidden_edge=4, layers=1, steps=12, delta=0.5
    )
    torch.manual_seed(0)
    dbgnn = DBGNN(config).eval()
    response = impulse_response(dbgnn.node_states, path_graph(10), 10, 1)  # (12, 10)
    np.testing.assert_array_equal(arrival_step(response)[:7], [0, 1, 3, 5, 7, 9, 11])
    assert (arrival_step(response)[7:] == -1).all()
    gcn = GCN(1, 4, 12, activation="none").eval()
    arrival = arrival_step(impulse_response(gcn.node_states, path_graph(10), 10, 1))
    np.testing.assert_array_equal(arrival, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])


def test_gcn_smooths_random_signals():
    torch.manual_seed(0)
    edge_index = ring_graph(30)
    graph = Graph(torch.randn(30, 1), edge_index, torch.ones(60, 1))
    from weightspace.graphs import energy_trace

    energies = energy_trace(GCN(1, 8, 20, activation="none").node_states, graph)
    assert energies[-1] < 0.1 * dirichlet_energy(graph.x, edge_index)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="activation"):
        DBGNNConfig(activation="swish")
    with pytest.raises(ConfigError, match="steps"):
        DBGNNConfig(steps=0)
    with pytest.raises(ConfigError, match="readout"):
        DBGNNConfig(readout="sum")


def test_cli_diagnose_and_longrange(tmp_path, capsys):
    from weightspace.cli import main

    out = tmp_path / "diag"
    args = ["graphs", "diagnose", "--out", str(out), "--size", "6", "--layers", "2", "--steps", "3"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"energy.png", "impulse.png", "diagnostics.json"}
    assert (out / "energy.png").read_bytes()[:4] == b"\x89PNG"
    assert main(args) == 2  # refuses to overwrite
    assert main([*args, "--overwrite"]) == 0
    assert main(["graphs", "diagnose", "--out", str(tmp_path / "x"), "--size", "1"]) == 2
    result = tmp_path / "lr" / "longrange.json"  # what --out DIR receives
    small = ["--distances", "1", "2", "--train-graphs", "40", "--test-graphs", "20", "--epochs",
             "2", "--layers", "1", "--steps", "4", "--hidden", "8"]  # fmt: skip
    capsys.readouterr()
    assert main(["graphs", "longrange", "--out", str(result.parent), *small]) == 0
    err = capsys.readouterr().err
    assert "longrange: 100%" in err and "4/4" in err  # a bar over the 2 x 2 fits
    import json

    accuracy = json.loads(result.read_text())["accuracy"]
    assert set(accuracy) == {"DBGNN", "MPNN"} and set(accuracy["DBGNN"]) == {"1", "2"}
    assert main(["graphs", "longrange", "--out-file", str(result), "--distances", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_long_range_graphs_put_the_answer_k_hops_away():
    from weightspace.graphs import hop_distances
    from weightspace.graphs.longrange import long_range_graph

    rng = np.random.default_rng(0)
    for k in (1, 4, 9):
        g = long_range_graph(k, classes=3, distractors=1.0, rng=rng, noisy=True)
        target = int((g.y >= 0).nonzero())
        source = int(g.x[:, 3].nonzero())
        assert hop_distances(g.edge_index, len(g.x), source)[target] == k
        assert g.x[source, int(g.y[target])] == 1  # the answer is the source's class
        assert g.x[target, :3].sum() == 0


def test_grid_dbgnn_predicts_one_value_in_0_1_per_node():
    pyg = pytest.importorskip("torch_geometric.data")
    from weightspace.graphs import GridDBGNN

    torch.manual_seed(0)
    grids = []
    for n in (5, 8):
        lines = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
        edge_index = torch.cat([lines, lines.flip(0)], 1)
        power = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).unsqueeze(1)
        grids.append(
            pyg.Data(x=power, edge_index=edge_index, edge_attr=torch.full((2 * n - 2, 1), 9.0))
        )
    model = GridDBGNN(hidden=8, layers=2, steps=3).eval()
    out = model(pyg.Batch.from_data_list(grids))
    assert out.shape == (13,) and ((out > 0) & (out < 1)).all()
    torch.testing.assert_close(out[:5], model(grids[0]))  # batching does not mix grids


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"train_graphs": 0}, "train_graphs"),
        ({"lr": 0.0}, "lr"),
        ({"steps": 0}, "steps"),
        ({"classes": 1}, "classes"),
    ],  # fmt: skip
)
def test_long_range_settings_without_a_meaning_are_refused(changes, field):
    from weightspace.graphs.config import LongRangeConfig

    LongRangeConfig(epochs=1, train_graphs=1, lr=1e-3, steps=1)  # the smallest run is allowed
    with pytest.raises(ConfigError, match=field):
        LongRangeConfig(**changes)
