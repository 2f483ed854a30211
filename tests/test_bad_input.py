"""A careful new user and a security reviewer, table-driven: every case is a command (or a
Python call) that must fail with exit status 2 and exactly one ``error:`` line that names the
field or file, no traceback, and every file that existed before byte-identical afterwards
(nothing new written either). The data-loss and silently-wrong cases of the review follow as
regression tests with positive controls.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import tiny_config

from weightspace.cli import main
from weightspace.errors import WeightspaceError
from weightspace.zoo import create_zoo, open_zoo


@dataclass(frozen=True)
class World:
    """Inputs shared by every case (built once; a case that changes them fails)."""

    root: Path
    zoo: Path  # cnn-s on digits, 8 models x 2 checkpoints
    other: Path  # the same architecture, other learning rates: another zoo's content
    mlp: Path  # another architecture
    run: Path  # a finished `fit` of SANE tiny on `zoo`
    hrun: Path  # a finished `fit` of HyperRep tiny on `zoo`


FIT = ("--preset", "tiny", "--epochs", "1", "--batch-size", "4", "--quiet")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    create_zoo(tiny_config(seeds=4, epochs=1), root / "zoo", progress=False)
    create_zoo(tiny_config(seeds=4, epochs=1, lr=[2e-3, 4e-3]), root / "other", progress=False)
    mlp = tiny_config(architecture="mlp", hidden=[6], seeds=1, epochs=1, name="mlp")
    create_zoo(mlp, root / "mlp", progress=False)
    w = World(root, root / "zoo", root / "other", root / "mlp", root / "run", root / "hrun")
    assert main(["fit", "--zoo", str(w.zoo), "--out", str(w.run), *FIT]) == 0
    hyper = ["fit", "--zoo", str(w.zoo), "--model", "hyperrep", "--out", str(w.hrun), *FIT]
    assert main(hyper) == 0
    return w


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (what a failed command must leave alone)."""
    files = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


# ---- the cases ----------------------------------------------------------------------------
# argv(w, s) builds the command from the world and the case's scratch folder; setup(w, s)
# plants what the case needs in the scratch folder first; `names` is what the error line must
# mention (the field, flag or file).
@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[World, Path], list[str]]
    names: str
    setup: Callable[[World, Path], None] | None = None


CASES: list[Case] = []


def case(id: str, names: str, setup=None):  # noqa: ANN001, ANN201
    def register(argv):  # noqa: ANN001, ANN202
        CASES.append(Case(id, argv, names, setup))
        return argv

    return register


def cli(id: str, names: str, *argv: str | tuple[str, ...], setup=None) -> None:  # noqa: ANN001
    """A case whose command is words (split on spaces) and tuples of words, with {zoo}, {run},
    {s} ... filled in from the world and the scratch folder."""

    def build(w: World, s: Path) -> list[str]:
        fields = {k: str(getattr(w, k)) for k in ("zoo", "other", "mlp", "run", "hrun", "root")}
        words = [w for a in argv for w in (a.split() if isinstance(a, str) else a)]
        return [word.format(s=s, **fields) for word in words]

    CASES.append(Case(id, build, names, setup))


def write(name: str, content: str | bytes) -> Callable[[World, Path], None]:
    def setup(w: World, s: Path) -> None:
        path = s / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)

    return setup


def zoo_config(**changes) -> str:  # noqa: ANN003
    raw = tiny_config(seeds=1, epochs=1).to_dict()
    raw.update(changes)
    return json.dumps(raw)


# -- 1. command-line misuse (argparse) --
cli("no-command", "command")
cli(
    "demo-out-user-files", "--out", "demo --quick --out {s}/u", setup=write("u/report.html", "mine")
)
cli("demo-out-user-folder", "--out", "demo --quick --out {s}/u", setup=write("u/notes.txt", "mine"))
cli("demo-out-is-a-zoo", "--out", "demo --quick --out {zoo}")
cli("zoo-no-subcommand", "zoo_command", "zoo")
cli("unknown-command", "invalid choice", "train")
cli("fit-no-zoo", "--zoo", "fit --out {s}/r")
cli("fit-no-out", "--out", "fit --zoo {zoo}")
cli("fit-bad-model", "--model", "fit --zoo {zoo} --out {s}/r --model gpt")
cli("fit-epochs-word", "--epochs", "fit --zoo {zoo} --out {s}/r --epochs two")
cli("fit-lr-word", "--lr", "fit --zoo {zoo} --out {s}/r --lr big")
cli("fit-old-flag", "--behaviour", "fit --zoo {zoo} --out {s}/r --behaviour 1")
cli("fit-unknown-flag", "--wings", "fit --zoo {zoo} --out {s}/r --wings")
cli("fit-bad-pooling", "--pooling", "fit --zoo {zoo} --out {s}/r --pooling max")
cli("fit-zoo-epochs-float", "--zoo-epochs", "fit --zoo {zoo} --out x --zoo-epochs 1.5")
cli("embed-no-model", "--model", "embed --zoo {zoo} --out {s}/e.parquet")
cli("sample-n-word", "--n", "sample --model {run} --zoo {zoo} --out x --n ten")
cli(
    "create-bad-backend", "--backend", "zoo create --preset digits-tiny --out {s}/z --backend spark"
)
cli("create-bad-device", "--device", "zoo create --preset digits-tiny --out {s}/z --device tpu")
cli("import-bad-source", "--from", "zoo import --from hub {s} --out {s}/z")
cli("info-no-dir", "--zoo", "zoo info")
cli("probe-no-zoo", "--zoo", "probe")
cli("demo-bad-device", "--device", "demo --device tpu --out {s}/d")

