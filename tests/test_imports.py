"""Importers: each published layout, written here in miniature; pickles refused; bad rows kept."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from torch import nn

from weightspace.cli import describe_zoo, main
from weightspace.errors import FileFormatError, WeightspaceError
from weightspace.tokens.dataset import split_rows, zoo_spec
from weightspace.zoo import ArchConfig, build_model, open_zoo
from weightspace.zoo.imports import ImportOptions, import_modules, import_zoo, load_state_dict

CNN = ArchConfig("cnn-s", input_shape=(1, 8, 8), activation="relu")


class Planted:
    """A pickle that creates a file when loaded: the attack weights_only=True must stop."""

    def __init__(self, marker) -> None:  # noqa: ANN001
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.marker, "w"))


def their_names(state: dict) -> dict:
    """The state dict under other key names, as another codebase would save it."""
    return {f"module_list.{i}.{k.rpartition('.')[2]}": v for i, (k, v) in enumerate(state.items())}


def network(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(CNN).eval()


def same_outputs(zoo, row: int, net: nn.Module) -> bool:  # noqa: ANN001
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        return torch.allclose(zoo.model(row)(x), net(x))


# ---- modelzoos.cc --------------------------------------------------------------------------
def write_trial(root, name: str, seed: int, lr: float, epochs=(1, 2), old_style=False):  # noqa: ANN001, ANN201
    trial = root / name
    trial.mkdir(parents=True)
    params = {
        "model::type": "CNN",
        "model::channels_in": 1,
        "model::o_dim": 10,
        "model::nlin": "relu",
        "model::dropout": 0.0,
        "model::init_type": "uniform",
        "optim::optimizer": "adam",
        "optim::lr": lr,
        "optim::wd": 0.0,
        "seed": seed,
    }
    (trial / "params.json").write_text(json.dumps(params))
    lines = [
        json.dumps(
            {
                "training_iteration": e,
                "test_acc": 0.1 * e + lr,
                "train_acc": 0.2 * e,
                "test_loss": 1.0 / e,
            }
        )
        for e in epochs
    ]
    (trial / "result.json").write_text("\n".join(lines) + '\n{"training_iter')  # torn tail
    nets = {}
    for e in epochs:
        nets[e] = network(seed * 10 + e)
        if old_style:
            torch.save(their_names(nets[e].state_dict()), trial / f"checkpoint_{e}")
        else:
            (trial / f"checkpoint_{e:06d}").mkdir()
            torch.save(
                their_names(nets[e].state_dict()), trial / f"checkpoint_{e:06d}" / "checkpoints"
            )
    return nets


def test_modelzoos_import_maps_architecture_metrics_and_factors(tmp_path):
    src = tmp_path / "tune"
    nets = write_trial(src, "NN_tune_trainable_a", 1, 1e-3)
    old = write_trial(src, "NN_tune_trainable_b", 2, 1e-4, old_style=True)
    zoo = import_zoo("modelzoos", src, tmp_path / "zoo")
    assert len(zoo) == 4 and zoo.num_models == 2
    assert zoo.arch(0).name == "cnn-s" and zoo.arch(0).input_shape == (1, 8, 8)
    assert zoo.keys[0] == "features.0.weight"  # renamed to ours by position
    assert set(zoo.column("status")) == {"ok"}
    epochs = zoo.column("epoch").tolist()
    assert epochs == [1, 2, 1, 2]
    assert zoo.column("test_acc")[1] == pytest.approx(0.2 + 1e-3)
    assert zoo.column("lr").tolist() == [1e-3, 1e-3, 1e-4, 1e-4]
    assert same_outputs(zoo, 1, nets[2]) and same_outputs(zoo, 2, old[1])
    assert "ggap" in zoo.table.column_names
    assert zoo.column("file").tolist()[:3] == [
        "NN_tune_trainable_a/checkpoint_000001",
        "NN_tune_trainable_a/checkpoint_000002",
        "NN_tune_trainable_b/checkpoint_1",
    ]  # each row's source, relative to the imported folder


def test_a_planted_pickle_is_refused_and_never_runs(tmp_path):
    src = tmp_path / "tune"
    write_trial(src, "a", 1, 1e-3)
    marker = tmp_path / "pwned"
    evil = src / "a" / "checkpoint_000002" / "checkpoints"
    torch.save({"features.0.weight": Planted(marker)}, evil)
    zoo = import_zoo("modelzoos", src, tmp_path / "zoo")
    assert not marker.exists()
    status, problem = zoo.column("status"), zoo.column("problem")
    assert status.tolist() == ["ok", "bad"] and "refused: the pickle asks for" in problem[1]
    assert list(split_rows(zoo, "train")) + list(split_rows(zoo, "val")) + list(
        split_rows(zoo, "test")
    ) == [0]  # the bad row is never served as data
    assert "bad checkpoints" in describe_zoo(zoo)
    with pytest.raises(FileFormatError, match="refused"):
        load_state_dict(evil)
    assert not marker.exists()


# ---- Small CNN Zoo --------------------------------------------------------------------------
class TinyTF(nn.Module):
    """conv 3x3 (1->4), conv 3x3 (4->4), global average pool, dense (4->10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(1, 4, 3)
        self.conv2d_1 = nn.Conv2d(4, 4, 3)
        self.dense = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2d_1(torch.relu(self.conv2d(x))))
        return self.dense(h.mean((2, 3)))


