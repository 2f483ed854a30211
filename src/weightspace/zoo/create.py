"""Create a zoo: plan shards, train them (in-process or as Ray tasks), write, resume.

A population shard is up to ``shard_size`` models of one group (architecture, activation,
optimizer), trained together. Each checkpoint epoch's weights are written (atomically) the
moment they are made, one storage shard per (population shard, checkpoint epoch), so memory
holds one checkpoint of a population, never its history. When a population finishes, its rows
are written as ``shards/population-NNNNN.parquet``, listing its files and their hashes: that file
marks it done. A killed run loses at most the population in progress; `create_zoo` on the same
directory picks up where it stopped, and since every model's training depends only on its own
spec, the result is identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from weightspace.devices import resolve_device
from weightspace.errors import ConfigError, ZooFormatError, check_choice
from weightspace.zoo.architectures import build_model
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.datasets import Splits, load_dataset
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import METRICS, Population, PopulationResult
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import (
    FORMAT_VERSION,
    MANIFEST,
    PROGRESS,
    SHARDS,
    TABLE,
    atomic_write_json,
    check_output_dir,
    read_json,
    sha256_file,
    shard_name,
    software_versions,
    sweep_temporaries,
    write_table,
    write_weights,
)

BACKENDS = ("inprocess", "ray")


@dataclass(frozen=True)
class Shard:
    index: int
    specs: tuple[ModelSpec, ...]


def plan_shards(specs: list[ModelSpec], shard_size: int) -> list[Shard]:
    """Group models by (architecture, activation, optimizer), then cut groups into shards."""
    groups: dict[tuple, list[ModelSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec)
    shards: list[Shard] = []
    for members in groups.values():
        for start in range(0, len(members), shard_size):
            shards.append(Shard(len(shards), tuple(members[start : start + shard_size])))
    return shards


def train_shard(
    config: ZooConfig,
    shard: Shard,
    out: str | Path,
    splits: Splits | None = None,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Train one population shard, writing each checkpoint epoch's weights as it is made.

    Epoch ``j`` (the ``j``-th checkpoint epoch) of population shard ``p`` goes to storage shard
    ``p * E + j`` (E checkpoint epochs), holding the models still finite then. Returns the
    shard's table rows; their metadata lists the files written and their hashes, and
    `write_population` turns them into the shard's resume marker.
    """
    out = Path(out)
    splits = load_dataset(config.dataset) if splits is None else splits
    wanted = sorted(set(config.epochs_to_checkpoint))
    first = shard.index * len(wanted)  # storage shard of this population's first epoch
    for index in range(first, first + len(wanted)):  # an earlier attempt's files
        (out / SHARDS / f"{shard_name(index)}.safetensors").unlink(missing_ok=True)
    population = Population(list(shard.specs), splits, config.batch_size, device)
    locations: dict[tuple[int, int], tuple[int, int]] = {}
    files: list[dict] = []

    def save(epoch: int, tensors: dict[str, torch.Tensor], kept: torch.Tensor) -> None:
        if len(kept) == 0:
            return  # every model has diverged: no file
        index = first + wanted.index(epoch)
        digest = write_weights(out, index, tensors)
        file = f"{shard_name(index)}.safetensors"
        files.append({"file": file, "rows": len(kept), "sha256": digest})
        for local, model in enumerate(kept.tolist()):
            locations[model, epoch] = (index, local)

    result = population.train(config.epochs, wanted, progress, config.train_metrics, save)
    rows = _rows(result, locations)
    return rows.replace_schema_metadata({_FILES: json.dumps(files).encode()})


def _rows(result: PopulationResult, locations: dict[tuple[int, int], tuple[int, int]]) -> pa.Table:
    """The table rows of a trained population: one per stored checkpoint (a diverged model
    keeps the checkpoints before its first non-finite epoch)."""
    records: dict[str, list] = {name: [] for name in _COLUMNS}
    for i, spec in enumerate(result.specs):
        diverged = result.diverged_epoch[i]
        for epoch in result.checkpoint_epochs:
            if (i, epoch) not in locations:
                break
            values = result.metrics[i, epoch].tolist()
            row = {"model_id": spec.model_id, "epoch": epoch, **spec.factors()}
            row.update(zip(METRICS, values, strict=True))
            row["ggap"] = row["train_acc"] - row["test_acc"]
            row["status"] = "diverged" if diverged >= 0 else "ok"
            row["diverged_epoch"] = diverged
            row["shard"], row["shard_row"] = locations[i, epoch]
            for name in _COLUMNS:
                records[name].append(row[name])
    return pa.table({name: pa.array(records[name], type=_COLUMNS[name]) for name in _COLUMNS})


