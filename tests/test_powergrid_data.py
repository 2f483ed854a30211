"""Power-grid datasets: generation, resume, readers (ours and the Zenodo layout), CLI, training."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from weightspace.cli import main
from weightspace.errors import ConfigError, FileFormatError
from weightspace.powergrid import (
    DatasetConfig,
    GenerateConfig,
    GridTrainConfig,
    PowerGridConfig,
    SimulationConfig,
    build_baseline,
    evaluate_node_regressor,
    fit_node_regressor,
    generate_dataset,
    grid_data,
    make_grid,
    open_grid_dataset,
    read_zenodo,
    run_baseline,
)
from weightspace.powergrid import dataset as dataset_module

TINY = GenerateConfig(
    PowerGridConfig(nodes=6),
    SimulationConfig(perturbations=2, t_max=8.0),
    DatasetConfig(grids=4, shard_size=2),
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_dataset(TINY, tmp_path_factory.mktemp("grids") / "d", progress=False)


def test_dataset_serves_pyg_data(tiny):
    assert len(tiny) == 4
    data = tiny[0]
    assert data.x.shape == (6, 1) and data.y.shape == (6,) and data.surv.shape == (6,)
    m = data.edge_index.shape[1]
    assert data.edge_attr.shape == (m, 1) and (data.edge_attr == 9).all()
    pairs = set(map(tuple, data.edge_index.T.tolist()))
    assert all((b, a) in pairs for a, b in pairs)  # both directions of every line
    # the stored grid is the grid the seed draws
    grid = make_grid(TINY.grid, (0, 0))
    np.testing.assert_array_equal(tiny.grid_arrays(0)["edges"], grid.edges)
    assert ((data.y >= 0) & (data.y <= 1)).all()
    splits = tiny.splits(fractions=(0.5, 0.25, 0.25))
    assert sorted(len(v) for v in splits.values()) == [1, 1, 2]


def test_resume_after_interruption_gives_identical_data(tiny, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    real = dataset_module.simulate_shard
    calls = []

    def dies_on_second_shard(config, grids, progress=None):
        calls.append(grids.start)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(config, grids, progress)

    monkeypatch.setattr(dataset_module, "simulate_shard", dies_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(TINY, out, progress=False)
    assert (out / "shards" / "shard-00000.safetensors").exists()
    assert not (out / "dataset.json").exists()
    with pytest.raises(FileFormatError, match="still being generated"):
        open_grid_dataset(out)
    calls.clear()
    monkeypatch.setattr(dataset_module, "simulate_shard", real)
    resumed = generate_dataset(TINY, out, progress=False)
    for a, b in zip(tiny.manifest["shards"], resumed.manifest["shards"], strict=True):
        assert a["sha256"] == b["sha256"]
    # a different config refuses the partial directory instead of mixing data
    other = GenerateConfig(TINY.grid, SimulationConfig(perturbations=3), TINY.dataset)
    with pytest.raises(ConfigError, match="different config"):
        generate_dataset(other, out, progress=False)


def _write_zenodo(root, grids: list, snbs: list) -> None:
    """Files in the published layout, as Julia writes them: (m, 2) 1-based edge lists."""
    for split in ("train", "valid", "test"):
        (root / split).mkdir(parents=True)
        with (
            h5py.File(root / split / "input_data.h5", "w") as f,
            h5py.File(root / split / "snbs.h5", "w") as s,
        ):
            for i, (grid, target) in enumerate(zip(grids, snbs, strict=True)):
                g = f.create_group(f"grids/{i + 1}")
                g["node_features"] = grid.power
                g["edge_index"] = grid.edges + 1
                g["edge_attr"] = np.full(len(grid.edges), 9.0)
                s[str(i + 1)] = target


def test_zenodo_reader_on_files_in_the_published_layout(tmp_path):
    grids = [make_grid(PowerGridConfig(nodes=8), (2, i)) for i in range(12)]
    snbs = [np.linspace(0, 1, 8) * (i + 1) / 12 for i in range(12)]
    _write_zenodo(tmp_path / "z", grids, snbs)
    data = read_zenodo(tmp_path / "z")
    assert set(data) == {"train", "valid", "test"} and len(data["train"]) == 12
    # numeric id order ("10" after "9"), 0-based edges, both directions, P and SNBS carried
    tenth = data["train"][9]
    expected = grid_data(grids[9].power, grids[9].edges, 9.0, snbs[9])
    assert torch.equal(tenth.x, expected.x) and torch.allclose(tenth.y, expected.y)
    got = set(map(tuple, tenth.edge_index.T.tolist()))
    assert got == set(map(tuple, expected.edge_index.T.tolist()))
    # a 0-based file (not what Julia writes) is refused by name
    with h5py.File(tmp_path / "z" / "valid" / "input_data.h5", "a") as f:
        del f["grids/1/edge_index"]
        f["grids/1/edge_index"] = grids[0].edges + 100
    with pytest.raises(FileFormatError, match="1-based"):
        read_zenodo(tmp_path / "z")
    with pytest.raises(FileFormatError, match="not found"):
        read_zenodo(tmp_path / "z", splits=("missing",))


def test_training_loop_learns_a_topological_target():
    """A GNN fits a target that needs the graph (degree); an untrained one does not."""
    torch.set_num_threads(1)  # small graphs: one thread is faster on a busy machine
    data = []
    for i in range(60):
        g = make_grid(PowerGridConfig(nodes=20), (9, i))
        degree = g.adjacency().sum(1)
        data.append(grid_data(g.power, g.edges, 9.0, np.clip(degree / 6, 0, 1)))
    config = GridTrainConfig(epochs=15, lr=3e-3, batch_size=8, hidden=32, layers=2)
    model = build_baseline("tag", config)
    before = evaluate_node_regressor(model, data[50:])["r2"]
    fit_node_regressor(model, data[:40], data[40:50], config)
    after = evaluate_node_regressor(model, data[50:])["r2"]
    assert after > 0.8 and before < 0.2, (before, after)


def test_cli_generate_info_train(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["grids", "generate", "--nodes", "6", "--grids", "6", "--perturbations", "2"]
    args += ["--t-max", "8", "--shard-size", "3", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert json.loads((out / "dataset.json").read_text())["counts"]["grids"] == 6
    assert main(["grids", "info", "--data", str(out)]) == 0
    assert "6 grids of 6 nodes" in capsys.readouterr().out
    results = tmp_path / "r.json"
    train = ["grids", "train", "--model", "gcn", "linear", "--data", str(out), "--test", str(out)]
    assert main([*train, "--epochs", "2", "--out", str(results), "--quiet"]) == 0
    written = json.loads(results.read_text())
    assert set(written["gcn"]) >= {"test", "cli", "valid"} and "r2" in written["linear"]["test"]
    assert main([*train, "--epochs", "2", "--out", str(results)]) == 2  # no silent overwrite
    capsys.readouterr()
    for bad in (
        ["grids", "generate", "--nodes", "7", "--out", str(tmp_path / "x")],
        ["grids", "generate", "--perturbations", "0", "--out", str(tmp_path / "y")],
        ["grids", "info", "--data", str(tmp_path / "nowhere")],
        ["grids", "train", "--model", "gcn", "--data", str(tmp_path / "nowhere")],
    ):
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err and err.count("\n") == 1


def test_measures_baseline_runs(tiny):
    splits = tiny.splits(fractions=(0.5, 0.25, 0.25))
    result = run_baseline(
        "linear", splits["train"], splits["valid"], {"test": splits["test"]}, GridTrainConfig()
    )
    assert set(result["test"]) == {"r2", "within_0.1", "mse"}
    assert splits["train"][0].measures.shape == (6, 6)


def test_cli_trains_the_dbgnn(tmp_path, capsys):
    data, results = tmp_path / "grids", tmp_path / "dbgnn.json"
    gen = ["grids", "generate", "--nodes", "6", "--grids", "8", "--perturbations", "2"]
    assert main([*gen, "--t-max", "8", "--out", str(data), "--quiet"]) == 0
    args = ["grids", "train", "--model", "dbgnn", "--data", str(data), "--epochs", "2"]
    assert main([*args, "--hidden", "4", "--out", str(results), "--quiet"]) == 0
    written = json.loads(results.read_text())["dbgnn"]
    assert set(written["test"]) == {"r2", "within_0.1", "mse"} and written["fit"]["best_epoch"] >= 1
    assert "dbgnn" in capsys.readouterr().out
    assert main(["grids", "train", "--model", "dbgnn2", "--data", str(data)]) == 2
