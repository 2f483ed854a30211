"""Every checkpoint's loss and accuracy on the zoo's attached task, computed here.

Imported zoos carry whatever metrics their authors logged (or none); `evaluate_zoo` runs every
usable checkpoint on the train, validation and test splits of the task attached to the zoo (in
eval mode: dropout off, BatchNorm with its stored statistics) and writes the results into the
zoo's table. The imported values stay beside them as ``imported_<metric>`` columns.

Checkpoints are evaluated many at a time: one network is the template and the stacked weights
of a chunk of checkpoints go through it with `weightspace.functional.stacked_logits` (``vmap``
of ``functional_call``).

    >>> zoo = evaluate_zoo("runs/imported")        # after `weightspace zoo attach ... --dataset`
    >>> zoo.column("test_acc")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from weightspace.errors import ConfigError
from weightspace.functional import loss_and_correct, stacked_logits
from weightspace.zoo.datasets import load_dataset
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import MANIFEST, TABLE, atomic_write_json, sha256_file, write_table

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
IMPORTED = "imported_"


def evaluate_checkpoints(
    zoo: Zoo,
    module: str | None = None,
    module_path: str | Path | None = None,
    chunk: int = 32,
    image_batch: int = 500,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """{metric: (rows,)} of every checkpoint on the attached task; NaN where a row holds no
    weights (an importer marked it bad). ``module``: the user network, as for `Zoo.model`."""
    for name, value in (("--chunk", chunk), ("image_batch", image_batch)):
        if value < 1:
            raise ConfigError(name, "an integer >= 1", value)
    splits = load_dataset(zoo.dataset).to(device)
    usable = np.flatnonzero(_usable(zoo))
    out = {name: np.full(len(zoo), np.nan) for name in METRICS}
    if not len(usable):
        return out
    template = zoo.model(int(usable[0]), module, module_path).to(device).eval()
    names = list(template.state_dict())

    parts = {
        "train": (splits.train_x, splits.train_y),
        "val": (splits.val_x, splits.val_y),
        "test": (splits.test_x, splits.test_y),
    }
    with torch.no_grad():
        for start in range(0, len(usable), chunk):
            rows = usable[start : start + chunk]
            stacked = zoo.weights(rows)  # {key: (m, *shape)}, the zoo's keys in network order
            state = {n: v.to(device) for n, v in zip(names, stacked.values(), strict=True)}
            for part, (x, y) in parts.items():
                loss, accuracy = _scores(template, state, x, y, image_batch)
                out[f"{part}_loss"][rows], out[f"{part}_acc"][rows] = loss, accuracy
            if progress is not None:
                progress(len(rows))
    return out


def _scores(
    template: torch.nn.Module, state: dict, x: torch.Tensor, y: torch.Tensor, image_batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy (m,) of the m stacked networks on (x, y)."""
    loss_sum = correct = 0.0
    for start in range(0, len(x), image_batch):
        xb, yb = x[start : start + image_batch], y[start : start + image_batch]
        loss, hits = loss_and_correct(stacked_logits(template, state, xb), yb)  # (m,), (m,)
        loss_sum, correct = loss_sum + loss, correct + hits
    return (loss_sum / len(x)).cpu().numpy(), (correct / len(x)).cpu().numpy()


def _usable(zoo: Zoo) -> np.ndarray:
    if "status" not in zoo.table.column_names:
        return np.ones(len(zoo), dtype=bool)
    return np.asarray(zoo.column("status")) != "bad"


def with_metrics(table: pa.Table, metrics: dict[str, np.ndarray]) -> pa.Table:
    """``table`` with the computed ``metrics`` in place; a column the zoo already had (and had
    not kept before) is kept as ``imported_<name>``."""
    for name, values in metrics.items():
        column = pa.array(values, pa.float64())
        if name in table.column_names:
            index = table.column_names.index(name)
            if IMPORTED + name not in table.column_names:
                table = table.append_column(IMPORTED + name, table.column(name))
            table = table.set_column(index, name, column)
        else:
            table = table.append_column(name, column)
    return table


def evaluate_zoo(path: str | Path, **options: object) -> Zoo:
    """Compute every checkpoint's metrics (`evaluate_checkpoints`) and write them into the
    zoo's table (atomically, the manifest's table hash with it); returns the zoo re-opened."""
    zoo = open_zoo(path)
    metrics = evaluate_checkpoints(zoo, **options)  # type: ignore[arg-type]
    table = with_metrics(zoo.table, metrics)
    root = Path(path)
    write_table(root / TABLE, table)
    manifest = dict(zoo.manifest)
    manifest["table"] = {**manifest["table"], "rows": table.num_rows}
    manifest["table"]["sha256"] = sha256_file(root / TABLE)
    atomic_write_json(root / MANIFEST, manifest)
    return open_zoo(root)