# the schema metadata key under which a population's rows list its weight files
_FILES = b"weightspace.files"


def _marker(out: Path, index: int) -> Path:
    return out / SHARDS / f"population-{index:05d}.parquet"


def write_population(out: Path, index: int, rows: pa.Table) -> None:
    """Write a trained population shard's rows: the marker that its weight files are done."""
    write_table(_marker(out, index), rows)


def finished_population(out: Path, index: int) -> pa.Table | None:
    """The rows of a finished population shard, or None if it must be (re)trained.

    Finished means its rows exist and every weight file they list has the recorded hash; a
    kill before the rows were written, or a torn or damaged file, means train it again.
    """
    try:
        rows = pq.read_table(_marker(out, index))
        files = json.loads((rows.schema.metadata or {})[_FILES])
    except (pa.ArrowException, OSError, KeyError, ValueError):
        return None
    for entry in files:
        path = out / SHARDS / entry["file"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
    return rows


_COLUMNS = {
    "model_id": pa.int64(),
    "seed": pa.int64(),
    "epoch": pa.int64(),
    "activation": pa.string(),
    "dropout": pa.float64(),
    "init": pa.string(),
    "optimizer": pa.string(),
    "lr": pa.float64(),
    "weight_decay": pa.float64(),
    **{name: pa.float64() for name in METRICS},
    "ggap": pa.float64(),
    "status": pa.string(),
    "diverged_epoch": pa.int64(),
    "shard": pa.int64(),
    "shard_row": pa.int64(),
}


def _prepare_directory(out: Path, config: ZooConfig) -> bool:
    """Check ``out`` can take this zoo; True when it holds this config's (partial) zoo."""
    check_output_dir(out, "--out")
    progress_path = out / PROGRESS
    if progress_path.exists():
        recorded = read_json(progress_path, "progress file").get("config")
        if recorded == config.to_dict():
            return True
        if _only_ours(out):  # an attempt that finished no population: nothing to keep
            return False
        raise ConfigError(
            "--out",
            "a new directory, or one holding a partial zoo of the same config",
            str(out),
            "This directory holds a zoo of a different config: choose another --out",
        )
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            "--out",
            "an empty or new directory (or a partial zoo to resume)",
            str(out),
            "Choose another --out, or remove the directory",
        )
    return False


# what `train_shard` writes before its population is done
_EPOCH_FILE = re.compile(r"^shard-\d{5,}\.safetensors$")


def _only_ours(out: Path) -> bool:
    """``out`` holds nothing but a progress file, temporaries and the weight files of an
    attempt that finished no population (those are removed: nothing there is worth keeping)."""
    sweep_temporaries(out)
    sweep_temporaries(out / SHARDS)
    shards = out / SHARDS
    files = list(shards.iterdir()) if shards.is_dir() else []
    if any(not (_EPOCH_FILE.match(f.name) and f.is_file()) for f in files):
        return False
    if not {p.name for p in out.iterdir()} <= {PROGRESS, SHARDS}:
        return False
    for f in files:
        f.unlink()
    return True


def _run_inprocess(
    config: ZooConfig,
    todo: list[Shard],
    out: Path,
    splits: Splits,
    device: str,
    tick: Callable[[int], None],
) -> Iterator[tuple[Shard, pa.Table]]:
    for shard in todo:
        yield shard, train_shard(config, shard, out, splits, device, tick)