def tf_row(net: TinyTF) -> tuple[np.ndarray, list[tuple]]:
    """The flat TensorFlow-layout row of a network and its layout entries."""
    parts, layout, start = [], [], 0
    for name, layer in (("conv2d", net.conv2d), ("conv2d_1", net.conv2d_1), ("dense", net.dense)):
        kernel = layer.weight.detach()
        kernel = kernel.permute(2, 3, 1, 0) if kernel.dim() == 4 else kernel.T
        for leaf, value in (("kernel:0", kernel), ("bias:0", layer.bias.detach())):
            flat = value.contiguous().reshape(-1).numpy()
            layout.append(
                (f"sequential/{name}/{leaf}", start, start + flat.size, str(tuple(value.shape)))
            )
            parts.append(flat)
            start += flat.size
    return np.concatenate(parts), layout


def write_smallcnn(root, n_models: int = 3, epochs: int = 2):  # noqa: ANN001, ANN201
    root.mkdir()
    nets, rows, metrics = [], [], []
    for m in range(n_models):
        for e in range(epochs):
            torch.manual_seed(100 * m + e)
            net = TinyTF()
            row, layout = tf_row(net)
            nets.append(net)
            rows.append(row)
            metrics.append(
                {
                    "modelindex": m,
                    "step": e * 100,
                    "test_accuracy": 0.5 + 0.1 * e,
                    "train_accuracy": 0.6 + 0.1 * e,
                    "config.activation": "relu",
                    "config.learning_rate": 0.01 * (m + 1),
                }
            )
    np.save(root / "weights.npy", np.stack(rows).astype(np.float32))
    with gzip.open(root / "metrics.csv.gz", "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(metrics[0]))
        writer.writeheader()
        writer.writerows(metrics)
    with open(root / "layout.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["varname", "start_idx", "end_idx", "shape"])
        writer.writerows(layout)
    return nets


def test_smallcnn_import_converts_tensorflow_layout(tmp_path):
    nets = write_smallcnn(tmp_path / "small")
    zoo = import_zoo("smallcnn", tmp_path / "small", tmp_path / "zoo")
    assert len(zoo) == 6 and zoo.num_models == 3
    assert zoo.column("epoch").tolist() == [0, 100] * 3
    spec = zoo_spec(zoo)
    assert spec.group_sizes == (4, 4)  # conv -> conv -> pool -> dense: the hidden channels permute
    row = 3
    net = TinyTF()
    assert zoo.keys[0] == "sequential.conv2d.weight"  # TensorFlow scopes become the keys
    net.load_state_dict(dict(zip(net.state_dict(), zoo.state_dict(row).values(), strict=True)))
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(net(x), nets[row](x))
    with pytest.raises(WeightspaceError, match="architecture"):
        zoo.model(row)  # not a registry network: weights only


def test_smallcnn_refuses_a_pickled_weights_file(tmp_path):
    write_smallcnn(tmp_path / "small")
    marker = tmp_path / "pwned"
    array = np.empty(1, dtype=object)
    array[0] = Planted(marker)
    np.save(tmp_path / "small" / "weights.npy", array, allow_pickle=True)
    with pytest.raises(FileFormatError, match="pickles are refused"):
        import_zoo("smallcnn", tmp_path / "small", tmp_path / "zoo")
    assert not marker.exists() and not (tmp_path / "zoo").exists()


# ---- a folder of state dicts, and modules -------------------------------------------------
def test_folder_import_keeps_every_row_and_says_what_is_wrong(tmp_path):
    src = tmp_path / "folder"
    src.mkdir()
    good = network(1)
    save_file(good.state_dict(), src / "a.safetensors")
    torch.save(network(2).state_dict(), src / "b.pt")
    nan = network(3).state_dict()
    nan["features.4.weight"][0, 0, 0, 0] = float("nan")
    torch.save(nan, src / "c.pt")
    torch.save({"features.0.weight": torch.zeros(3)}, src / "d.pt")  # not even a network
    marker = tmp_path / "pwned"
    torch.save(Planted(marker), src / "e.pt")
    (src / "f.pt").write_bytes(b"garbage")
    files = ["a.safetensors", "b.pt", "c.pt", "d.pt", "e.pt", "f.pt", "missing.pt"]
    lines = ["file,model_id,epoch,test_acc,activation"]
    lines += [f"{f},{i},3,0.{i},relu" for i, f in enumerate(files)]
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "z")
    assert (
        main(["zoo", "import", "--from", "folder", str(src), "--out", out, "--dataset", "digits"])
        == 2
    )
    assert not (tmp_path / "z").exists()  # two networks in one folder: one clear error
    d_row = "d.pt,3,3,0.3,relu"
    text = (src / "metadata.csv").read_text().replace(d_row, "d.pt,3,3,0.3,relu\n")
    (src / "metadata.csv").write_text(text)
    assert (
        main(
            ["zoo", "import", "--from", "folder", str(src), "--out", out, "--split-by-architecture"]
        )
        == 0
    )
    zoos = sorted((tmp_path / "z").iterdir())
    assert [z.name for z in zoos] == ["arch-1", "arch-2"]
    assert len(open_zoo(zoos[1])) == 1  # d.pt alone
    zoo = open_zoo(zoos[0])
    assert len(zoo) == 6 and not marker.exists()
    problems = dict(zip(zoo.column("model_id").tolist(), zoo.column("problem"), strict=True))
    assert problems[0] == problems[1] == ""
    assert "NaN" in problems[2]
    assert "refused" in problems[4] and "refused" in problems[5]
    assert "file missing" in problems[6]
    assert same_outputs(zoo, 0, good)
    assert zoo.column("file").tolist() == [f for f in files if f != "d.pt"]  # the sources
    assert torch.equal(zoo.state_dict(2)["features.4.weight"].isnan().sum(), torch.tensor(1))


def _list_folder(root, metadata: str):  # noqa: ANN001, ANN202
    """A folder with an ensemble file (a list of 3 state dicts, one wrapped the Lightning way)
    and a plain file; returns the networks in file and entry order."""
    root.mkdir()
    nets = [network(10 + i) for i in range(4)]
    ensemble = [nets[0].state_dict(), {"state_dict": nets[1].state_dict()}, nets[2].state_dict()]
    torch.save(ensemble, root / "ensemble.pt")
    (root / "sub").mkdir()
    torch.save(nets[3].state_dict(), root / "sub" / "one.pt")
    (root / "metadata.csv").write_text(metadata)
    return nets


def test_list_wrapped_state_dicts_become_one_model_each(tmp_path):
    src = tmp_path / "src"
    meta = "file,test_acc,activation\nensemble.pt,0.5,relu\nsub/one.pt,0.7,relu\n"
    nets = _list_folder(src, meta)
    zoo = import_zoo("folder", src, tmp_path / "z")
    assert zoo.column("model_id").tolist() == [0, 1, 2, 3] and zoo.num_models == 4
    assert zoo.column("file").tolist() == ["ensemble.pt"] * 3 + ["sub/one.pt"]
    assert zoo.column("entry")[:3].tolist() == [0, 1, 2] and np.isnan(zoo.column("entry")[3])
    assert zoo.column("test_acc").tolist() == [0.5, 0.5, 0.5, 0.7]
    for row, net in enumerate(nets):
        assert same_outputs(zoo, row, net)
    # as epochs: the ensemble file is one model's trajectory
    as_epochs = import_zoo("folder", src, tmp_path / "e", ImportOptions(list_entries="epochs"))
    assert as_epochs.column("model_id").tolist() == [0, 0, 0, 1]
    assert as_epochs.column("epoch").tolist() == [0, 1, 2, 0]
    assert same_outputs(as_epochs, 2, nets[2])
    # a single file never asks for an entry; a list file read as one state dict says why
    with pytest.raises(FileFormatError, match="list of 3 state dicts"):
        load_state_dict(src / "ensemble.pt")


def test_list_entries_refuse_metadata_that_would_contradict_them(tmp_path, capsys):
    src = tmp_path / "src"
    _list_folder(src, "file,model_id\nensemble.pt,7\nsub/one.pt,8\n")
    argv = ["zoo", "import", "--from", "folder", str(src), "--out", str(tmp_path / "z")]
    assert main(argv) == 2 and not (tmp_path / "z").exists()
    err = capsys.readouterr().err
    assert "--list-entries" in err and "model_id" in err and "ensemble.pt" in err
    assert main([*argv, "--list-entries", "epochs"]) == 0  # ids given, epochs from the list
    assert open_zoo(tmp_path / "z").column("model_id").tolist() == [7, 7, 7, 8]


def test_import_modules_from_python(tmp_path):
    nets = [network(i) for i in range(3)]
    meta = [{"model_id": i, "epoch": 5, "test_acc": 0.5 + i / 10} for i in range(3)]
    zoo = import_modules(nets, meta, tmp_path / "zoo")
    assert zoo.arch(0).name == "cnn-s" and len(zoo) == 3
    assert same_outputs(zoo, 2, nets[2])
    with pytest.raises(WeightspaceError, match="metadata"):
        import_modules(nets, meta[:2], tmp_path / "zoo2")


def test_import_into_a_used_directory_is_refused(tmp_path):
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "x").write_text("mine")
    with pytest.raises(WeightspaceError, match="--out"):
        import_modules([network(0)], None, tmp_path / "zoo")
    assert (tmp_path / "zoo" / "x").read_text() == "mine"


