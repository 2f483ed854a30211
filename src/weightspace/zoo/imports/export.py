"""Write our zoos in the layouts other tools read, so that the Model Zoos loaders, NFN, Neural
Graphs or ScaleGMN can use a zoo made here. Importing an export gives back the same weights
bit for bit and every metric and factor.

- ``modelzoos``: one Ray Tune trial folder per model: ``params.json`` (factors under the Model
  Zoos names, e.g. ``optim::lr``; other columns as ``weightspace::<name>``), ``result.json``
  (a line per epoch with ``training_iteration`` and the nested ``config``) and
  ``checkpoint_000NNN/checkpoints`` (``torch.save`` of the state dict: tensors only).
- ``smallcnn``: ``weights.npy``, ``metrics.csv.gz`` (``config.*``, ``modeldir``, ``model_id``,
  ``step`` = epoch, accuracies and losses) and ``layout.csv`` with TensorFlow variable names,
  TensorFlow-shaped kernels and TensorFlow's alphabetical order (bias before kernel).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import torch

from weightspace.errors import ConfigError, check_choice
from weightspace.storage import replace_dir
from weightspace.zoo.imports.options import EXPORT_FORMATS
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import check_output_dir, make_work_dir

MODELZOOS_NAMES = {
    "activation": "model::nlin",
    "dropout": "model::dropout",
    "init": "model::init_type",
    "optimizer": "optim::optimizer",
    "lr": "optim::lr",
    "weight_decay": "optim::wd",
    "seed": "seed",
}
SMALLCNN_NAMES = {
    "activation": "config.activation",
    "init": "config.w_init",
    "dropout": "config.dropout",
    "optimizer": "config.optimizer",
    "lr": "config.learning_rate",
    "weight_decay": "config.l2reg",
    "seed": "config.random_seed",
    "train_fraction": "config.train_fraction",
    "test_acc": "test_accuracy",
    "train_acc": "train_accuracy",
    "test_loss": "test_loss",
    "train_loss": "train_loss",
    "val_acc": "validation_accuracy",
    "val_loss": "val_loss",
    "ggap": "ggap",
}
METRIC_COLUMNS = ("test_acc", "train_acc", "val_acc", "test_loss", "train_loss", "val_loss", "ggap")
_INTERNAL = ("model_id", "epoch", "shard", "shard_row", "status", "problem")


SMALLCNN_FILES = frozenset({"weights.npy", "layout.csv", "metrics.csv.gz"})


def is_export(path: Path) -> bool:
    """``path`` holds an export of ours: only ``trial_NNNNN`` folders (Model Zoos layout) or
    only the Small CNN Zoo layout's three files."""
    names = {p.name for p in path.iterdir()}
    trials = all(n.startswith("trial_") and (path / n / "params.json").is_file() for n in names)
    return bool(names) and (trials or names <= SMALLCNN_FILES)


def export_zoo(path: str | Path, to: str, out: str | Path, overwrite: bool = False) -> Path:
    """Write the zoo at ``path`` in layout ``to`` (one of `EXPORT_FORMATS`) to the new ``out``;
    with ``overwrite``, an earlier export at ``out`` is replaced once the new one is complete
    (a folder of anything else is refused)."""
    check_choice("--to", to, EXPORT_FORMATS)
    zoo = open_zoo(path)
    out = Path(out).resolve()
    if out.exists() and not (overwrite and out.is_dir() and is_export(out)):
        raise ConfigError(
            "--out",
            "a path that does not exist yet (or, with --overwrite, an earlier export)",
            str(out),
            "Choose another --out" + ("" if overwrite else ", or pass --overwrite"),
        )
    if zoo.root.resolve().is_relative_to(out):
        raise ConfigError("--out", f"a folder apart from the input {path}", str(out))
    check_output_dir(out, "--out")  # a folder we may write in
    out.parent.mkdir(parents=True, exist_ok=True)
    work = make_work_dir(out.parent, f".{out.name}.", ".exporting")
    try:
        (_modelzoos if to == "modelzoos" else _smallcnn)(zoo, work)
        replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # made by us just now
        raise
    return out


def _rows(zoo: Zoo) -> list[dict]:
    ok = zoo.table.filter(pc.equal(zoo.table.column("status"), "ok"))
    return ok.to_pylist()


