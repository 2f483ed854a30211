"""Readers for image datasets stored as local files (nothing is downloaded).

- MNIST / Fashion-MNIST: the four IDX files (optionally ``.gz``) in one folder.
- CIFAR-10, binary version: ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``
  (optionally inside a ``cifar-10-batches-bin`` sub-folder); records of 1 label byte + 3072 pixels.
- SVHN: ``train_32x32.mat`` and ``test_32x32.mat`` (``X`` of shape (32, 32, 3, N), ``y`` in 1..10
  where 10 stands for the digit 0).

Each reader returns ``(train_x, train_y, test_x, test_y)``: float32 images in [0, 1] of shape
(N, C, H, W) and int64 labels.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from weightspace.errors import DatasetError

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
FILE_DATASETS = {
    "mnist": ", ".join(IDX_FILES.values()) + " (optionally .gz)",
    "fashion-mnist": ", ".join(IDX_FILES.values()) + " (optionally .gz)",
    "cifar10": "data_batch_1.bin ... data_batch_5.bin and test_batch.bin",
    "svhn": "train_32x32.mat and test_32x32.mat",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _find(root: Path, *names: str) -> Path:
    for name in names:
        for candidate in (root / name, root / "cifar-10-batches-bin" / name):
            if candidate.is_file():
                return candidate
    raise DatasetError(root / names[0], "file not found", f"Put {names[0]} in {root}")


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST format); ``.gz`` files are decompressed."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DatasetError(
            path, f"cannot read the file ({err})", "The file is damaged; fetch it again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(
            path, "not an IDX file (bad magic number)", "Check the file is MNIST-format"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(path, f"truncated IDX header: expected {header} bytes, got {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            path,
            f"IDX size mismatch: header says {shape}, expected {expected} bytes, got {len(raw)}",
            "The file is truncated or corrupt; fetch it again",
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_idx_dataset(root: Path) -> tuple[np.ndarray, ...]:
    arrays = {
        key: read_idx(_find(root, name, name + ".gz", name.replace("-idx", ".idx")))
        for key, name in IDX_FILES.items()
    }
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(root, f"{split} images {x.shape} and labels {y.shape} do not match")
    images = {k: (v[:, None].astype(np.float32) / 255.0) for k, v in arrays.items() if "_x" in k}
    return images["train_x"], arrays["train_y"], images["test_x"], arrays["test_y"]


CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DatasetError(path, f"cannot read the file ({err})") from None
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise DatasetError(
            path,
            f"size {raw.size} is not a multiple of the {CIFAR_RECORD}-byte CIFAR-10 record",
            "Use the binary version of CIFAR-10 (cifar-10-binary)",
        )
    records = raw.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetError(path, f"label {labels.max()} out of range 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


def load_cifar10(root: Path) -> tuple[np.ndarray, ...]:
    train = [read_cifar_batch(_find(root, f"data_batch_{i}.bin")) for i in range(1, 6)]
    test_x, test_y = read_cifar_batch(_find(root, "test_batch.bin"))
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        test_x,
        test_y,
    )


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(path)
    except (MatReadError, ValueError, OSError, TypeError) as err:
        raise DatasetError(path, f"not a readable .mat file ({err})") from None
    if "X" not in mat or "y" not in mat:
        raise DatasetError(path, "expected variables 'X' and 'y' in the .mat file")
    x, y = mat["X"], mat["y"].reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DatasetError(path, f"X has shape {x.shape}, expected (32, 32, 3, {len(y)})")
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    return x.transpose(3, 2, 0, 1).astype(np.float32) / 255.0, y


def load_svhn(root: Path) -> tuple[np.ndarray, ...]:
    return (
        *read_svhn_mat(_find(root, "train_32x32.mat")),
        *read_svhn_mat(_find(root, "test_32x32.mat")),
    )


_READERS = {
    "mnist": load_idx_dataset,
    "fashion-mnist": load_idx_dataset,
    "cifar10": load_cifar10,
    "svhn": load_svhn,
}


def load(name: str, root: Path) -> tuple[np.ndarray, ...]:
    if not root.is_dir():
        raise DatasetError(
            root, "dataset folder not found", f"Point dataset.root at the {name} files"
        )
    return _READERS[name](root)
