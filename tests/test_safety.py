"""Files from elsewhere: a shared zoo never chooses code to run, every dataset checks that its
files are the ones written, created folders get the user's permissions, and a failed import or
generation leaves nothing that blocks the corrected command."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from weightspace.cli import main
from weightspace.errors import ConfigError, FileFormatError, WeightspaceError
from weightspace.powergrid import (
    DatasetConfig,
    GenerateConfig,
    PowerGridConfig,
    SimulationConfig,
    generate_dataset,
    open_grid_dataset,
)
from weightspace.powergrid import dataset as dataset_module
from weightspace.zoo import create_zoo, open_zoo
from weightspace.zoo.imports import Checkpoint, write_zoo

TINY_GRIDS = GenerateConfig(
    PowerGridConfig(nodes=6),
    SimulationConfig(perturbations=2, t_max=8.0),
    DatasetConfig(grids=4, shard_size=2),
)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("z") / "z"
    return create_zoo(tiny_config(seeds=1, epochs=1), out, progress=False)


@pytest.fixture(scope="module")
def grids(tmp_path_factory):
    return generate_dataset(TINY_GRIDS, tmp_path_factory.mktemp("g") / "d", progress=False)


def flip_byte(path: Path, at: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


# ---- 1. a manifest never chooses code to run ------------------------------------------------
SENTINEL = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

from weightspace.zoo.architectures import ArchConfig, build_model


def Net():
    return build_model(ArchConfig("cnn-s", (1, 8, 8), 10, activation={activation!r}))
"""


