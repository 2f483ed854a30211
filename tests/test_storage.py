import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import tiny_config

import weightspace.zoo.create as create_module
from weightspace.errors import ConfigError, ZooFormatError
from weightspace.zoo import create_zoo, open_zoo


def _hashes(path):
    manifest = json.loads((path / "manifest.json").read_text())
    return manifest["table"]["sha256"], [s["sha256"] for s in manifest["shards"]]


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "tiny"
    create_zoo(tiny_config(), path, progress=False)
    return path


def test_zoo_holds_every_checkpoint_with_metadata(tiny_zoo):
    zoo = open_zoo(tiny_zoo)
    assert zoo.num_models == 4 and len(zoo) == 4 * 3
    assert sorted(set(zoo.column("epoch").tolist())) == [0, 1, 2]
    for name in ("seed", "lr", "train_acc", "val_loss", "test_acc", "ggap", "status"):
        assert name in zoo.table.column_names
    np.testing.assert_allclose(zoo.column("ggap"), zoo.column("train_acc") - zoo.column("test_acc"))
    assert set(zoo.column("status")) == {"ok"}
    manifest = zoo.manifest
    assert manifest["format_version"] == 1 and len(manifest["dataset"]["sha256"]) == 64
    assert manifest["architecture"]["num_parameters"] == 1096


def test_weights_read_three_ways_agree(tiny_zoo):
    zoo = open_zoo(tiny_zoo)
    rows = [5, 0, 11]
    flat = zoo.flat(rows)
    assert flat.shape == (3, 1096)
    states = zoo.state_dicts(rows)
    assert torch.equal(torch.cat([v.reshape(-1) for v in states[1].values()]), flat[1])
    batched = torch.cat([b for _, b in zoo.batches(rows, batch_size=2)])
    assert torch.equal(batched, flat)
    model = zoo.model(rows[2])
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_stored_accuracy_is_the_models_accuracy(tiny_zoo, digits):
    zoo = open_zoo(tiny_zoo)
    row = int(np.flatnonzero(zoo.column("epoch") == 2)[0])
    with torch.no_grad():
        acc = (zoo.model(row)(digits.test_x).argmax(1) == digits.test_y).float().mean().item()
    assert acc == pytest.approx(zoo.column("test_acc")[row], abs=1e-6)