# -- 2. zoo create: configs of the wrong type, shape or range --
BAD_CONFIGS = {
    # JSON value -> the field the error must name
    "seeds-true": ({"seeds": True}, "seeds"),
    "seeds-zero": ({"seeds": 0}, "seeds"),
    "seeds-negative": ({"seeds": -3}, "seeds"),
    "seeds-float": ({"seeds": 1.5}, "seeds"),
    "seeds-string": ({"seeds": "2"}, "seeds"),
    "epochs-negative": ({"epochs": -1}, "epochs"),
    "epochs-string": ({"epochs": "3"}, "epochs"),
    "epochs-true": ({"epochs": True}, "epochs"),
    "batch-zero": ({"batch_size": 0}, "batch_size"),
    "batch-list": ({"batch_size": [32]}, "batch_size"),
    "shard-zero": ({"shard_size": 0}, "shard_size"),
    "hidden-zero": ({"hidden": [0]}, "hidden"),
    "hidden-negative": ({"hidden": [-4]}, "hidden"),
    "hidden-string": ({"hidden": "32"}, "hidden"),
    "hidden-float": ({"hidden": [1.5]}, "hidden"),
    "hidden-bool": ({"hidden": [True]}, "hidden"),
    "seed-negative": ({"seed": -1}, "seed"),
    "seed-float": ({"seed": 0.5}, "seed"),
    "random-seeds-word": ({"random_seeds": "yes"}, "random_seeds"),
    "name-number": ({"name": 5}, "name"),
    "lr-zero": ({"lr": 0}, "lr"),
    "lr-negative": ({"lr": -1e-3}, "lr"),
    "lr-word": ({"lr": "big"}, "lr"),
    "lr-empty-grid": ({"lr": []}, "lr"),
    "lr-nested": ({"lr": [[1e-3]]}, "lr"),
    "lr-reversed-range": ({"lr": {"loguniform": [1e-2, 1e-4]}}, "lr"),
    "lr-log-of-zero": ({"lr": {"loguniform": [0, 1e-2]}}, "lr"),
    "lr-one-bound": ({"lr": {"uniform": [1e-3]}}, "lr"),
    "lr-word-bounds": ({"lr": {"uniform": ["a", "b"]}}, "lr"),
    "lr-unknown-distribution": ({"lr": {"normal": [0, 1]}}, "lr"),
    "lr-bounds-not-list": ({"lr": {"loguniform": 5}}, "lr"),
    "lr-two-distributions": ({"lr": {"uniform": [0, 1], "choice": [1]}}, "lr"),
    "dropout-above-one": ({"dropout": 1.5}, "dropout"),
    "dropout-negative": ({"dropout": -0.1}, "dropout"),
    "dropout-reversed": ({"dropout": {"uniform": [0.5, 0.1]}}, "dropout"),
    "weight-decay-negative": ({"weight_decay": -1}, "weight_decay"),
    "activation-unknown": ({"activation": "swish"}, "activation"),
    "activation-empty": ({"activation": []}, "activation"),
    "activation-range": ({"activation": {"uniform": [0, 1]}}, "activation"),
    "activation-number": ({"activation": 5}, "activation"),
    "activation-nested": ({"activation": [["relu"]]}, "activation"),
    "init-unknown": ({"init": "xavier"}, "init"),
    "optimizer-unknown": ({"optimizer": "rmsprop"}, "optimizer"),
    "architecture-unknown": ({"architecture": "vgg"}, "architecture"),
    "architecture-number": ({"architecture": 5}, "architecture"),
    "dataset-unknown": ({"dataset": "imagenet"}, "dataset"),
    "dataset-number": ({"dataset": 5}, "dataset"),
    "dataset-misspelt-key": ({"dataset": {"nme": "digits"}}, "nme"),
    "dataset-val-fraction": ({"dataset": {"name": "digits", "val_fraction": 0.9}}, "val_fraction"),
    "dataset-split-seed": ({"dataset": {"name": "digits", "split_seed": -1}}, "split_seed"),
    "dataset-split-seed-word": ({"dataset": {"name": "digits", "split_seed": "1"}}, "split_seed"),
    "dataset-tetris-none": ({"dataset": {"name": "tetris", "tetris_samples": 0}}, "tetris_samples"),
    "dataset-mnist-no-root": ({"dataset": {"name": "mnist"}}, "root"),
    "dataset-mnist-missing-root": (
        {"dataset": {"name": "mnist", "root": "/nonexistent/m"}},
        "/nonexistent/m",
    ),
    "checkpoint-epochs-beyond": ({"checkpoint_epochs": [0, 99]}, "checkpoint_epochs"),
    "checkpoint-epochs-empty": ({"checkpoint_epochs": []}, "checkpoint_epochs"),
    "checkpoint-epochs-word": ({"checkpoint_epochs": "all"}, "checkpoint_epochs"),
    "train-metrics-unknown": ({"train_metrics": "some"}, "train_metrics"),
    "misspelt-key": ({"sedes": 3}, "sedes"),
}
for _id, (_changes, _field) in BAD_CONFIGS.items():
    config = write("zoo.json", zoo_config(**_changes))
    cli(
        f"create-config-{_id}", _field, "zoo create --config {s}/zoo.json --out {s}/z", setup=config
    )

CONFIG_FILES = {
    # file name, content -> what the error names
    "json-list": ("zoo.json", "[]", "table of settings"),
    "json-string": ("zoo.json", '"digits-tiny"', "table of settings"),
    "json-number": ("zoo.json", "3", "table of settings"),
    "json-broken": ("zoo.json", '{"seeds": 2,', "valid JSON"),
    "json-empty": ("zoo.json", "", "valid JSON"),
    "not-utf8": ("zoo.json", b'{"name": "\xff\xfe"}', "UTF-8"),
    "toml-broken": ("zoo.toml", "seeds = = 2", "valid TOML"),
    "toml-upper-suffix-bad-value": ("zoo.TOML", "seeds = true", "seeds"),
    "toml-reversed-range": ("zoo.toml", "lr = {loguniform = [1e-2, 1e-4]}", "lr"),
    "yaml-suffix": ("zoo.yaml", "seeds: 2", "zoo.yaml"),
}
for _id, (_name, _content, _names) in CONFIG_FILES.items():
    argv = f"zoo create --config {{s}}/{_name} --out {{s}}/z --quiet"
    cli(f"create-file-{_id}", _names, argv, setup=write(_name, _content))
