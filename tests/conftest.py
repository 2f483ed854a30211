from __future__ import annotations

import signal

import pytest
import torch

from weightspace.zoo import DatasetConfig, ZooConfig, load_dataset


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    return load_dataset(DatasetConfig("digits"))


def tiny_config(**changes) -> ZooConfig:
    """A zoo that trains in about a second: 2 grid values x 2 seeds, 2 epochs, shards of 2."""
    base = dict(
        name="tiny",
        architecture="cnn-s",
        dataset=DatasetConfig("digits"),
        lr=[1e-3, 3e-3],
        seeds=2,
        epochs=2,
        batch_size=64,
        shard_size=2,
    )
    base.update(changes)
    return ZooConfig.from_dict(base) if isinstance(base["dataset"], dict) else ZooConfig(**base)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A finished `weightspace demo --quick` run directory (about a minute on 2 cores)."""
    from weightspace.cli import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    return out


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts: Ctrl-C acts by default even when the
    tests run as a background job, whose shell starts them with SIGINT ignored (Python then
    never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def checkpoint_folder(zoo, folder, rows=None):  # noqa: ANN001, ANN201
    """The checkpoints of ``zoo`` (all, or ``rows``) as a user's folder would hold them: one
    ``torch.save`` state dict per checkpoint and a ``metadata.csv`` of file, model_id, epoch
    (nothing else: no factors, no metrics). Returns the folder."""
    import numpy as np

    folder.mkdir(parents=True)
    rows = np.arange(len(zoo)) if rows is None else rows
    lines = ["file,model_id,epoch"]
    for r in rows:
        torch.save(zoo.state_dict(int(r)), folder / f"{r}.pt")
        lines.append(f"{r}.pt,{zoo.column('model_id')[r]},{zoo.column('epoch')[r]}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def pool_zoos(tmp_path_factory):
    """Zoos of three architectures to pool: a CNN and an MLP, and a deeper, wider MLP that a
    pooled encoder never sees in training (a few seconds)."""
    from weightspace.zoo import create_zoo
    from weightspace.zoo.reader import open_zoo

    root = tmp_path_factory.mktemp("pool")
    configs = {
        "cnn": tiny_config(name="cnn", seeds=4, epochs=1),
        "mlp": tiny_config(name="mlp", architecture="mlp", hidden=[8], seeds=4, epochs=1),
        "big": tiny_config(name="big", architecture="mlp", hidden=[40, 24], seeds=2, epochs=1),
    }
    for name, config in configs.items():
        create_zoo(config, root / name, progress=False)
    return {name: open_zoo(root / name) for name in configs}