# ---- fuzzing --------------------------------------------------------------------------------
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".pt", ".safetensors", ""]))
def test_checkpoint_loader_only_raises_its_own_error(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        state = load_state_dict(path)
    except FileFormatError:
        return
    assert all(isinstance(v, torch.Tensor) for v in state.values())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 400), flip=st.integers(0, 10_000))
def test_truncated_or_garbled_valid_checkpoints(tmp_path, cut, flip):
    path = tmp_path / "ckpt.pt"
    torch.save(network(0).state_dict(), path)
    data = bytearray(path.read_bytes())
    data[flip % len(data)] ^= 0xFF
    path.write_bytes(bytes(data[: len(data) - cut]))
    try:
        load_state_dict(path)
    except FileFormatError:
        pass


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(["params.json", "result.json", "checkpoint_000001/checkpoints"]),
    data=st.binary(max_size=300),
)
def test_garbled_modelzoos_files_give_bad_rows_or_our_errors(tmp_path_factory, target, data):
    root = tmp_path_factory.mktemp("fuzz")
    write_trial(root / "tune", "a", 1, 1e-3)
    write_trial(root / "tune", "b", 2, 1e-3)
    (root / "tune" / "a" / target).write_bytes(data)
    try:
        zoo = import_zoo("modelzoos", root / "tune", root / "zoo")
    except WeightspaceError:
        return
    assert len(zoo) == 4  # every checkpoint is a row, good or bad


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(["metrics.csv.gz", "layout.csv", "weights.npy"]),
    cut=st.integers(1, 200),
)
def test_truncated_smallcnn_files_give_our_errors(tmp_path_factory, target, cut):
    root = tmp_path_factory.mktemp("fuzz")
    write_smallcnn(root / "small")
    path = root / "small" / target
    path.write_bytes(path.read_bytes()[:-cut])
    try:
        import_zoo("smallcnn", root / "small", root / "zoo")
    except WeightspaceError:
        assert not (root / "zoo").exists()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(
        [
            "manifest.json",
            "checkpoints.parquet",
            "shards/shard-00000.parquet",
            "shards/shard-00000.safetensors",
        ]
    ),
    data=st.binary(max_size=500),
)
def test_garbled_zoo_files_give_our_errors(tmp_path_factory, target, data):
    root = tmp_path_factory.mktemp("fuzz")
    zoo = import_modules([network(0), network(1)], None, root / "zoo")
    (zoo.root / target).write_bytes(data)
    try:
        reopened = open_zoo(root / "zoo")
        reopened.flat([0, 1])
    except WeightspaceError:
        return


def test_attach_is_the_function_even_after_its_module_loaded_first():
    # the package loads its names on first use (`zoo import --help` stays light); importing the
    # submodule first must not hide the function `attach` (a loaded submodule is set on its
    # package under its own name: the function's module must be named otherwise)
    import subprocess
    import sys

    code = (
        "import importlib; importlib.import_module('weightspace.zoo.imports.attaching')\n"
        "from weightspace.zoo.imports import attach\n"
        "print(callable(attach), attach.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "weightspace.zoo.imports.attaching"]
