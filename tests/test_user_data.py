"""The user's own image data: an .npz file and an ImageFolder tree, written here in their exact
layouts, end to end into a zoo; the input transform as part of the task."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from weightspace.errors import ConfigError, DatasetError
from weightspace.zoo import create_zoo, open_zoo
from weightspace.zoo.datasets import DatasetConfig, load_dataset, task_shape


def _pixels(n: int, classes: int = 3, seed: int = 0, shape=(8, 8)) -> tuple:  # noqa: ANN001
    """uint8 images whose class is readable from their brightness, and their labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    brightness = (80 * y).reshape(-1, *([1] * len(shape)))
    x = (rng.integers(0, 40, (n, *shape)) + brightness).astype(np.uint8)
    return x, y.astype(np.int64)


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "mine.npz"
    x_train, y_train = _pixels(60)
    x_test, y_test = _pixels(30, seed=1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path, (x_train, y_train, x_test, y_test)


def test_npz_loads_in_its_layout_and_carves_validation_from_train(npz):
    path, (x_train, y_train, x_test, y_test) = npz
    splits = load_dataset(DatasetConfig("npz", root=str(path), transform="unit"))
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 3
    assert len(splits.test_x) == 30 and len(splits.train_x) + len(splits.val_x) == 60
    np.testing.assert_allclose(splits.test_x[:, 0].numpy(), x_test / 255.0, rtol=1e-6)
    assert splits.test_y.tolist() == y_test.tolist()
    assert task_shape(DatasetConfig("npz", root=str(path))) == ((1, 8, 8), 3)


def test_npz_with_its_own_validation_split_keeps_it(tmp_path):
    (x, y), (xv, yv), (xt, yt) = _pixels(40), _pixels(9, seed=2), _pixels(12, seed=3)
    path = tmp_path / "three.npz"
    np.savez(path, x_train=x, y_train=y, x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    splits = load_dataset(DatasetConfig("npz", root=str(path)))
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (40, 9, 12)
    assert splits.val_y.tolist() == yv.tolist()


def test_transforms_are_the_published_standardization_or_what_the_user_says(npz):
    path, (x_train, *_) = npz
    root = str(path)
    standard = load_dataset(DatasetConfig("npz", root=root))
    assert abs(float(standard.train_x.mean())) < 1e-5  # training statistics by default
    assert float(standard.train_x.std()) == pytest.approx(1.0, abs=1e-3)
    own = load_dataset(
        DatasetConfig("npz", root=root, transform="meanstd", mean=(0.5,), std=(0.25,))
    )
    unit = load_dataset(DatasetConfig("npz", root=root, transform="unit"))
    np.testing.assert_allclose(own.test_x.numpy(), (unit.test_x.numpy() - 0.5) / 0.25, rtol=1e-5)
    with pytest.raises(ConfigError, match="mean/std"):
        DatasetConfig("npz", root=root, transform="meanstd")  # which mean? refused
    with pytest.raises(ConfigError, match="mean/std"):
        DatasetConfig("npz", root=root, mean=(0.5,), std=(0.2,))  # given but not used
    with pytest.raises(ConfigError, match="transform"):
        DatasetConfig("npz", root=root, transform="whiten")


def test_the_task_description_round_trips_and_old_manifests_read_the_same():
    from weightspace.config import from_mapping

    old = DatasetConfig("digits").to_dict()
    assert "transform" not in old and from_mapping(DatasetConfig, old) == DatasetConfig("digits")
    mine = DatasetConfig("digits", transform="meanstd", mean=(0.1,), std=(0.3,), grayscale=True)
    assert from_mapping(DatasetConfig, mine.to_dict()) == mine


def _write_folder(root, part: str, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:  # noqa: ANN001
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / part / names[label] if part else root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")


def test_image_folder_train_test_layout_with_colour_and_grayscale(tmp_path):
    names = ["cat", "dog", "emu"]  # classes are the sorted folder names
    x, y = _pixels(30, shape=(6, 6, 3))
    xt, yt = _pixels(12, seed=4, shape=(6, 6, 3))
    _write_folder(tmp_path, "train", x, y, names)
    _write_folder(tmp_path, "test", xt, yt, names)
    colour = load_dataset(DatasetConfig("imagefolder", root=str(tmp_path), transform="unit"))
    assert colour.input_shape == (3, 6, 6) and colour.num_classes == 3
    order = np.argsort([f"{names[label]}/{i:03d}" for i, label in enumerate(yt)])
    np.testing.assert_allclose(
        colour.test_x.numpy(), xt[order].transpose(0, 3, 1, 2) / 255.0, rtol=1e-6
    )
    assert colour.test_y.tolist() == yt[order].tolist()
    gray = load_dataset(
        DatasetConfig("imagefolder", root=str(tmp_path), transform="unit", grayscale=True)
    )
    assert gray.input_shape == (1, 6, 6)
    np.testing.assert_allclose(gray.test_x.numpy(), colour.test_x.numpy().mean(1, keepdims=True))
    assert task_shape(DatasetConfig("imagefolder", root=str(tmp_path), grayscale=True))[0] == (
        1,
        6,
        6,
    )


def test_one_pool_of_class_folders_is_split_by_seed(tmp_path):
    x, y = _pixels(40)
    _write_folder(tmp_path, "", x, y, ["a", "b", "c"])
    splits = load_dataset(DatasetConfig("imagefolder", root=str(tmp_path)))
    assert len(splits.train_x) + len(splits.val_x) + len(splits.test_x) == 40
    again = load_dataset(DatasetConfig("imagefolder", root=str(tmp_path)))
    assert splits.fingerprint() == again.fingerprint()


def test_bad_user_data_is_one_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "half.npz"
    x, y = _pixels(10)
    np.savez(path, x_train=x, y_train=y, x_test=x)  # y_test missing
    with pytest.raises(DatasetError, match=r"half\.npz.*y_test"):
        load_dataset(DatasetConfig("npz", root=str(path)))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x_train=np.array([{"a": 1}], dtype=object), y_train=y, x_test=x, y_test=y)
    with pytest.raises(DatasetError, match="without pickles"):  # never unpickled
        load_dataset(DatasetConfig("npz", root=str(pickled)))
    wrong = tmp_path / "labels.npz"
    np.savez(wrong, x_train=x, y_train=y[:5], x_test=x, y_test=y)
    with pytest.raises(DatasetError, match="y_train must be 10 integer class labels"):
        load_dataset(DatasetConfig("npz", root=str(wrong)))
    with pytest.raises(ConfigError, match="dataset.root"):
        DatasetConfig("imagefolder")
    mixed = tmp_path / "mixed"
    _write_folder(mixed, "", *_pixels(6), ["a", "b", "c"])
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(mixed / "a" / "odd.png")
    with pytest.raises(DatasetError, match="several shapes"):
        load_dataset(DatasetConfig("imagefolder", root=str(mixed)))


def test_a_zoo_trains_on_the_users_npz_and_keeps_its_task(npz, tmp_path):
    path, _ = npz
    dataset = DatasetConfig("npz", root=str(path), transform="meanstd", mean=(0.4,), std=(0.3,))
    config = tiny_config(dataset=dataset, seeds=1, lr=1e-3, epochs=1, batch_size=16)
    zoo = open_zoo(create_zoo(config, tmp_path / "zoo", progress=False).root)
    assert zoo.dataset == dataset  # the transform is part of the stored task
    assert zoo.num_models == 1 and np.isfinite(zoo.column("test_acc")).all()


def test_a_users_module_is_found_in_module_path_or_the_working_directory(
    tmp_path, capsys, monkeypatch
):
    import sys

    import torch

    from weightspace.cli import main

    made = create_zoo(tiny_config(seeds=2), tmp_path / "made", progress=False)
    src = tmp_path / "ckpts"
    src.mkdir()
    lines = ["file,model_id,epoch"]
    for r in range(len(made)):  # other key names: only the user's network can run them
        state = {f"layer{i}": v for i, v in enumerate(made.state_dict(r).values())}
        torch.save(state, src / f"{r}.pt")
        lines.append(f"{r}.pt,{made.column('model_id')[r]},{made.column('epoch')[r]}")
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "zoo"
    assert main(["zoo", "import", "--from", "folder", str(src), "--out", str(out)]) == 0
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "usernet_modpath.py").write_text(
        "from weightspace.zoo import ArchConfig, build_model\n\n\n"
        "def Net():\n"
        "    return build_model(ArchConfig('cnn-s', (1, 8, 8), 10, 'tanh'))\n"
    )
    attach = [
        "zoo",
        "attach",
        "--zoo",
        str(out),
        "--dataset",
        "digits",
        "--module",
        "usernet_modpath:Net",
    ]
    monkeypatch.chdir(tmp_path)  # not where the module is
    assert main(attach) == 2 and "--module" in capsys.readouterr().err
    assert main([*attach, "--module-path", str(tmp_path / "none")]) == 2
    assert main([*attach, "--module-path", str(mods)]) == 0
    assert "usernet_modpath" not in [p.rsplit("/", 1)[-1] for p in sys.path]  # path restored
    assert main(["zoo", "info", "--zoo", str(out)]) == 0
    assert f"from {mods}" in capsys.readouterr().out
    evaluate = ["zoo", "evaluate", "--zoo", str(out), "--module", "usernet_modpath:Net", "--quiet"]
    assert main([*evaluate, "--module-path", str(mods)]) == 0
    np.testing.assert_allclose(open_zoo(out).column("test_acc"), made.column("test_acc"))
    sys.modules.pop("usernet_modpath")  # found again, not from the import cache
    with pytest.raises(ConfigError, match="--module"):
        open_zoo(out).model(1, module="usernet_modpath:Net")
    monkeypatch.chdir(mods)  # the working directory is searched too
    x = torch.randn(3, 1, 8, 8)
    net = open_zoo(out).model(1, module="usernet_modpath:Net")
    torch.testing.assert_close(net(x), made.model(1)(x))
    sys.modules.pop("usernet_modpath", None)
