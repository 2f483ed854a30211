"""The published zoos' real tasks: a Small CNN Zoo import (layout written here as published)
gets grayscale CIFAR-10 (CIFAR10-GS: the channel mean, 32x32) attached from CIFAR-10's binary
files (also written here in their published layout), runs, and trains SANE with the
behavioural loss; a task that does not fit the network is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config
from test_imports_published import write_smallcnn

from weightspace.cli import main
from weightspace.zoo import create_zoo, open_zoo
from weightspace.zoo.dataset_files import CIFAR_RECORD
from weightspace.zoo.datasets import load_dataset


def write_cifar10(root, per_batch: int = 20) -> np.ndarray:  # noqa: ANN001
    """The binary version's six files: records of 1 label byte + 3,072 pixel bytes (R, G, B
    planes of 32x32). Returns the test batch's images (N, 3, 32, 32) uint8."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (per_batch, CIFAR_RECORD), dtype=np.uint8)
        records[:, 0] = np.arange(per_batch) % 10
        records.tofile(root / name)
    return records[:, 1:].reshape(-1, 3, 32, 32)


@pytest.fixture
def gray_zoo(tmp_path):
    write_smallcnn(tmp_path / "small", models=4, steps=(0, 20))
    test_images = write_cifar10(tmp_path / "cifar")
    out = tmp_path / "zoo"
    assert (
        main(["zoo", "import", "--from", "smallcnn", str(tmp_path / "small"), "--out", str(out)])
        == 0
    )
    return out, tmp_path / "cifar", test_images


def test_cifar10_gs_attaches_to_the_small_cnn_zoo_and_runs(gray_zoo, capsys):
    out, cifar, test_images = gray_zoo
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "cifar10", "--data-root", str(cifar)]
    before = (out / "manifest.json").read_bytes()
    # colour CIFAR-10 has 3 channels: the one-channel network does not take it
    assert main([*attach, "--arch", "smallcnn", "--activation", "relu"]) == 2
    assert "add --grayscale" in capsys.readouterr().err
    assert (out / "manifest.json").read_bytes() == before  # nothing written on refusal
    assert main([*attach, "--arch", "smallcnn", "--activation", "relu", "--grayscale"]) == 0
    zoo = open_zoo(out)
    assert zoo.dataset.grayscale and zoo.arch(0).input_shape == (1, 32, 32)
    splits = load_dataset(zoo.dataset)
    unit = test_images.astype(np.float32).mean(1, keepdims=True) / 255.0  # the channel mean
    mean, std = unit_statistics(zoo)
    standardized = (unit - mean) / std
    np.testing.assert_allclose(splits.test_x.numpy(), standardized, rtol=1e-4, atol=1e-4)
    logits = zoo.model(0)(splits.test_x[:5])
    assert logits.shape == (5, 10) and torch.isfinite(logits).all()
    capsys.readouterr()
    assert main(["zoo", "info", "--zoo", str(out)]) == 0
    assert "grayscale" in capsys.readouterr().out


def unit_statistics(zoo) -> tuple[float, float]:  # noqa: ANN001
    """Mean and std of the training images in [0, 1] (the task, without its transform)."""
    from weightspace.zoo.datasets import DatasetConfig

    raw = load_dataset(DatasetConfig(**{**zoo.dataset.to_dict(), "transform": "unit"}))
    return float(raw.train_x.mean()), float(raw.train_x.std()) + 1e-8


def test_behavioural_loss_trains_on_the_grayscale_import(gray_zoo):
    from dataclasses import replace

    from weightspace.encoders import SANE
    from weightspace.models.sane import SANE_PRESETS
    from weightspace.train.trainer import TrainConfig

    out, cifar, _ = gray_zoo
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "cifar10", "--data-root", str(cifar)]
    assert main([*attach, "--arch", "smallcnn", "--activation", "relu", "--grayscale"]) == 0
    zoo = open_zoo(out)
    whole = replace(SANE_PRESETS["tiny"], window=64)  # the behavioural loss decodes whole models
    train = TrainConfig(epochs=1, batch_size=4, behaviour_weight=0.5, progress=False)
    encoder = SANE(config=whole, train=train).fit(zoo)
    record = encoder.history_[-1]
    assert np.isfinite(record["loss"]) and record["behaviour"] > 0  # the behavioural term ran


def test_a_task_that_does_not_fit_the_network_is_refused(tmp_path, capsys):
    made = create_zoo(tiny_config(), tmp_path / "digits", progress=False)  # cnn-s on 8x8 digits
    before = (made.root / "manifest.json").read_bytes()
    assert main(["zoo", "attach", "--zoo", str(made.root), "--dataset", "tetris"]) == 2
    err = capsys.readouterr().err
    assert "(1, 8, 8)" in err and "4 classes" in err
    assert (made.root / "manifest.json").read_bytes() == before
    assert main(["zoo", "attach", "--zoo", str(made.root), "--dataset", "digits"]) == 0  # control