def test_corrupted_shard_names_the_file(tiny_zoo, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(tiny_zoo), str(copy)], check=True)
    shard = copy / "shards" / "shard-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ZooFormatError, match="shard-00001.safetensors.*sha256"):
        open_zoo(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(ZooFormatError, match="manifest.json"):
        open_zoo(copy)


def test_resume_after_interruption_equals_uninterrupted(tiny_zoo, tmp_path, monkeypatch):
    calls = []
    real_write = create_module.write_population

    def dying_write(*args):
        if len(calls) == 1:
            raise KeyboardInterrupt  # the run stops after one population was finished
        calls.append(args[1])
        return real_write(*args)

    monkeypatch.setattr(create_module, "write_population", dying_write)
    with pytest.raises(KeyboardInterrupt):
        create_zoo(tiny_config(), tmp_path / "z", progress=False)
    assert not (tmp_path / "z" / "manifest.json").exists()
    monkeypatch.setattr(create_module, "write_population", real_write)
    trained = []
    monkeypatch.setattr(
        create_module,
        "train_shard",
        lambda config, shard, *a, **k: (
            trained.append(shard.index) or _train(config, shard, *a, **k)
        ),
    )
    create_zoo(tiny_config(), tmp_path / "z", progress=False)
    assert trained == [1]  # only the unfinished population was trained again
    assert _hashes(tmp_path / "z") == _hashes(tiny_zoo)


def test_each_epoch_is_written_as_it_is_made(tiny_zoo, tmp_path, monkeypatch):
    # one storage shard per (population, checkpoint epoch); a population's epoch-0 weights
    # are on disk before its first training epoch ends
    zoo = open_zoo(tiny_zoo)
    shard, epoch = zoo.column("shard"), zoo.column("epoch")
    assert len(zoo.manifest["shards"]) == 2 * 3
    for index in np.unique(shard):
        assert len(set(epoch[shard == index].tolist())) == 1
    seen = []
    real_epoch = create_module.Population.train_epoch

    def train_epoch(self, epoch):
        seen.append(sorted(p.name for p in (tmp_path / "z" / "shards").glob("*.safetensors")))
        return real_epoch(self, epoch)

    monkeypatch.setattr(create_module.Population, "train_epoch", train_epoch)
    create_zoo(tiny_config(), tmp_path / "z", progress=False)
    assert seen[0] == ["shard-00000.safetensors"]  # population 0, epoch 0, before epoch 1
    assert seen[1] == ["shard-00000.safetensors", "shard-00001.safetensors"]
    assert _hashes(tmp_path / "z") == _hashes(tiny_zoo)


def test_a_population_killed_midway_is_trained_again(tiny_zoo, tmp_path, monkeypatch):
    real_epoch = create_module.Population.train_epoch
    calls = []

    def dying_epoch(self, epoch):
        calls.append(epoch)
        if len(calls) == 4:  # population 1 after its epoch-0 weights were written
            raise KeyboardInterrupt
        return real_epoch(self, epoch)

    monkeypatch.setattr(create_module.Population, "train_epoch", dying_epoch)
    with pytest.raises(KeyboardInterrupt):
        create_zoo(tiny_config(), tmp_path / "z", progress=False)
    shards = tmp_path / "z" / "shards"
    assert (shards / "shard-00003.safetensors").exists()
    assert not (shards / "population-00001.parquet").exists()
    monkeypatch.setattr(create_module.Population, "train_epoch", real_epoch)
    create_zoo(tiny_config(), tmp_path / "z", progress=False)
    assert _hashes(tmp_path / "z") == _hashes(tiny_zoo)


def test_a_damaged_epoch_file_retrains_its_population(tiny_zoo, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(tiny_zoo), str(copy)], check=True)
    (copy / "manifest.json").unlink()
    damaged = copy / "shards" / "shard-00004.safetensors"  # population 1, epoch 1
    damaged.write_bytes(damaged.read_bytes()[:-8] + bytes(8))
    assert create_module.finished_population(copy, 0) is not None
    assert create_module.finished_population(copy, 1) is None
    create_zoo(tiny_config(), copy, progress=False)
    assert _hashes(copy) == _hashes(tiny_zoo)


def test_partial_zoo_of_the_older_layout_is_refused(tiny_zoo, tmp_path):
    out = tmp_path / "old"
    (out / "shards").mkdir(parents=True)
    (out / "progress.json").write_text(
        json.dumps({"format_version": 1, "config": tiny_config().to_dict()})
    )
    (out / "shards" / "shard-00000.parquet").write_bytes(b"rows")
    with pytest.raises(ConfigError, match="older weightspace"):
        create_zoo(tiny_config(), out, progress=False)


_train = create_module.train_shard


def test_creating_a_finished_zoo_again_opens_it_and_rewrites_nothing(tiny_zoo, monkeypatch):
    files = sorted(p for p in tiny_zoo.rglob("*") if p.is_file())
    stamps = [p.stat().st_mtime_ns for p in files]
    monkeypatch.setattr(create_module, "train_shard", lambda *a, **k: pytest.fail("trained"))
    zoo = create_zoo(tiny_config(), tiny_zoo, progress=False)
    assert len(zoo) == len(open_zoo(tiny_zoo))
    assert [p.stat().st_mtime_ns for p in files] == stamps


def test_directory_of_another_zoo_is_refused(tiny_zoo, tmp_path):
    with pytest.raises(ConfigError, match="different config"):
        create_zoo(tiny_config(epochs=1), tiny_zoo, progress=False)
    (tmp_path / "stuff.txt").write_text("x")
    with pytest.raises(ConfigError, match="--out"):
        create_zoo(tiny_config(), tmp_path, progress=False)


