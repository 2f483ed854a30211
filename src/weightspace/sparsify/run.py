"""Sparsify a whole zoo into a twin zoo, linked to its original.

The twin is an ordinary zoo (same architecture, same task, one row per twin checkpoint), so
every other command reads it. Its manifest names the original zoo and the original's content
hash; every row names the original's model id, epoch and row. A variational twin keeps its
original's ``model_id`` (its rows are a trajectory, one per epoch); the magnitude twins of one
original at L sparsity levels are L models with ids ``original * L + level``.

    twin/                      the finished twin zoo (written by the zoo writer at the end)
    twin.sparsifying/          while running: one finished shard per population (resume unit)

Twin rows: magnitude pruning, one per (model, sparsity level) at ``epoch`` = fine-tuning
epochs; variational dropout, one per (model, sparsification epoch 0..vd_epochs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from safetensors.torch import load_file

from weightspace.errors import ConfigError, ZooFormatError
from weightspace.sparsify.config import SparsifyConfig
from weightspace.sparsify.methods import Twins, magnitude_twins, variational_twins
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.datasets import Splits, load_dataset
from weightspace.zoo.imports.writer import Checkpoint, write_zoo
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import (
    FORMAT_VERSION,
    PROGRESS,
    SHARDS,
    atomic_write_json,
    finished_shard,
    read_json,
    shard_name,
    write_shard,
)

WORK_SUFFIX = ".sparsifying"


def content_hash(zoo: Zoo) -> str:
    """A hash of a zoo's content: its table and every shard (as their sha256 in the manifest)."""
    digest = hashlib.sha256(zoo.manifest["table"]["sha256"].encode())
    for shard in zoo.manifest["shards"]:
        digest.update(shard["sha256"].encode())
    return digest.hexdigest()


def zoo_task(zoo: Zoo, config: SparsifyConfig | None = None) -> tuple[Splits, int]:
    """The zoo's data set and the twins' training batch size: the zoo's own, or, for an
    imported zoo (no training config), its attached task and ``config.batch_size``."""
    config = config or SparsifyConfig()
    if zoo.config is not None:
        return load_dataset(zoo.config.dataset), config.batch_size or zoo.config.batch_size
    dataset = zoo.dataset  # an imported zoo without a task: says to attach one
    if config.batch_size is None:
        raise ConfigError(
            "--batch-size",
            "the batch size to train the twins with",
            None,
            f"{zoo.root} is imported and does not say how its models were trained; add "
            "--batch-size N (and --optimizer/--lr for magnitude pruning if its table lacks them)",
        )
    return load_dataset(dataset), config.batch_size


def source_rows(zoo: Zoo, config: SparsifyConfig) -> np.ndarray:
    """The checkpoint to sparsify of each usable model: at ``config.epoch``, else its last;
    the first ``config.models`` models only, if set. Diverged models are left out."""
    models, epochs = zoo.column("model_id"), zoo.column("epoch")
    usable = np.ones(len(zoo), dtype=bool)
    if "status" in zoo.table.column_names:
        usable = zoo.column("status") == "ok"
    rows = []
    for model in np.unique(models[usable]):
        mine = np.flatnonzero(usable & (models == model))
        epoch = epochs[mine].max() if config.epoch is None else config.epoch
        at = mine[epochs[mine] == epoch]
        if len(at) > 1:
            raise ConfigError(
                "ZOO",
                "one checkpoint per model and epoch",
                f"{len(at)} for model {model} at epoch {epoch}",
                "Sparsify the original zoo instead of a magnitude-pruned twin",
            )
        rows.extend(at.tolist())
    if config.models is not None:
        rows = rows[: config.models]
    if not rows:
        raise ConfigError("epoch", "an epoch the zoo's models have", config.epoch)
    return np.asarray(rows, dtype=np.int64)


def model_specs(
    zoo: Zoo, rows: np.ndarray, config: SparsifyConfig | None = None
) -> list[ModelSpec]:
    """Each row's model as a `ModelSpec`: its seed, architecture and optimizer factors. A zoo
    whose table lacks a factor (an imported one) takes it from ``config`` (optimizer, lr; a
    seed from the model id, weight decay 0), and says which flag is missing otherwise."""
    config = config or SparsifyConfig()
    columns = zoo.table.column_names
    given = {"optimizer": config.optimizer, "lr": config.lr}
    needed = [c for c in ("optimizer", "lr") if c not in columns and given[c] is None]
    if needed and config.method == "magnitude":
        raise ConfigError(
            f"--{needed[0]}",
            f"the fine-tuning {needed[0]} (the zoo's table has no {needed[0]} column)",
            None,
            f"Add --{needed[0]}",
        )
    ids = zoo.column("model_id")

    def value(name: str, r: int, default: object) -> object:
        return _plain(zoo.column(name)[r]) if name in columns else default

    return [
        ModelSpec(
            int(ids[r]),
            int(value("seed", r, int(ids[r]) + 1)),
            zoo.arch(int(r)),
            str(value("optimizer", r, config.optimizer or "adam")),
            float(value("lr", r, config.lr or 3e-4)),  # vd trains with vd_lr either way
            float(value("weight_decay", r, 0.0)),
        )
        for r in rows
    ]