def _run_ray(
    config: ZooConfig, todo: list[Shard], out: Path, device: str, tick: Callable[[int], None]
) -> Iterator[tuple[Shard, pa.Table]]:
    """Each shard is a Ray task writing its weight files into ``out`` (a folder every worker
    can reach: on several machines, a shared file system)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--backend",
            "an installed Ray for backend 'ray'",
            "ray",
            "pip install 'weightspace[ray]'",
        ) from None
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_gpus=1 if device == "cuda" else 0)(train_shard)
    target = str(out.absolute())
    pending = {remote.remote(config, shard, target, None, device): shard for shard in todo}
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        shard = pending.pop(ready)
        rows = ray.get(ready)
        tick(len(shard.specs) * config.epochs)
        yield shard, rows


def create_zoo(
    config: ZooConfig,
    out: str | Path,
    backend: str = "inprocess",
    device: str = "cpu",
    progress: bool = True,
) -> Zoo:
    """Train the zoo described by ``config`` into ``out`` (resuming a partial run) and open it.

    Example:
        >>> zoo = create_zoo(preset("digits-tiny"), "zoo/")
    """
    check_choice("backend", backend, BACKENDS)
    resolve_device(device)
    out = Path(out)
    resume = _prepare_directory(out, config)
    # validate everything before the first write: a failed start leaves nothing behind
    splits = load_dataset(config.dataset)
    specs = config.members(splits.input_shape, splits.num_classes)
    shards = plan_shards(specs, config.shard_size)
    if resume:
        sweep_temporaries(out)  # a killed run's half-written files
        sweep_temporaries(out / SHARDS)
    else:
        atomic_write_json(
            out / PROGRESS, {"format_version": FORMAT_VERSION, "config": config.to_dict()}
        )
    if resume and (out / MANIFEST).is_file():
        try:
            return open_zoo(out)  # finished earlier: open it, rewrite nothing
        except ZooFormatError:
            pass  # a damaged file: rebuilt below from the intact shards
    if resume and any((out / SHARDS).glob("shard-*.parquet")):
        raise ConfigError(
            "--out",
            "a partial zoo in the current layout",
            str(out),
            "This zoo was started by an older weightspace (one weight file per "
            "population): finish or repair it with that version, or choose a new --out",
        )
    done = {s.index: finished_population(out, s.index) for s in shards}
    todo = [s for s in shards if done[s.index] is None]
    from tqdm import tqdm

    total = len(specs) * config.epochs
    finished = sum(len(s.specs) for s in shards if done[s.index] is not None) * config.epochs
    with tqdm(
        total=total, initial=finished, unit="model·epoch", disable=not progress, desc=config.name
    ) as bar:
        runs = (
            _run_ray(config, todo, out, device, bar.update)
            if backend == "ray"
            else _run_inprocess(config, todo, out, splits, device, bar.update)
        )
        for shard, rows in runs:
            write_population(out, shard.index, rows)
            done[shard.index] = finished_population(out, shard.index)
    _finalize(out, config, splits, specs, shards, done)
    return open_zoo(out)


def _finalize(out, config, splits, specs, shards, done) -> None:
    tables = [done[s.index] for s in shards]
    files = [f for t in tables for f in json.loads(t.schema.metadata[_FILES])]
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    order = np.lexsort((table.column("epoch").to_numpy(), table.column("model_id").to_numpy()))
    table = table.take(pa.array(order))
    write_table(out / TABLE, table)
    template = build_model(specs[0].arch)
    state = template.state_dict()
    status = table.column("status").to_numpy(zero_copy_only=False)
    models = table.column("model_id").to_numpy()
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "config": config.to_dict(),
        "architecture": {
            "config": {
                "name": config.architecture,
                "input_shape": list(splits.input_shape),
                "num_classes": splits.num_classes,
                "hidden": list(config.hidden),
                **specs[0].arch.knobs(),  # park-cnn's kernel, residual, pool if not default
            },
            "parameters": {
                k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in state.items()
            },
            "order": list(state),  # the JSON object above is written with sorted keys
            "num_parameters": sum(p.numel() for p in template.parameters()),
            "definition": repr(template),
        },
        "dataset": {
            "config": config.dataset.to_dict(),
            "sha256": splits.fingerprint(),
            "sizes": {
                "train": len(splits.train_y),
                "val": len(splits.val_y),
                "test": len(splits.test_y),
            },
        },
        "software": software_versions(),
        "shards": [{"file": f["file"], "rows": f["rows"], "sha256": f["sha256"]} for f in files],
        "table": {"file": TABLE, "rows": table.num_rows, "sha256": sha256_file(out / TABLE)},
        "counts": {
            "models": len(specs),
            "checkpoints": table.num_rows,
            "diverged": int(len(np.unique(models[status == "diverged"]))),
        },
    }
    atomic_write_json(out / MANIFEST, manifest)
