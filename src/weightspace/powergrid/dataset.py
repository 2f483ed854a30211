"""Generate SNBS datasets of synthetic grids (sharded, resumable, in-process or Ray) and read them.

    DIR/
      progress.json                    while generating: format version and the config
      shards/shard-00000.safetensors   the shard's grids, concatenated: power, theta (G*N,),
                                       positions (G*N, 2), edges (sum E, 2), snbs, survivability
      shards/shard-00000.parquet       one row per grid: id, seeds, sizes, offsets (resume marker)
      dataset.json                     when finished: config, counts, shard hashes, timing

Grid i is drawn from the seed (seed, i) and perturbed from (seed, i, 1), so a shard's content
depends only on the config and its index: a resumed or distributed run writes identical files.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from weightspace.errors import ConfigError, FileFormatError, check_choice
from weightspace.powergrid.config import DatasetConfig, PowerGridConfig, SimulationConfig
from weightspace.powergrid.growth import make_grid
from weightspace.powergrid.reader import (
    FORMAT_VERSION,
    MANIFEST,
    PROGRESS,
    GridDataset,
    open_grid_dataset,
)
from weightspace.powergrid.snbs import node_stability
from weightspace.storage import (
    SHARDS,
    atomic_write_json,
    claim_run_dir,
    finished_shard,
    read_json,
    sha256_file,
    shard_name,
    software_versions,
    sweep_temporaries,
    write_shard,
)

BACKENDS = ("inprocess", "ray")


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines a dataset's content."""

    grid: PowerGridConfig
    simulation: SimulationConfig
    dataset: DatasetConfig

    def to_dict(self) -> dict:
        return {
            "grid": self.grid.to_dict(),
            "simulation": self.simulation.to_dict(),
            "dataset": self.dataset.to_dict(),
        }

    def content_dict(self) -> dict:
        """The config without settings that do not change the numbers (device, threads, batch)."""
        d = self.to_dict()
        for name in ("device", "threads", "batch_size"):
            d["simulation"].pop(name)
        return d

    def shards(self) -> list[range]:
        size, total = self.dataset.shard_size, self.dataset.grids
        return [range(s, min(total, s + size)) for s in range(0, total, size)]


def simulate_shard(
    config: GenerateConfig, grids: range, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, torch.Tensor], pa.Table]:
    """Draw and simulate the grids ``grids`` of the dataset; returns (tensors, rows)."""
    seed = config.dataset.seed
    start = time.perf_counter()
    drawn = [make_grid(config.grid, (seed, i)) for i in grids]
    stability = node_stability(drawn, config.simulation, [(seed, i, 1) for i in grids], progress)
    seconds = time.perf_counter() - start
    tensors = {
        "power": torch.as_tensor(np.concatenate([g.power for g in drawn])),
        "theta": torch.as_tensor(np.concatenate([g.theta for g in drawn])),
        "positions": torch.as_tensor(np.concatenate([g.positions for g in drawn])),
        "edges": torch.as_tensor(np.concatenate([g.edges for g in drawn])),
        "snbs": torch.as_tensor(np.concatenate([s.snbs for s in stability])),
        "survivability": torch.as_tensor(np.concatenate([s.survivability for s in stability])),
    }
    nodes = [g.num_nodes for g in drawn]
    edges = [len(g.edges) for g in drawn]
    rows = pa.table(
        {
            "grid": pa.array(list(grids), pa.int64()),
            "seed": pa.array([seed] * len(drawn), pa.int64()),
            "num_nodes": pa.array(nodes, pa.int64()),
            "num_edges": pa.array(edges, pa.int64()),
            "node_start": pa.array(np.cumsum([0] + nodes[:-1]), pa.int64()),
            "edge_start": pa.array(np.cumsum([0] + edges[:-1]), pa.int64()),
            "redraws": pa.array([g.redraws for g in drawn], pa.int64()),
            "mean_snbs": pa.array([float(s.snbs.mean()) for s in stability], pa.float64()),
            "mean_t_final": pa.array([s.mean_t_final for s in stability], pa.float64()),
            "shard_seconds": pa.array([seconds] * len(drawn), pa.float64()),
        }
    )
    return tensors, rows


def _prepare(out: Path, config: GenerateConfig) -> bool:
    """Check ``out`` can take this dataset; True when this call wrote its progress file."""
    if out.exists() and not out.is_dir():
        raise FileFormatError(out, "exists and is not a directory", "Choose another --out")
    stamp = {"format_version": FORMAT_VERSION, "config": config.content_dict()}
    return claim_run_dir(out, PROGRESS, stamp, "grid dataset", lambda: _only_unfinished(out))


# what `write_shard` leaves of a shard it did not finish: its weights, without its rows
_WEIGHTS = re.compile(r"^shard-\d{5,}\.safetensors$")


def _only_unfinished(out: Path) -> bool:
    """``out`` holds only a progress file and what an attempt that finished no shard wrote (its
    weights files and temporaries, removed here: nothing there is worth keeping)."""
    sweep_temporaries(out)
    sweep_temporaries(out / SHARDS)
    files = list((out / SHARDS).iterdir()) if (out / SHARDS).is_dir() else []
    if any(not (_WEIGHTS.match(f.name) and f.is_file()) for f in files):
        return False
    if not {p.name for p in out.iterdir()} <= {PROGRESS, SHARDS}:
        return False
    for f in files:
        f.unlink()
    return True


