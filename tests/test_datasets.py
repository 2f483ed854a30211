import gzip

import numpy as np
import pytest
import torch
from scipy.io import savemat

from weightspace.errors import ConfigError, DatasetError
from weightspace.zoo import DatasetConfig, load_dataset
from weightspace.zoo.dataset_files import IDX_FILES


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_dataset(DatasetConfig("digits")), load_dataset(DatasetConfig("digits"))
    assert a.fingerprint() == b.fingerprint()
    assert len(a.train_x) + len(a.val_x) + len(a.test_x) == 1797
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    other = load_dataset(DatasetConfig("digits", split_seed=1))
    assert other.fingerprint() != a.fingerprint()


def test_train_fraction_keeps_a_subset():
    full = load_dataset(DatasetConfig("digits"))
    half = load_dataset(DatasetConfig("digits", train_fraction=0.5))
    assert len(half.train_x) == round(len(full.train_x) / 2)
    assert torch.equal(half.test_y, full.test_y)


def test_tetris_has_four_shapes_on_4x4():
    splits = load_dataset(DatasetConfig("tetris"))
    assert splits.input_shape == (1, 4, 4) and splits.num_classes == 4


def _write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader_on_written_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    for key, name in IDX_FILES.items():
        n = 50 if key.startswith("train") else 20
        array = rng.integers(0, 256, (n, 28, 28)) if key.endswith("x") else rng.integers(0, 10, n)
        _write_idx(tmp_path / name, array.astype(np.uint8), gz)
    splits = load_dataset(DatasetConfig("mnist", root=str(tmp_path)))
    assert splits.input_shape == (1, 28, 28)
    assert len(splits.test_x) == 20 and len(splits.train_x) + len(splits.val_x) == 50


def test_idx_loader_rejects_truncated_file(tmp_path):
    for key, name in IDX_FILES.items():
        array = np.zeros((4, 28, 28) if key.endswith("x") else (4,), np.uint8)
        _write_idx(tmp_path / name, array)
    path = tmp_path / IDX_FILES["train_x"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*size mismatch"):
        load_dataset(DatasetConfig("mnist", root=str(tmp_path)))


def test_cifar10_binary_loader(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in [*[(f"data_batch_{i}.bin", 8) for i in range(1, 6)], ("test_batch.bin", 6)]:
        records = rng.integers(0, 256, (n, 3073)).astype(np.uint8)
        records[:, 0] = rng.integers(0, 10, n)
        (tmp_path / name).write_bytes(records.tobytes())
    splits = load_dataset(DatasetConfig("cifar10", root=str(tmp_path)))
    assert splits.input_shape == (3, 32, 32) and len(splits.test_x) == 6
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="test_batch.bin.*3073-byte"):
        load_dataset(DatasetConfig("cifar10", root=str(tmp_path)))


def test_svhn_mat_loader_maps_label_10_to_0(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 30), ("test_32x32.mat", 10)):
        x = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = np.full((n, 1), 10, np.uint8)
        y[0] = 3
        savemat(tmp_path / name, {"X": x, "y": y})
    splits = load_dataset(DatasetConfig("svhn", root=str(tmp_path)))
    assert splits.input_shape == (3, 32, 32)
    assert set(splits.test_y.tolist()) == {0, 3}
    (tmp_path / "test_32x32.mat").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="test_32x32.mat"):
        load_dataset(DatasetConfig("svhn", root=str(tmp_path)))


def test_file_dataset_needs_a_root_and_existing_files(tmp_path):
    with pytest.raises(ConfigError, match="dataset.root"):
        DatasetConfig("mnist")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(DatasetConfig("cifar10", root=str(tmp_path)))
    with pytest.raises(ConfigError, match="dataset"):
        DatasetConfig("imagenet")