def plan(specs: list[ModelSpec], size: int) -> list[list[int]]:
    """Populations of at most ``size`` models, each of one group (structure and optimizer)."""
    groups: dict[tuple, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.group, []).append(i)
    return [m[s : s + size] for m in groups.values() for s in range(0, len(m), size)]


def sparsify_models(
    zoo: Zoo, rows: np.ndarray, config: SparsifyConfig, splits: Splits, batch_size: int
) -> Twins:
    """Sparsify the models at ``rows`` (all of one group) together, in one population."""
    specs = model_specs(zoo, rows, config)
    start = zoo.weights(rows)
    method = magnitude_twins if config.method == "magnitude" else variational_twins
    first_epoch = zoo.config.epochs if zoo.config is not None else int(zoo.column("epoch").max())
    return method(specs, start, splits, batch_size, config, first_epoch)


def _table(
    zoo: Zoo, rows: np.ndarray, twins: Twins, config: SparsifyConfig, specs: list[ModelSpec]
) -> pa.Table:
    """The twin rows: the original's id and factors, the link, the twin's own metrics."""
    columns = {c: zoo.column(c) for c in ("model_id", "epoch")}
    nan = np.full(len(zoo), np.nan)
    accuracy = zoo.column("test_acc") if "test_acc" in zoo.table.column_names else nan
    records = []
    for member, values, problem in zip(twins.member, twins.values, twins.problem, strict=True):
        r = int(rows[member])
        level = values.get("level", 0)
        # a zoo's (model_id, epoch) is unique: the twins of one original at L pruning levels
        # are L models, ids original * L + level; the original's id is a column of its own
        record = {"model_id": int(columns["model_id"][r]) * twins.levels + level}
        record.update(specs[member].factors())
        record.update(
            method=config.method,
            original_model_id=int(columns["model_id"][r]),
            original_epoch=int(columns["epoch"][r]),
            original_row=r,
            original_test_acc=float(accuracy[r]),
            problem=problem,
            **values,
        )
        records.append(record)
    return pa.Table.from_pylist(records)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _prepare_work(work: Path, out: Path, config: SparsifyConfig, original: Zoo) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("--out", "a new or empty directory", str(out), "Choose another --out")
    stamp = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "original": content_hash(original),
    }
    foreign = work.exists() and (not work.is_dir() or not _ours(work))
    if foreign:  # never resume into, nor delete at the end, a folder of the user's
        raise ConfigError(
            "--out",
            f"no {work.name} beside it other than an interrupted `zoo sparsify` run",
            str(work),
            f"Move {work} away or choose another --out",
        )
    if (work / PROGRESS).exists():
        if read_json(work / PROGRESS, "progress file") != stamp:
            raise ConfigError(
                "--out",
                "the settings and zoo of the interrupted run in " + str(work),
                "other settings or another zoo",
                f"Run the same command again, or remove {work}",
            )
        return
    (work / SHARDS).mkdir(parents=True, exist_ok=True)
    atomic_write_json(work / PROGRESS, stamp)


def _ours(work: Path) -> bool:
    """Whether the work folder is one `sparsify_zoo` made: it holds the progress stamp, or
    (a run stopped between the two first writes) nothing but an empty shard folder."""
    if (work / PROGRESS).is_file():
        return True
    return all(p.name == SHARDS and p.is_dir() and not any(p.iterdir()) for p in work.iterdir())


def _checkpoints(work: Path, count: int, keys: list[str]) -> Iterator[Checkpoint]:
    """The finished twins, their tensors in state-dict order (safetensors sorts its keys)."""
    for index in range(count):
        table = finished_shard(work, index)
        tensors = load_file(work / SHARDS / f"{shard_name(index)}.safetensors")
        for r, row in enumerate(table.to_pylist()):
            state = {k: tensors[k][r] for k in keys}
            model, epoch, problem = row.pop("model_id"), row.pop("epoch"), row.pop("problem")
            yield Checkpoint(model, epoch, state, row, problem)