def _check_runnable(config: GenerateConfig, backend: str) -> None:
    """What would fail at the first shard fails before anything is written."""
    check_choice("backend", backend, BACKENDS)
    if config.simulation.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cpu (no CUDA device is visible)", "cuda")
    if backend == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError(
            "--backend",
            "an installed Ray for backend 'ray'",
            "ray",
            "pip install 'weightspace[ray]'",
        )


def _finished(out: Path, index: int, manifest: dict | None) -> pa.Table | None:
    """A finished shard's rows, or None to (re)simulate it: a shard whose files differ from the
    hashes of a finished dataset's manifest is simulated again (the repair of a damaged file)."""
    rows = finished_shard(out, index)
    entries = (manifest or {}).get("shards")
    if rows is None or not isinstance(entries, list) or index >= len(entries):
        return rows
    entry = entries[index] if isinstance(entries[index], dict) else {}
    files = (("sha256", "safetensors"), ("rows_sha256", "parquet"))
    for key, suffix in files:
        path = out / SHARDS / f"{shard_name(index)}.{suffix}"
        if key in entry and entry[key] != sha256_file(path):
            return None
    return rows


def _run_ray(config: GenerateConfig, todo: list[tuple[int, range]]) -> Iterator:
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
    gpus = 1 if config.simulation.device == "cuda" else 0
    remote = ray.remote(num_gpus=gpus)(simulate_shard)
    pending = {remote.remote(config, grids): (index, grids) for index, grids in todo}
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        index, grids = pending.pop(ready)
        yield index, grids, *ray.get(ready)


def generate_dataset(
    config: GenerateConfig, out: str | Path, backend: str = "inprocess", progress: bool = True
) -> GridDataset:
    """Simulate the dataset ``config`` into ``out`` (resuming a partial run) and open it.

    Example:
        >>> config = GenerateConfig(PowerGridConfig(nodes=20), SimulationConfig(perturbations=200),
        ...                         DatasetConfig(grids=1000))
        >>> dataset = generate_dataset(config, "grids20/")
    """
    _check_runnable(config, backend)
    out = Path(out)
    created = not out.exists()
    started = _prepare(out, config)
    try:
        return _generate(config, out, backend, progress)
    except Exception:
        # a failed start that finished no shard leaves nothing to resume: nothing stays behind
        # (an interrupted run, or one that finished shards, keeps them for the same command)
        if started and _only_unfinished(out):
            (out / PROGRESS).unlink(missing_ok=True)
            if (out / SHARDS).is_dir() and not any((out / SHARDS).iterdir()):
                (out / SHARDS).rmdir()
            if created and not any(out.iterdir()):
                out.rmdir()
        raise


def _generate(config: GenerateConfig, out: Path, backend: str, progress: bool) -> GridDataset:
    shards = config.shards()
    manifest = read_json(out / MANIFEST, "dataset manifest") if (out / MANIFEST).is_file() else None
    done = {i: _finished(out, i, manifest) for i in range(len(shards))}
    todo = [(i, grids) for i, grids in enumerate(shards) if done[i] is None]
    if not todo and manifest is not None:
        return open_grid_dataset(out)
    from tqdm import tqdm

    per_grid = config.grid.nodes * config.simulation.perturbations
    finished = sum(len(g) for i, g in enumerate(shards) if done[i] is not None) * per_grid
    start = time.perf_counter()
    with tqdm(
        total=config.dataset.grids * per_grid,
        initial=finished,
        unit="traj",
        unit_scale=True,
        disable=not progress,
        desc=f"{config.grid.nodes}-node grids",
    ) as bar:
        if backend == "ray":
            runs = _run_ray(config, todo)
        else:
            runs = ((i, g, *simulate_shard(config, g, bar.update)) for i, g in todo)
        for index, grids, tensors, rows in runs:
            write_shard(out, index, tensors, rows)
            done[index] = finished_shard(out, index)
            if backend == "ray":
                bar.update(len(grids) * per_grid)
    seconds = time.perf_counter() - start
    _finalize(out, config, done, len(todo), seconds)
    return open_grid_dataset(out)


def _finalize(out: Path, config: GenerateConfig, done: dict, computed: int, seconds: float):
    shard_seconds = [float(t.column("shard_seconds")[0].as_py()) for t in done.values()]
    trajectories = config.dataset.grids * config.grid.nodes * config.simulation.perturbations
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "counts": {"grids": config.dataset.grids, "trajectories": trajectories},
        "shards": [
            {
                "file": f"{shard_name(i)}.safetensors",
                "grids": done[i].num_rows,
                "sha256": sha256_file(out / SHARDS / f"{shard_name(i)}.safetensors"),
                "rows_sha256": sha256_file(out / SHARDS / f"{shard_name(i)}.parquet"),
            }
            for i in sorted(done)
        ],
        "timing": {
            "simulation_seconds": sum(shard_seconds),
            "trajectories_per_second": trajectories / max(sum(shard_seconds), 1e-9),
            "last_run_wall_seconds": seconds,
            "last_run_shards": computed,
        },
        "software": software_versions(),
    }
    atomic_write_json(out / MANIFEST, manifest)