def test_kill_9_then_resume_gives_identical_zoo(tiny_zoo, tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny_config().to_dict()))
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "weightspace.cli",
        "zoo",
        "create",
        "--config",
        str(config),
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 120
    while not (out / "shards" / "population-00000.parquet").exists() and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run(cmd, check=True)
    assert _hashes(out) == _hashes(tiny_zoo)
    assert not list(out.rglob("*.tmp"))


def test_an_attempt_that_finished_no_population_does_not_block_another_config(
    tiny_zoo, tmp_path, monkeypatch
):
    real_epoch = create_module.Population.train_epoch

    def dying_epoch(self, epoch):
        raise KeyboardInterrupt  # after the first population's epoch-0 weights were written

    monkeypatch.setattr(create_module.Population, "train_epoch", dying_epoch)
    with pytest.raises(KeyboardInterrupt):
        create_zoo(tiny_config(epochs=1), tmp_path / "z", progress=False)
    assert [p.name for p in (tmp_path / "z" / "shards").iterdir()] == ["shard-00000.safetensors"]
    monkeypatch.setattr(create_module.Population, "train_epoch", real_epoch)
    create_zoo(tiny_config(), tmp_path / "z", progress=False)  # another config: accepted
    assert _hashes(tmp_path / "z") == _hashes(tiny_zoo)
    # negative control: a finished population is kept, so another config is refused
    with pytest.raises(ConfigError, match="different config"):
        create_zoo(tiny_config(epochs=1), tmp_path / "z", progress=False)


def test_diverged_models_and_chosen_checkpoint_epochs_map_rows_to_their_weights(tmp_path, digits):
    from weightspace.zoo.population import Population

    config = tiny_config(
        lr=[1e-3, 1e12], optimizer="sgd", weight_decay=1e-4, checkpoint_epochs=(0, 2)
    )
    zoo = create_zoo(config, tmp_path / "z", progress=False)
    specs = config.members(digits.input_shape, digits.num_classes)
    models, epochs = zoo.column("model_id"), zoo.column("epoch")
    diverged = models[zoo.column("status") == "diverged"]
    assert sorted(diverged.tolist()) == [2, 3]  # lr 1e12: only their epoch-0 checkpoints
    assert sorted(set(epochs.tolist())) == [0, 2]
    # population 1 lost both models before epoch 2: no weight file for that epoch
    assert [s["rows"] for s in zoo.manifest["shards"]] == [2, 2, 2]
    for start in (0, 2):  # each population, checked against its in-memory history
        members = specs[start : start + 2]
        kept = Population(members, digits, config.batch_size).train(config.epochs, [0, 2])
        for i, spec in enumerate(members):
            for j, epoch in enumerate((0, 2)):
                rows = np.flatnonzero((models == spec.model_id) & (epochs == epoch))
                if 0 <= kept.diverged_epoch[i] <= epoch:
                    assert len(rows) == 0  # no checkpoint at or after divergence
                    continue
                state = zoo.state_dicts([int(rows[0])])[0]
                for key, value in state.items():
                    assert torch.equal(value, kept.weights[key][i, j])


def test_claim_run_dir_resumes_its_own_run_and_refuses_anything_else(tmp_path):
    from weightspace.storage import claim_run_dir

    out = tmp_path / "run"
    stamp = {"config": {"a": 1}}
    assert claim_run_dir(out, "progress.json", stamp, "thing") is True  # new: claimed
    assert claim_run_dir(out, "progress.json", stamp, "thing") is False  # same: resumed
    other = {"config": {"a": 2}}
    with pytest.raises(ConfigError, match="partial thing of the same config"):
        claim_run_dir(out, "progress.json", other, "thing")
    assert claim_run_dir(out, "progress.json", other, "thing", lambda: True) is True
    assert json.loads((out / "progress.json").read_text()) == other  # restarted as asked
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="empty or new"):
        claim_run_dir(mine, "progress.json", stamp, "thing", lambda: True)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