def sparsify_zoo(
    zoo: Zoo | str | Path,
    out: str | Path,
    config: SparsifyConfig | None = None,
    progress: bool = False,
) -> Zoo:
    """Write the twin zoo of ``zoo`` to ``out`` and open it; an interrupted run resumes.
    ``progress``: a progress bar over the models with an estimate of the time left.

    Example:
        >>> twin = sparsify_zoo("zoo/", "zoo-vd/", SparsifyConfig(method="vd"))
        >>> original, rows = resolve_original(twin)  # each twin row's original row
    """
    config = SparsifyConfig() if config is None else config
    original = zoo if isinstance(zoo, Zoo) else open_zoo(zoo)
    splits, batch_size = zoo_task(original, config)
    out = Path(os.path.abspath(out))  # `.` and `..` have no name to put the work folder beside
    if not out.name:
        raise ConfigError("--out", "a directory with a name (not /)", str(out))
    work = out.with_name(out.name + WORK_SUFFIX)
    rows = source_rows(original, config)  # bad settings fail before anything is written
    _prepare_work(work, out, config, original)
    specs = model_specs(original, rows, config)
    populations = plan(specs, config.population)
    from tqdm import tqdm

    done = [finished_shard(work, i) is not None for i in range(len(populations))]
    finished = sum(len(m) for m, d in zip(populations, done, strict=True) if d)
    with tqdm(
        total=len(specs), initial=finished, unit="model", disable=not progress, desc="sparsify"
    ) as bar:
        for index, members in enumerate(populations):
            if done[index]:
                continue
            twins = sparsify_models(original, rows[members], config, splits, batch_size)
            table = _table(original, rows[members], twins, config, [specs[m] for m in members])
            write_shard(work, index, twins.weights, table)
            bar.update(len(members))
    epochs = config.finetune_epochs if config.method == "magnitude" else config.vd_epochs
    kept = (epochs,) if config.method == "magnitude" else None
    base = original.config or _imported_config(original, rows, batch_size)
    twin_config = base.with_changes(
        name=f"{original.name}-{config.method}", epochs=epochs, checkpoint_epochs=kept
    )
    link = {
        "name": original.name,
        "path": str(original.root.resolve()),
        "relative_path": os.path.relpath(original.root.resolve(), out.resolve().parent),
        "content_sha256": content_hash(original),
    }
    twin = write_zoo(
        out,
        _checkpoints(work, len(populations), original.keys),
        name=twin_config.name,
        source={"format": "twins", "zoo": str(original.root), "method": config.method},
        arch=original.arch(int(rows[0])),
        extra={
            "config": twin_config.to_dict(),
            "dataset": original.manifest["dataset"],
            "twin": {"original": link, "method": config.method, "config": config.to_dict()},
        },
    )
    shutil.rmtree(work, ignore_errors=True)
    return twin


def _imported_config(zoo: Zoo, rows: np.ndarray, batch_size: int) -> ZooConfig:
    """A zoo config recording what an imported zoo's twins were trained with."""
    arch = zoo.arch(int(rows[0]))
    return ZooConfig(
        name=zoo.name,
        architecture=arch.name,
        dataset=zoo.dataset,
        hidden=arch.hidden,
        batch_size=batch_size,
    )


def resolve_original(twin: Zoo, original: Zoo | str | Path | None = None) -> tuple[Zoo, np.ndarray]:
    """The original zoo of ``twin`` and, per twin row, the row of its original checkpoint.

    The original is opened from the link in the twin's manifest (relative to the twin first),
    unless given; its content hash must match the one the twin recorded.
    """
    link = twin.manifest.get("twin")
    if not link:
        raise ZooFormatError(twin.root, "is not a twin zoo", "Make one with `zoo sparsify`")
    if original is None:
        relative = twin.root.resolve().parent / link["original"]["relative_path"]
        original = relative if relative.is_dir() else Path(link["original"]["path"])
    original = original if isinstance(original, Zoo) else open_zoo(original)
    if content_hash(original) != link["original"]["content_sha256"]:
        raise ZooFormatError(
            original.root,
            f"is not the zoo {twin.root} was sparsified from (content hash differs)",
            "Give the original zoo, unchanged",
        )
    index = {
        (int(m), int(e)): r
        for r, (m, e) in enumerate(
            zip(original.column("model_id"), original.column("epoch"), strict=True)
        )
    }
    wanted = zip(twin.column("original_model_id"), twin.column("original_epoch"), strict=True)
    try:
        rows = np.array([index[(int(m), int(e))] for m, e in wanted], dtype=np.int64)
    except KeyError as err:
        raise ZooFormatError(original.root, f"has no checkpoint (model, epoch) = {err}") from None
    return original, rows