CREATE_FLAGS = {
    "seeds-zero": ("--seeds 0", "seeds"),
    "seed-negative": ("--seed -1", "seed"),
    "epochs-negative": ("--epochs -1", "epochs"),
    "hidden-zero": ("--hidden 8 0", "hidden"),
    "checkpoint-epochs-beyond": ("--checkpoint-epochs 99", "checkpoint_epochs"),
    "architecture-unknown": ("--architecture vgg", "architecture"),
    "train-metrics-unknown": ("--train-metrics some", "train_metrics"),
}
for _id, (_flags, _field) in CREATE_FLAGS.items():
    cli(f"create-flag-{_id}", _field, "zoo create --preset digits-tiny --out {s}/z", _flags)
cli("create-config-missing", "nothing.json", "zoo create --config {s}/nothing.json --out {s}/z")
cli(
    "create-config-is-dir",
    "--config",
    "zoo create --config {s}/d.json --out {s}/z",
    setup=write("d.json/x", "1"),
)
cli(
    "create-preset-and-config",
    "--preset",
    "zoo create --preset digits-tiny --config {s}/c.json --out {s}/z",
)
cli("create-neither", "--preset", "zoo create --out {s}/z")
cli("create-unknown-preset", "--preset", "zoo create --preset digits-tiy --out {s}/z")
cli(
    "create-out-is-file",
    "--out",
    "zoo create --preset digits-tiny --out {s}/f",
    setup=write("f", "mine"),
)
cli(
    "create-out-under-file",
    "--out",
    "zoo create --preset digits-tiny --out {s}/f/z",
    setup=write("f", "mine"),
)
cli(
    "create-out-user-folder",
    "--out",
    "zoo create --preset digits-tiny --out {s}/u",
    setup=write("u/notes.txt", "mine"),
)
cli("create-out-other-zoo", "--out", "zoo create --preset digits-tiny --out {zoo}")
cli(
    "create-cuda-without-gpu",
    "--device",
    "zoo create --preset digits-tiny --out {s}/z --device cuda",
)
cli(
    "create-missing-data-root",
    "/nonexistent/mnist",
    "zoo create --preset mnist-hyp10-fixed --out {s}/z --data-root /nonexistent/mnist",
)


