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
from weightspace.zoo.names import (  # noqa: F401 (FILE_DATASETS, USER_DATASETS: re-exported)
    FILE_DATASETS,
    IDX_FILES,
    NPZ_KEYS,
    USER_DATASETS,
)

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


# ---- the user's own data -------------------------------------------------------------------
# `NPZ_KEYS` and `USER_DATASETS` (the kinds and what their root holds): `weightspace.zoo.names`
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _as_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Images as float32 (N, C, H, W): uint8 is scaled by 1/255, (N, H, W) gets one channel and
    (N, H, W, C) with C in 1..4 is moved to channels-first."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3, 4) and x.shape[-1] in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or not len(x):
        raise DatasetError(
            path,
            f"{key} has shape {x.shape}",
            "Store images as (N, H, W), (N, C, H, W) or (N, H, W, C)",
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(path, f"{key} holds {x.dtype} values", "Store numbers")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DatasetError(path, f"{key} holds NaN or infinite values", "Store finite pixels")
    return x


def _as_labels(y: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1) if np.asarray(y).ndim <= 2 else np.asarray(y)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DatasetError(
            path,
            f"{key} must be {n} integer class labels >= 0 (one per image), got {y.dtype} {y.shape}",
            "Store labels as integers 0..K-1",
        )
    return y.astype(np.int64)


def load_npz(path: Path) -> tuple[np.ndarray, ...]:
    """``(train_x, train_y, [val_x, val_y,] test_x, test_y)`` from an .npz file (never pickles:
    ``allow_pickle=False``)."""
    if not path.is_file():
        raise DatasetError(path, "file not found", "Point dataset.root at your .npz file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zlib.error) as err:
        raise DatasetError(path, f"not a readable .npz file without pickles ({err})") from None
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing or (("x_val" in arrays) != ("y_val" in arrays)):
        raise DatasetError(
            path,
            f"missing arrays {missing or ['x_val/y_val (one without the other)']}; it holds "
            f"{sorted(arrays)}",
            "Save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
        )
    parts = ("train", "val", "test") if "x_val" in arrays else ("train", "test")
    out: list[np.ndarray] = []
    for part in parts:
        x = _as_images(arrays[f"x_{part}"], path, f"x_{part}")
        out += [x, _as_labels(arrays[f"y_{part}"], len(x), path, f"y_{part}")]
    _same_image_shape(path, out[0::2])
    return tuple(out)


def load_image_folder(root: Path) -> tuple[np.ndarray, ...]:
    """An ImageFolder layout (torchvision's): ``root/<class>/<image>``, one pool to split, or
    ``root/train|val|test/<class>/<image>`` with the given splits. Classes are the sorted folder
    names of the training part, shared by every part."""
    if not root.is_dir():
        raise DatasetError(root, "folder not found", "Point dataset.root at your image folder")
    parts = [p for p in ("train", "val", "test") if (root / p).is_dir()]
    if parts and not {"train", "test"} <= set(parts):
        raise DatasetError(root, f"found {parts} but not both train/ and test/")
    folders = {p: root / p for p in parts} if parts else {"pool": root}
    classes = sorted(d.name for d in next(iter(folders.values())).iterdir() if d.is_dir())
    if len(classes) < 2:
        raise DatasetError(
            root, f"{len(classes)} class folders", "Put each class's images in a folder of its own"
        )
    out: list[np.ndarray] = []
    for folder in folders.values():
        x, y = _read_class_folders(folder, classes)
        out += [x, y]
    _same_image_shape(root, out[0::2])
    return tuple(out)


def _read_class_folders(folder: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if found != classes:
        raise DatasetError(folder, f"class folders {found}, expected the training part's {classes}")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as image:
                    mode = "L" if image.mode in ("1", "L", "I;16", "I", "F") else "RGB"
                    pixels = np.asarray(image.convert(mode))
            except (OSError, UnidentifiedImageError) as err:
                raise DatasetError(file, f"not a readable image ({err})") from None
            images.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise DatasetError(folder, "no images", f"Use files ending in {', '.join(IMAGE_SUFFIXES)}")
    shapes = {i.shape for i in images}
    if len(shapes) > 1:
        raise DatasetError(
            folder, f"images of several shapes {sorted(shapes)}", "Resize them to one"
        )
    return np.stack(images).astype(np.float32) / 255.0, np.asarray(labels, dtype=np.int64)


def _same_image_shape(path: Path, parts: list[np.ndarray]) -> None:
    shapes = {tuple(x.shape[1:]) for x in parts}
    if len(shapes) > 1:
        raise DatasetError(path, f"the splits hold images of different shapes {sorted(shapes)}")


def load_user(name: str, root: Path) -> tuple[np.ndarray, ...]:
    """The arrays of a user's dataset of kind ``name`` (see `USER_DATASETS`)."""
    return load_npz(root) if name == "npz" else load_image_folder(root)