def _modelzoos(zoo: Zoo, work: Path) -> None:
    rows = _rows(zoo)
    row_index = {(r["model_id"], r["epoch"]): i for i, r in enumerate(zoo.table.to_pylist())}
    for model_id in sorted({r["model_id"] for r in rows}):
        mine = sorted((r for r in rows if r["model_id"] == model_id), key=lambda r: r["epoch"])
        params = {}
        for key, value in mine[0].items():
            if key in _INTERNAL or key in METRIC_COLUMNS:
                continue
            params[MODELZOOS_NAMES.get(key, f"weightspace::{key}")] = value
        trial = work / f"trial_{model_id:05d}"
        trial.mkdir()
        (trial / "params.json").write_text(json.dumps(params, indent=2))
        by_epoch = {r["epoch"]: r for r in mine}
        first = 0 if 0 in by_epoch else 1  # the epoch-0 offset rule of the Model Zoos loader
        lines = []
        for epoch in range(first, max(by_epoch) + 1):
            line = {k: by_epoch[epoch][k] for k in METRIC_COLUMNS if k in by_epoch.get(epoch, {})}
            line.update(training_iteration=epoch - first + 1, config=params)
            lines.append(json.dumps(line))
        (trial / "result.json").write_text("\n".join(lines) + "\n")
        for r in mine:
            folder = trial / f"checkpoint_{r['epoch']:06d}"
            folder.mkdir()
            state = zoo.state_dict(row_index[(model_id, r["epoch"])])
            torch.save(state, folder / "checkpoints")


def _tf_layout(zoo: Zoo) -> list[tuple[str, str, tuple[int, ...]]]:
    """[(our key, TensorFlow variable name, TensorFlow shape)] in TensorFlow's order."""
    counts: dict[str, int] = {}
    layers: dict[str, str] = {}
    out = []
    for key in zoo.keys:
        layer, _, leaf = key.rpartition(".")
        shape = zoo.shapes[key]
        if layer not in layers:
            kind = "conv2d" if len(shape) == 4 else "dense"
            n = counts.get(kind, 0)
            counts[kind] = n + 1
            layers[layer] = kind if n == 0 else f"{kind}_{n}"
        if leaf not in ("weight", "bias") or len(shape) not in (1, 2, 4):
            raise ConfigError(
                "--to smallcnn", "a zoo of conv and dense layers (weight and bias)", key
            )
        tf_leaf = "kernel" if leaf == "weight" else "bias"
        tf_shape = {4: lambda s: (s[2], s[3], s[1], s[0]), 2: lambda s: (s[1], s[0])}.get(
            len(shape), lambda s: s
        )(shape)
        out.append((key, f"sequential/{layers[layer]}/{tf_leaf}:0", tuple(tf_shape)))
    return sorted(out, key=lambda item: item[1])


def _smallcnn(zoo: Zoo, work: Path) -> None:
    layout = _tf_layout(zoo)
    rows = np.flatnonzero(zoo.column("status") == "ok")
    sizes = [int(np.prod(s)) for _, _, s in layout]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    weights = np.lib.format.open_memmap(
        work / "weights.npy", mode="w+", dtype="<f4", shape=(len(rows), int(starts[-1]))
    )
    for begin in range(0, len(rows), 1024):
        chunk = rows[begin : begin + 1024]
        stacked = zoo.weights(chunk)
        for (key, _, _), start, size in zip(layout, starts, sizes, strict=False):
            value = stacked[key]
            if value.dim() == 5:  # (n, out, in, kh, kw) -> (n, kh, kw, in, out)
                value = value.permute(0, 3, 4, 2, 1)
            elif value.dim() == 3:
                value = value.transpose(1, 2)
            weights[begin : begin + len(chunk), start : start + size] = value.reshape(
                len(chunk), -1
            ).numpy()
    weights.flush()
    del weights
    layout_rows = [
        {
            "varname": name,
            "start_idx": int(start),
            "end_idx": int(start + size),
            "size": size,
            "shape": "("
            + ", ".join(str(v) for v in shape)
            + ("," if len(shape) == 1 else "")
            + ")",
        }
        for (_, name, shape), start, size in zip(layout, starts, sizes, strict=False)
    ]
    pacsv.write_csv(pa.Table.from_pylist(layout_rows), work / "layout.csv")
    table = zoo.table.take(pa.array(rows))
    columns = {}
    for name in table.column_names:
        if name in ("shard", "shard_row", "status", "problem", "epoch", "modeldir", "file"):
            continue
        target = SMALLCNN_NAMES.get(name, "model_id" if name == "model_id" else f"config.{name}")
        columns[target] = table.column(name)
    if "modeldir" in table.column_names:  # imported from the Small CNN Zoo: its own runs
        columns["modeldir"] = table.column("modeldir")
    else:
        ids = table.column("model_id").to_pylist()
        columns["modeldir"] = pa.array([f"model_{m}" for m in ids])
    columns["step"] = table.column("epoch")
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(dict(sorted(columns.items()))), buffer)
    with gzip.open(work / "metrics.csv.gz", "wb") as handle:
        handle.write(buffer.getvalue())