def _damaged_mnist(w: World, s: Path) -> None:
    names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    (s / "mnist").mkdir()
    for name in names:
        data = gzip.compress(b"\x00\x00\x08\x01" + (4).to_bytes(4, "big") + bytes(4))
        (s / "mnist" / f"{name}.gz").write_bytes(data[: len(data) // 2])  # cut short


cli(
    "create-damaged-gz",
    "train-images-idx3-ubyte.gz",
    "zoo create --preset mnist-hyp10-fixed --out {s}/z --data-root {s}/mnist",
    setup=_damaged_mnist,
)


# -- 3. zoo info on damaged, crafted and wrong-kind zoos --
def crafted(change: Callable[[Path], None], rehash: bool = True) -> Callable[[World, Path], None]:
    """A copy of the world's zoo with ``change`` applied; with ``rehash`` the manifest's hashes
    are updated so that only the structure checks can catch it."""

    def setup(w: World, s: Path) -> None:
        shutil.copytree(w.zoo, s / "z")
        change(s / "z")
        if rehash and (s / "z" / "manifest.json").is_file():
            try:
                manifest = json.loads((s / "z" / "manifest.json").read_text())
            except ValueError:  # the case damaged the manifest itself
                return
            table = s / "z" / "checkpoints.parquet"
            if isinstance(manifest, dict) and isinstance(manifest.get("table"), dict):
                if table.is_file():
                    manifest["table"]["sha256"] = hashlib.sha256(table.read_bytes()).hexdigest()
                (s / "z" / "manifest.json").write_text(json.dumps(manifest))

    return setup


def edit_manifest(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def change(z: Path) -> None:
        manifest = json.loads((z / "manifest.json").read_text())
        result = edit(manifest)
        (z / "manifest.json").write_text(json.dumps(manifest if result is None else result))

    return change


def edit_table(edit: Callable[[pa.Table], pa.Table]) -> Callable[[Path], None]:
    def change(z: Path) -> None:
        pq.write_table(edit(pq.read_table(z / "checkpoints.parquet")), z / "checkpoints.parquet")

    return change


def _set_column(name: str, values: Callable[[pa.Table], pa.Array]) -> Callable[[Path], None]:
    def edit(t: pa.Table) -> pa.Table:
        return t.set_column(t.column_names.index(name), name, values(t))

    return edit_table(edit)


def _param(key: str, value: object) -> Callable[[dict], None]:
    def edit(m: dict) -> None:
        first = next(iter(m["architecture"]["parameters"]))
        m["architecture"]["parameters"][first][key] = value

    return edit


def _manifest_dir(z: Path) -> None:
    (z / "manifest.json").unlink()
    (z / "manifest.json").mkdir()


ZOOS = {
    "missing": (None, "zoo directory not found"),
    "empty-dir": (lambda z: [p.unlink() for p in z.rglob("*") if p.is_file()], "manifest"),
    "manifest-is-dir": (_manifest_dir, "manifest.json"),
    "manifest-not-json": (lambda z: (z / "manifest.json").write_text("{"), "manifest.json"),
    "manifest-not-utf8": (lambda z: (z / "manifest.json").write_bytes(b"\xff{}"), "manifest.json"),
    "manifest-list": (edit_manifest(lambda m: [m]), "manifest.json"),
    "manifest-no-table": (edit_manifest(lambda m: m.pop("table") and None), "manifest.json"),
    "manifest-table-string": (edit_manifest(lambda m: m.update(table="x")), "manifest.json"),
    "manifest-shards-dict": (edit_manifest(lambda m: m.update(shards={})), "manifest.json"),
    "manifest-shard-escapes": (
        edit_manifest(lambda m: m["shards"][0].update(file="../../x")),
        "manifest.json",
    ),
    "manifest-version": (edit_manifest(lambda m: m.update(format_version=99)), "format_version"),
    "manifest-bad-dtype": (edit_manifest(_param("dtype", "float128x")), "dtype"),
    "manifest-negative-shape": (edit_manifest(_param("shape", [-1])), "shape"),
    "manifest-no-parameters": (
        edit_manifest(lambda m: m["architecture"].pop("parameters") and None),
        "parameters",
    ),
    "manifest-config-bad": (edit_manifest(lambda m: m["config"].update(seeds=True)), "seeds"),
    "table-corrupt": (
        lambda z: (z / "checkpoints.parquet").write_bytes(b"PAR1 garbage"),
        "checkpoints.parquet",
    ),
    "shard-missing": (
        lambda z: next((z / "shards").glob("*.safetensors")).unlink(),
        "shards/shard-",
    ),
    "shard-modified": (
        lambda z: next((z / "shards").glob("*.safetensors")).write_bytes(b"x"),
        "sha256",
    ),
    "table-no-shard-row": (edit_table(lambda t: t.drop(["shard_row"])), "shard_row"),
    "table-shard-row-beyond": (
        _set_column("shard_row", lambda t: pa.array([999] * t.num_rows)),
        "shard_row",
    ),
    "table-shard-unknown": (
        _set_column("shard", lambda t: pa.array([99] * t.num_rows)),
        "shard 99",
    ),
    "table-epoch-strings": (_set_column("epoch", lambda t: pa.array(["x"] * t.num_rows)), "epoch"),
}
for _id, (_change, _names) in ZOOS.items():
    if _change is None:
        cli(f"info-{_id}", _names, "zoo info --zoo {s}/z")
    else:
        cli(f"info-{_id}", _names, "zoo info --zoo {s}/z", setup=crafted(_change))
cli("info-on-a-file", "z", "zoo info --zoo {s}/z", setup=write("z", "not a zoo"))

# -- 4. fit: settings checked before training --
FIT_FLAGS = {
    "lr-zero": (["--lr", "0"], "lr"),
    "lr-negative": (["--lr", "-1"], "lr"),
    "lr-nan": (["--lr", "nan"], "lr"),
    "lr-inf": (["--lr", "inf"], "lr"),
    "epochs-zero": (["--epochs", "0"], "epochs"),
    "batch-zero": (["--batch-size", "0"], "--batch-size"),
    "device-unknown": (["--device", "xyz"], "device"),
    "device-cuda-without-gpu": (["--device", "cuda"], "device"),
    "gamma-above-one": (["--gamma", "2"], "gamma"),
    "warmup-negative": (["--warmup", "-0.5"], "warmup"),
    "noise-negative": (["--noise", "-1"], "noise"),
    "erase-above-one": (["--erase", "2"], "erase"),
    "seed-negative": (["--seed", "-1"], "seed"),
    "queries-zero": (["--queries", "0"], "queries"),
    "temperature-zero": (["--temperature", "0"], "temperature"),
    "grad-clip-zero": (["--grad-clip", "0"], "--grad-clip"),
    "probe-rows-zero": (["--probe-rows", "0"], "--probe-rows"),
    "behaviour-weight-above-one": (["--behaviour-weight", "1.5"], "--behaviour-weight"),
    "behaviour-weight-window": (["--behaviour-weight", "0.5"], "behaviour_weight"),
    "behaviour-temperature-zero": (["--behaviour-temperature", "0"], "--behaviour-temperature"),
    "zoo-epochs-absent": (["--zoo-epochs", "99"], "zoo_epochs"),
    "preset-unknown": (["--preset", "huge"], "--preset"),
    "pooling-hyperrep": (["--model", "hyperrep", "--pooling", "layer"], "--pooling"),
    "split-seed-negative": (["--split", "plain", "--split-seed", "-1"], "seed"),
}
for _id, (_flags, _names) in FIT_FLAGS.items():
    cli(f"fit-{_id}", _names, "fit --zoo {zoo} --out {s}/r", FIT, _flags)

FIT_CONFIGS = {
    "list": ("t.json", "[]", "table of settings"),
    "unknown-key": ("t.json", '{"lr": 1e-3, "lrate": 2}', "lrate"),
    "lr-word": ("t.json", '{"lr": "big"}', "lr"),
    "epochs-true": ("t.toml", "epochs = true", "epochs"),
    "splits-bad": ("t.toml", "[splits]\nfractions = [1, 2]", "fractions"),
    "behaviour-old-name": ("t.json", '{"behaviour": 0.1}', "behaviour"),
}
for _id, (_name, _content, _names) in FIT_CONFIGS.items():
    argv = f"fit --zoo {{zoo}} --out {{s}}/r --config {{s}}/{_name} --quiet"
    cli(f"fit-config-{_id}", _names, argv, setup=write(_name, _content))
cli("fit-config-missing", "t.json", "fit --zoo {zoo} --out {s}/r --config {s}/t.json")
cli("fit-zoo-missing", "nozoo", "fit --zoo {s}/nozoo --out {s}/r", FIT)
cli("fit-zoo-is-run", "manifest", "fit --zoo {run} --out {s}/r", FIT)
cli("fit-out-is-file", "--out", "fit --zoo {zoo} --out {s}/f", FIT, setup=write("f", "mine"))
cli("fit-out-under-file", "--out", "fit --zoo {zoo} --out {s}/f/r", FIT, setup=write("f", "mine"))
# data loss: a folder of the user's that holds files of the names fit writes
cli(
    "fit-out-user-files",
    "--out",
    "fit --zoo {zoo} --out {s}/u",
    FIT,
    setup=write("u/config.json", '{"mine": 1}'),
)
cli(
    "fit-out-user-weights",
    "--out",
    "fit --zoo {zoo} --out {s}/u",
    FIT,
    setup=write("u/model.safetensors", "mine"),
)
cli(
    "fit-out-user-checkpoint",
    "--out",
    "fit --zoo {zoo} --out {s}/u",
    FIT,
    setup=write("u/checkpoint/notes.md", "mine"),
)
cli("fit-out-a-zoo", "--out", "fit --zoo {zoo} --out {other}", FIT)
# silently wrong: a run directory of another zoo, another preset, another model
cli("fit-resume-other-zoo", "zoo_sha256", "fit --zoo {other} --out {run}", FIT)
cli(
    "fit-resume-other-preset",
    "model_config",
    "fit --zoo {zoo} --out {run}",
    FIT[2:],
    "--preset small",
)
cli("fit-resume-other-model", "model", "fit --zoo {zoo} --out {run} --model hyperrep", FIT)
cli(
    "fit-resume-other-settings",
    "epochs",
    "fit --zoo {zoo} --out {run}",
    FIT[:2],
    "--epochs 3",
    FIT[4:],
)
cli("fit-resume-other-architecture", "zoo", "fit --zoo {mlp} --out {run}", FIT)

# -- 5. embed --
cli(
    "embed-out-exists",
    "--overwrite",
    "embed --model {run} --zoo {zoo} --out {s}/e.parquet",
    setup=write("e.parquet", "mine"),
)
cli(
    "embed-out-in-zoo",
    "--out",
    "embed --model {run} --zoo {zoo} --out {zoo}/checkpoints.parquet --overwrite",
)
cli("embed-out-in-zoo-new-name", "--out", "embed --model {run} --zoo {zoo} --out {zoo}/e.parquet")
cli(
    "embed-out-in-model",
    "--out",
    "embed --model {run} --zoo {zoo} --out {run}/model.safetensors --overwrite",
)
cli("embed-out-is-dir", "--out-file", "embed --model {run} --zoo {zoo} --out-file {s} --overwrite")
cli(
    "embed-out-under-file",
    "--out",
    "embed --model {run} --zoo {zoo} --out {s}/f/e.parquet",
    setup=write("f", "mine"),
)
cli("embed-model-missing", "nomodel", "embed --model {s}/nomodel --zoo {zoo} --out {s}/e.parquet")
cli("embed-model-is-zoo", "config.json", "embed --model {zoo} --zoo {zoo} --out {s}/e.parquet")
cli(
    "embed-pooling-hyperrep",
    "--pooling",
    "embed --model {hrun} --zoo {zoo} --out {s}/e.parquet --pooling layer",
)
cli("embed-other-architecture", "zoo", "embed --model {run} --zoo {mlp} --out {s}/e.parquet")
cli("embed-zoo-missing", "nozoo", "embed --model {run} --zoo {s}/nozoo --out {s}/e.parquet")


def _encoder_copy(change: Callable[[Path], None]) -> Callable[[World, Path], None]:
    def setup(w: World, s: Path) -> None:
        shutil.copytree(w.run, s / "m")
        change(s / "m")

    return setup


def _edit_json(name: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def change(m: Path) -> None:
        raw = json.loads((m / name).read_text())
        edit(raw)
        (m / name).write_text(json.dumps(raw))

    return change


ENCODER_DAMAGE = {
    "weights-missing": (lambda m: (m / "model.safetensors").unlink(), "model"),
    "weights-garbage": (lambda m: (m / "model.safetensors").write_bytes(b"\x00" * 64), "model"),
    "config-garbage": (lambda m: (m / "config.json").write_text("{"), "config.json"),
    "kind-unknown": (_edit_json("config.json", lambda c: c.update(kind="gpt")), "kind"),
    "train-bad": (_edit_json("config.json", lambda c: c["train"].update(lr=-1)), "m"),
}
for _id, (_change, _names) in ENCODER_DAMAGE.items():
    argv = "embed --model {s}/m --zoo {zoo} --out {s}/e.parquet"
    cli(f"embed-encoder-{_id}", _names, argv, setup=_encoder_copy(_change))

# -- 6. sample --
SAMPLE = ("sample", "--model", "{run}", "--zoo", "{zoo}", "--n", "2")
cli("sample-seed-negative", "--seed", SAMPLE, "--out {s}/z --seed -1")
cli("sample-n-zero", "n", SAMPLE[:-1], "0 --out {s}/z")
cli("sample-method-unknown", "method", SAMPLE, "--out {s}/z --method gan")
cli("sample-out-is-file", "--out", SAMPLE, "--out {s}/f", setup=write("f", "mine"))
cli("sample-out-is-the-zoo", "--out", SAMPLE, "--out {zoo}")
cli("sample-out-in-zoo", "--out", SAMPLE, "--out {zoo}/samples")
cli("sample-out-in-model", "--out", SAMPLE, "--out {run}/samples")
cli("sample-model-missing", "nomodel", "sample --model {s}/nomodel --zoo {zoo} --out {s}/z")
cli("sample-other-architecture", "zoo", "sample --model {run} --zoo {mlp} --out {s}/z")
cli("sample-out-user-folder", "out", SAMPLE, "--out {s}/u", setup=write("u/notes.txt", "mine"))

# -- 7. probe: outputs and option combinations, checked before probing --
PROBE = ("probe", "--zoo", "{zoo}", "--bootstrap", "0")
cli("probe-json-exists", "--overwrite", PROBE, "--json {s}/p.json", setup=write("p.json", "mine"))
cli("probe-csv-exists", "--overwrite", PROBE, "--csv {s}/p.csv", setup=write("p.csv", "mine"))
cli("probe-plot-exists", "--overwrite", PROBE, "--plot {s}/p.png", setup=write("p.png", "mine"))
cli("probe-json-in-zoo", "--json", PROBE, "--json {zoo}/manifest.json --overwrite")
cli("probe-csv-is-dir", "--csv", PROBE, "--csv {s} --overwrite")
cli("probe-plot-in-model", "--plot", PROBE, "--model {run} --plot {run}/p.png")
cli("probe-pooling-hyperrep", "--pooling", PROBE, "--model {hrun} --pooling layer")
cli("probe-model-missing", "nomodel", PROBE, "--model {s}/nomodel")
cli("probe-split-seed-negative", "seed", PROBE, "--split plain --split-seed -1")
cli("probe-zoo-epochs-absent", "epoch", PROBE, "--zoo-epochs 99")
cli("probe-zoo-missing", "nozoo", "probe --zoo {s}/nozoo")


# -- 8. zoo import (the importer's own checks) --
def _source(w: World, s: Path, extra: dict | None = None) -> None:
    """A folder of two plain state dicts and their metadata.csv, plus ``extra`` files."""
    (s / "src").mkdir()
    zoo = open_zoo(w.zoo)
    for i in range(2):
        torch.save(zoo.state_dict(i), s / "src" / f"m{i}.pt")
    (s / "src" / "metadata.csv").write_text("file,model_id,epoch\nm0.pt,0,0\nm1.pt,1,0\n")
    for name, content in (extra or {}).items():
        write(name, content)(w, s)


def source(**extra: str):  # noqa: ANN201
    return lambda w, s: _source(w, s, {k.replace("__", "/"): v for k, v in extra.items()})


IMPORT = ("zoo", "import", "--from", "folder")
cli("import-source-missing", "nosrc", IMPORT, "{s}/nosrc --out {s}/z")
cli("import-source-is-file", "f", IMPORT, "{s}/f --out {s}/z", setup=write("f", "mine"))
cli("import-out-dot", "--out", IMPORT, "{s}/src --out .", setup=source())
cli("import-out-user-folder", "out", IMPORT, "{s}/src --out {s}/u", setup=source(u__notes="mine"))
cli("import-out-is-file", "--out", IMPORT, "{s}/src --out {s}/f", setup=source(f="mine"))
cli("import-out-is-source", "--out", IMPORT, "{s}/src --out {s}/src", setup=source())
cli("import-out-is-a-zoo", "--out", IMPORT, "{s}/src --out {zoo}", setup=source())
cli(
    "import-empty-folder",
    "metadata.csv",
    IMPORT,
    "{s}/src --out {s}/z",
    setup=write("src/readme.txt", "empty"),
)
cli(
    "import-metadata-escapes",
    "file",
    IMPORT,
    "{s}/src --out {s}/z",
    setup=write("src/metadata.csv", "file,model_id,epoch\n../../etc/passwd,0,0\n"),
)

cli("import-list-entries-word", "--list-entries", IMPORT, "{s}/src --out {s}/z --list-entries rows",
    setup=source())  # fmt: skip
cli(
    "import-module-path-missing",
    "--module-path",
    IMPORT,
    "{s}/src --out {s}/z --dataset digits --module m:Net --module-path {s}/nomods",
    setup=source(),
)
cli("attach-module-not-found", "--module", "zoo attach --zoo {zoo} --module nosuchmod_x:Net")


# -- 8c. the commands not met above: each refuses a missing input or a wrong flag --
cli("presets-unknown-flag", "--family", "zoo presets --family cnn")
cli("evaluate-zoo-missing", "nozoo", "zoo evaluate --zoo {s}/nozoo --quiet")
cli("evaluate-chunk-zero", "--chunk", "zoo evaluate --zoo {zoo} --chunk 0 --quiet")
cli("export-bad-layout", "--to", "zoo export --zoo {zoo} --to onnx --out {s}/e")
cli("export-out-is-the-zoo", "--out", "zoo export --zoo {zoo} --to smallcnn --out {zoo}")
cli("compare-twin-is-no-twin", "twin", "zoo compare --zoo {zoo} --twin {other} --out {s}/c")
cli("report-run-missing", "norun", "report {s}/norun")
cli("reproduce-unknown", "nothing-1999", "reproduce nothing-1999 --out {s}/r")
cli("reproduce-zoo-twins", "--zoo", "reproduce twins-2023 --zoo {zoo} --out {s}/r")
cli("reproduce-zoo-missing", "nozoo", "reproduce sane-2024 --zoo {s}/nozoo --out {s}/r")
cli(
    "reproduce-zoo-epochs-absent",
    "--zoo-epochs",
    "reproduce sane-2024 --zoo {zoo} --zoo-epochs 99 --out {s}/r",
)
cli("reproduce-zoo-epochs-alone", "--zoo-epochs", "reproduce sane-2024 --zoo-epochs 1 --out {s}/r")
cli("diagnose-fit-table-missing", "none.csv", "diagnose fit --train {s}/none.csv --out {s}/t.json")
cli("grids-info-missing", "nogrid", "grids info --data {s}/nogrid")


# -- 8b. every command's --config file: a misspelt key is refused, at the top and in a section --
CONFIG_COMMANDS = {
    # command -> the rest of its arguments (a config file c.json is added)
    "zoo create": "--out {s}/z",
    "zoo import": "--from folder {s}/src --out {s}/z",
    "zoo sparsify": "--zoo {zoo} --out {s}/t",
    "fit": "--zoo {zoo} --out {s}/r",
    "diagnose grid": "--out {s}/g",
    "diagnose metrics": "--zoo {zoo} --out {s}/m",
    "diagnose evaluate": "--train {s}/a --test {s}/b",
    "diagnose model": "--zoo {run} --tree {s}/t.json",
    "graphs diagnose": "--out {s}/g",
    "graphs longrange": "--out {s}/g",
    "graphs probe": "--zoo {zoo}",
    "grids generate": "--out {s}/d",
    "grids train": "--model mlp --data {s}/d",
}
MISSPELT = {  # file content -> the key the error names
    "top": ('{"wingspan": 1}', "wingspan"),
    "toml": ("wingspan = 1", "wingspan"),
}
SECTIONED = {  # commands whose file holds one table per config
    "grids generate": {
        "setting-outside-a-section": ('{"nodes": 8}', "nodes"),
        "misspelt-section": ('{"grdi": {"nodes": 8}}', "grdi"),
        "misspelt-key-in-section": ('{"grid": {"node": 8}}', "node"),
    }
}


def _config_setup(name: str, content: str, command: str):  # noqa: ANN202
    def setup(w: World, s: Path) -> None:
        if command == "zoo import":
            _source(w, s)
        write(name, content)(w, s)

    return setup


for _command, _rest in CONFIG_COMMANDS.items():
    for _id, (_content, _key) in {**MISSPELT, **SECTIONED.get(_command, {})}.items():
        _file = "c.toml" if _id == "toml" else "c.json"
        cli(
            f"config-{_command.replace(' ', '-')}-{_id}",
            _key,
            f"{_command} {_rest} --config {{s}}/{_file}",
            setup=_config_setup(_file, _content, _command),
        )


def test_every_command_with_a_config_file_is_in_the_misspelt_key_table():
    import argparse

    from weightspace.cli import build_parser, common

    found = []
    complete = getattr(common, "complete", lambda parser: parser)  # flags added on first use

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        complete(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
        if any(a.dest == "config" for a in parser._actions):
            found.append(" ".join(words))

    walk(build_parser(), [])
    assert found and sorted(found) == sorted(CONFIG_COMMANDS)


# -- 9. outputs the system will not let us write (a read-only file system even for root) --
NO_WRITE = "/sys/weightspace-out"
cli("create-out-unwritable", "--out", "zoo create --preset digits-tiny --out", NO_WRITE)
cli("fit-out-unwritable", "--out", "fit --zoo {zoo} --out", NO_WRITE, FIT)
cli("embed-out-unwritable", "--out", "embed --model {run} --zoo {zoo} --out", NO_WRITE + ".pq")
cli("sample-out-unwritable", "--out", SAMPLE, "--out", NO_WRITE)
cli("probe-json-unwritable", "--json", PROBE, "--json", NO_WRITE + ".json")
cli("import-out-unwritable", "weightspace-out", IMPORT, "{s}/src --out", NO_WRITE, setup=source())


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_command_is_one_error_line_and_changes_nothing(
    c: Case, world, tmp_path, capsys, monkeypatch
):
    scratch = tmp_path / "s"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    if c.setup is not None:
        c.setup(world, scratch)
    before = snapshot(world.root, scratch)
    code = main(c.argv(world, scratch))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert c.names in lines[0], lines[0]
    assert "Traceback" not in err
    assert snapshot(world.root, scratch) == before


# ---- the Python API ------------------------------------------------------------------------
def _api_cases():  # noqa: ANN202
    from weightspace import SANE, DatasetConfig, Factor, ZooConfig, load_encoder
    from weightspace.train.trainer import TrainConfig

    def encoder(w: World):  # noqa: ANN202
        return load_encoder(w.run)

    return {
        "flat-float-rows": (lambda w: open_zoo(w.zoo).flat([0.5]), "rows"),
        "flat-string-rows": (lambda w: open_zoo(w.zoo).flat(["a"]), "rows"),
        "flat-row-beyond": (lambda w: open_zoo(w.zoo).flat([999]), "rows"),
        "flat-negative-row": (lambda w: open_zoo(w.zoo).flat([-1]), "rows"),
        "flat-short-mask": (lambda w: open_zoo(w.zoo).flat(np.array([True, False])), "rows"),
        "column-unknown": (lambda w: open_zoo(w.zoo).column("acc"), "column"),
        "transform-float-rows": (lambda w: encoder(w).transform(w.zoo, rows=[1.5]), "rows"),
        "transform-other-zoo": (lambda w: encoder(w).transform(w.mlp), "zoo"),
        "transform-unfitted": (lambda w: SANE().transform(w.zoo), "fit"),
        "decode-unfitted": (lambda w: SANE().decode(np.zeros((1, 8))), "fit"),
        "fit-unknown-preset": (lambda w: SANE("huge").fit(w.zoo), "preset"),
        "train-lr-zero": (lambda w: TrainConfig(lr=0), "lr"),
        "train-lr-nan": (lambda w: TrainConfig(lr=float("nan")), "lr"),
        "train-epochs-bool": (lambda w: TrainConfig(epochs=True), "epochs"),
        "train-device": (lambda w: TrainConfig(device="gpu0"), "device"),
        "train-zoo-epochs-float": (lambda w: TrainConfig(zoo_epochs=[1.5]), "zoo_epochs"),
        "train-splits-word": (lambda w: TrainConfig(splits="grouped"), "splits"),
        "zoo-seeds-bool": (lambda w: ZooConfig(seeds=True), "seeds"),
        "zoo-hidden-zero": (lambda w: ZooConfig(hidden=[0]), "hidden"),
        "zoo-empty-grid": (lambda w: ZooConfig(lr=[]), "lr"),
        "zoo-dataset-number": (lambda w: ZooConfig(dataset=5), "dataset"),
        "zoo-from-list": (lambda w: ZooConfig.from_dict([]), "zoo config"),
        "zoo-from-dir": (lambda w: ZooConfig.from_file(w.root), "--config"),
        "factor-empty": (lambda w: Factor(()), "factor"),
        "factor-reversed": (lambda w: Factor((2.0, 1.0), "uniform"), "factor"),
        "dataset-unknown": (lambda w: DatasetConfig("imagenet"), "dataset"),
        "dataset-seed": (lambda w: DatasetConfig(split_seed=-2), "split_seed"),
        "open-a-file": (lambda w: open_zoo(w.run / "config.json"), "config.json"),
        "open-a-run": (lambda w: open_zoo(w.run), "manifest"),
        "load-a-zoo": (lambda w: load_encoder(w.zoo), "config.json"),
        "create-backend": (
            lambda w: create_zoo(tiny_config(), w.root / "n", backend="x"),
            "backend",
        ),
        "create-cuda": (lambda w: create_zoo(tiny_config(), w.root / "n", device="cuda"), "device"),
    }


API = _api_cases()


@pytest.mark.parametrize("name", list(API))
def test_bad_api_call_raises_one_named_error(name, world):
    call, field = API[name]
    if name.endswith("cuda") and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    before = snapshot(world.root)
    with pytest.raises(WeightspaceError) as info:
        call(world)
    assert field in str(info.value) and "\n" not in str(info.value)
    assert snapshot(world.root) == before


def test_the_sweep_is_large():
    assert len(CASES) + len(API) >= 150, len(CASES) + len(API)


# ---- data loss and silently wrong results: regressions with positive controls ----------------
def test_masks_are_masks_and_integral_floats_are_rows(world):
    zoo = open_zoo(world.zoo)
    mask = np.zeros(len(zoo), dtype=bool)
    mask[[1, 4, 5]] = True
    assert torch.equal(zoo.flat(mask), zoo.flat([1, 4, 5]))
    assert torch.equal(zoo.flat(np.array([1.0, 4.0])), zoo.flat([1, 4]))
    assert len(zoo.state_dicts(mask)) == 3
    from weightspace import load_encoder

    encoder = load_encoder(world.run)
    np.testing.assert_array_equal(
        encoder.transform(zoo, rows=mask), encoder.transform(zoo, rows=[1, 4, 5])
    )


def test_embed_overwrites_only_when_asked(world, tmp_path, capsys):
    out = tmp_path / "e.parquet"
    out.write_text("mine")
    argv = ["embed", "--model", str(world.run), "--zoo", str(world.zoo), "--out", str(out)]
    assert main(argv) == 2 and out.read_text() == "mine"
    assert main([*argv, "--overwrite"]) == 0
    assert pq.read_table(out).num_rows == len(open_zoo(world.zoo))


def test_fit_resumes_its_own_run_and_starts_in_an_empty_folder(world, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()  # an empty folder is fine
    argv = ["fit", "--zoo", str(world.zoo), "--out", str(run), *FIT]
    assert main(argv) == 0
    weights = (run / "model.safetensors").read_bytes()
    assert main(argv) == 0  # finished: resumes at the end, the same encoder
    assert (run / "model.safetensors").read_bytes() == weights
    (run / "checkpoint" / ".state.json.abcd1234.tmp").write_bytes(b"half")  # a killed write
    assert main(argv) == 0 and not list(run.rglob("*.tmp"))


def test_a_damaged_table_is_repaired_by_running_zoo_create_again(tmp_path, capsys):
    config = tmp_path / "zoo.json"
    config.write_text(zoo_config())
    out = tmp_path / "zoo"
    argv = ["zoo", "create", "--config", str(config), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    table = (out / "checkpoints.parquet").read_bytes()
    (out / "checkpoints.parquet").write_bytes(b"overwritten by something")
    assert main(["zoo", "info", "--zoo", str(out)]) == 2
    assert "run the same `weightspace zoo create`" in capsys.readouterr().err
    assert main(argv) == 0  # the hint is true
    assert (out / "checkpoints.parquet").read_bytes() == table


def test_a_failed_create_leaves_nothing_that_blocks_the_corrected_command(tmp_path, capsys):
    out = tmp_path / "zoo"
    bad = tmp_path / "bad.json"
    bad.write_text(zoo_config(dataset={"name": "mnist", "root": str(tmp_path / "none")}))
    assert main(["zoo", "create", "--config", str(bad), "--out", str(out), "--quiet"]) == 2
    assert not out.exists() or not any(out.iterdir())
    good = tmp_path / "good.json"
    good.write_text(zoo_config())
    assert main(["zoo", "create", "--config", str(good), "--out", str(out), "--quiet"]) == 0
    # a run interrupted before its first shard does not block another config either
    (out2 := tmp_path / "zoo2").mkdir()
    (out2 / "progress.json").write_text(json.dumps({"format_version": 1, "config": {"x": 1}}))
    assert main(["zoo", "create", "--config", str(good), "--out", str(out2), "--quiet"]) == 0


def test_a_planted_pickle_is_reported_as_refused_without_torchs_advice(tmp_path):
    import os

    from weightspace.zoo.imports.load import load_state_dict

    class Planted:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"w": torch.zeros(2), "x": Planted()}, tmp_path / "evil.pt")
    with pytest.raises(WeightspaceError) as info:
        load_state_dict(tmp_path / "evil.pt")
    message = str(info.value)
    assert "system" in message and "refused" in message and "weights_only" not in message
    assert not (tmp_path / "pwned").exists()


def test_import_and_sample_leave_a_users_folder_named_like_a_work_folder_alone(world, tmp_path):
    _source(world, tmp_path)
    for name in ("z.importing", "samples.importing"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text("mine")
    out = tmp_path / "z"
    assert (
        main(["zoo", "import", "--from", "folder", str(tmp_path / "src"), "--out", str(out)]) == 0
    )
    assert len(open_zoo(out)) == 2
    samples = ["sample", "--model", str(world.run), "--zoo", str(world.zoo), "--n", "2"]
    assert main([*samples, "--out", str(tmp_path / "samples")]) == 0
    for name in ("z.importing", "samples.importing"):
        assert (tmp_path / name / "notes.txt").read_text() == "mine"


def test_zoo_create_flags_override_the_preset(tmp_path, capsys):
    out = tmp_path / "zoo"
    argv = ["zoo", "create", "--preset", "digits-tiny", "--out", str(out), "--quiet"]
    assert main([*argv, "--seeds", "1", "--epochs", "1", "--name", "mine"]) == 0
    zoo = open_zoo(out)
    assert zoo.config.seeds == 1 and zoo.config.epochs == 1 and zoo.name == "mine"
    assert sorted(set(zoo.column("epoch").tolist())) == [0, 1]