@pytest.fixture
def sentinel(zoo, tmp_path, monkeypatch):
    """A module on sys.path that records being imported (in a marker file) and builds the
    zoo's network; the name is unique per test, so no earlier import can hide one."""
    name = f"ws_sentinel_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported.txt"
    code = SENTINEL.format(marker=str(marker), activation=zoo.arch(0).activation)
    (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def _with_architecture(zoo, out: Path, config: dict) -> Path:
    shutil.copytree(zoo.root, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["architecture"]["config"] = config
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("named", ["os:system", "subprocess:call", "{sentinel}:Net"])
def test_a_manifest_naming_a_module_is_refused_and_nothing_is_imported(
    named, zoo, sentinel, tmp_path
):
    name, marker = sentinel
    named = named.format(sentinel=name)
    crafted = open_zoo(_with_architecture(zoo, tmp_path / "shared", {"module": named}))
    with pytest.raises(ConfigError) as info:
        crafted.model(0)
    message = str(info.value)
    assert named in message and f"module={named!r}" in message  # says what to pass
    assert not marker.exists() and name not in sys.modules  # never imported
    with pytest.raises(ConfigError):
        crafted.arch(0)  # the registry path refuses it too
    assert not marker.exists()


def test_a_manifest_naming_a_module_as_the_architecture_name_is_refused(zoo, sentinel, tmp_path):
    name, marker = sentinel
    config = {**zoo.manifest["architecture"]["config"], "name": f"{name}:Net"}
    crafted = open_zoo(_with_architecture(zoo, tmp_path / "shared", config))
    with pytest.raises(ConfigError, match="architecture"):
        crafted.model(0)
    assert not marker.exists() and name not in sys.modules


def test_a_registry_architecture_loads_and_a_module_runs_when_the_user_names_it(
    zoo, sentinel, tmp_path
):
    name, marker = sentinel
    net = zoo.model(0)  # negative control: the registry network of the manifest
    x = torch.randn(3, 1, 8, 8)
    crafted = open_zoo(_with_architecture(zoo, tmp_path / "shared", {"module": f"{name}:Net"}))
    assert not marker.exists()
    mine = crafted.model(0, module=f"{name}:Net")  # given by the user: imported and run
    assert marker.exists()
    assert torch.equal(mine(x), net(x))


# ---- 2. every dataset checks its files when opened -------------------------------------------
def test_a_changed_zoo_shard_is_refused_at_open(zoo, tmp_path):
    copy = tmp_path / "z"
    shutil.copytree(zoo.root, copy)
    assert len(open_zoo(copy).flat([0])) == 1  # untouched: reads
    shard = copy / "shards" / "shard-00000.safetensors"
    flip_byte(shard)
    with pytest.raises(FileFormatError) as info:
        open_zoo(copy)
    assert str(shard) in str(info.value) and "changed since it was written" in str(info.value)


def test_a_changed_twin_zoo_shard_is_refused_at_open(zoo, tmp_path):
    from weightspace.sparsify import SparsifyConfig, sparsify_zoo

    config = SparsifyConfig(sparsity=(0.5,), finetune_epochs=0, models=1)
    twin = sparsify_zoo(zoo, tmp_path / "twin", config)
    assert open_zoo(twin.root).flat([0]).shape[0] == 1  # untouched: reads
    shard = twin.root / "shards" / "shard-00000.safetensors"
    flip_byte(shard)
    with pytest.raises(FileFormatError) as info:
        open_zoo(twin.root)
    assert str(shard) in str(info.value) and "changed since it was written" in str(info.value)


@pytest.mark.parametrize("suffix", ["safetensors", "parquet"])
def test_a_changed_grid_shard_is_refused_and_generate_repairs_it(grids, tmp_path, suffix):
    copy = tmp_path / "d"
    shutil.copytree(grids.root, copy)
    assert len(open_grid_dataset(copy)) == 4  # untouched: reads
    shard = copy / "shards" / f"shard-00001.{suffix}"
    flip_byte(shard, at=len(shard.read_bytes()) // 2)
    with pytest.raises(FileFormatError) as info:
        open_grid_dataset(copy)
    assert str(shard) in str(info.value) and "changed since it was written" in str(info.value)
    assert main(["grids", "info", "--data", str(copy)]) == 2
    # the hint is true: the same generate simulates the damaged shard again
    repaired = generate_dataset(TINY_GRIDS, copy, progress=False)
    weights = [e["sha256"] for e in repaired.manifest["shards"]]
    assert weights == [e["sha256"] for e in grids.manifest["shards"]]
    assert len(open_grid_dataset(copy)) == 4
    ours, theirs = repaired.table.drop(["shard_seconds"]), grids.table.drop(["shard_seconds"])
    assert ours.equals(theirs)  # the rows too (the timing column is the only one that differs)


# ---- 4. created zoos get the user's default permissions --------------------------------------
def _checkpoints(zoo):
    for r in range(len(zoo)):
        yield Checkpoint(
            int(zoo.column("model_id")[r]), int(zoo.column("epoch")[r]), state=zoo.state_dict(r)
        )


def test_written_zoos_honour_the_umask(zoo, tmp_path):
    from weightspace.zoo.imports import export_zoo

    old = os.umask(0o022)
    try:
        imported = write_zoo(tmp_path / "imp", _checkpoints(zoo), name="z", source={"f": "t"})
        exported = export_zoo(zoo.root, "modelzoos", tmp_path / "exp")
    finally:
        os.umask(old)
    assert (imported.root.stat().st_mode & 0o777) == 0o755
    assert (exported.stat().st_mode & 0o777) == 0o755
    old = os.umask(0o077)  # a private umask stays private
    try:
        private = write_zoo(tmp_path / "priv", _checkpoints(zoo), name="z", source={"f": "u"})
    finally:
        os.umask(old)
    assert (private.root.stat().st_mode & 0o777) == 0o700


# ---- 5. a failed import or generation leaves nothing that blocks the corrected rerun --------
def test_a_refused_import_removes_its_work_folder(zoo, tmp_path):
    def unreadable():
        for i in range(3):
            yield Checkpoint(i, 0, problem="not a checkpoint")

    with pytest.raises(WeightspaceError, match="no readable checkpoint"):
        write_zoo(tmp_path / "z", unreadable(), name="z", source={"f": "t"})
    assert list(tmp_path.iterdir()) == []  # no hidden .z.*.importing left
    assert len(write_zoo(tmp_path / "z", _checkpoints(zoo), name="z", source={"f": "t"})) == len(
        zoo
    )


def test_a_refused_cli_import_leaves_no_hidden_folder(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m0.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "src" / "metadata.csv").write_text("file,model_id,epoch\nm0.pt,0,0\n")
    argv = ["zoo", "import", "--from", "folder", str(tmp_path / "src"), "--out"]
    assert main([*argv, str(tmp_path / "z")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_failed_generate_does_not_block_the_corrected_rerun(tmp_path, monkeypatch):
    out = tmp_path / "d"
    real = dataset_module.simulate_shard

    def fails(config, grids, progress=None):
        raise ConfigError("simulation", "settings the simulator accepts", "these")

    monkeypatch.setattr(dataset_module, "simulate_shard", fails)
    wrong = GenerateConfig(PowerGridConfig(nodes=8), TINY_GRIDS.simulation, TINY_GRIDS.dataset)
    with pytest.raises(ConfigError):
        generate_dataset(wrong, out, progress=False)
    assert not out.exists()  # nothing left behind
    # a progress file of another config from an attempt that finished no shard (an older
    # version, or a kill) does not block the corrected command either
    (out / "shards").mkdir(parents=True)
    (out / "progress.json").write_text(json.dumps({"format_version": 1, "config": {"x": 1}}))
    (out / "shards" / "shard-00000.safetensors").write_bytes(b"half")
    monkeypatch.setattr(dataset_module, "simulate_shard", real)
    assert len(generate_dataset(TINY_GRIDS, out, progress=False)) == 4


def test_generate_refuses_what_would_fail_before_writing(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    cuda = SimulationConfig(perturbations=2, t_max=8.0, device="cuda")
    with pytest.raises(ConfigError, match="device"):
        generate_dataset(GenerateConfig(TINY_GRIDS.grid, cuda, TINY_GRIDS.dataset), tmp_path / "d")
    assert not (tmp_path / "d").exists()
