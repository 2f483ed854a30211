"""Write imported checkpoints as a zoo in our format (safetensors shards + Parquet + manifest).

Every checkpoint an importer found becomes a row. One that cannot be used (unreadable file,
keys or shapes unlike the others, non-finite values) is kept as a row with ``status = "bad"``
and a ``problem`` that says why, so `zoo info` shows it; its weights are stored as zeros (or as
read, when only their values are bad). The zoo is assembled in a temporary sibling directory and
moved into place at the end, so an interrupted import leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from weightspace.errors import ConfigError, WeightspaceError
from weightspace.spec import LayerSpec, TensorSpec, WeightSpec, spec_from_state_dict
from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import (
    FORMAT_VERSION,
    MANIFEST,
    SHARDS,
    TABLE,
    atomic_write_json,
    sha256_file,
    shard_name,
    software_versions,
    write_shard,
    write_table,
)


@dataclass
class Checkpoint:
    """One checkpoint found by an importer: its weights (None if unreadable) and metadata."""

    model_id: int
    epoch: int
    state: dict[str, torch.Tensor] | None
    values: dict[str, object] = field(default_factory=dict)  # metrics and factors
    problem: str = ""  # why it cannot be used; empty when it can


def match_architecture(
    state: dict[str, torch.Tensor], candidates: Iterable[ArchConfig]
) -> tuple[ArchConfig, list[str], bool] | None:
    """The first registry architecture that fits ``state``: (config, its key order, whether the
    keys matched by name). By name: same keys and shapes in any order (safetensors files keep
    no order); else by position: the same shapes in the same order under other names."""
    shapes = [tuple(v.shape) for v in state.values()]
    for arch in candidates:
        try:
            with torch.device("meta"):
                reference = build_model(arch).state_dict()
        except (RuntimeError, WeightspaceError):  # e.g. an input too small for its kernels
            continue
        if set(reference) == set(state) and all(
            tuple(reference[k].shape) == tuple(state[k].shape) for k in state
        ):
            return arch, list(reference), True
        if [tuple(v.shape) for v in reference.values()] == shapes:
            return arch, list(reference), False
    return None


def renamed(
    state: dict[str, torch.Tensor], keys: list[str], by_name: bool
) -> dict[str, torch.Tensor]:
    """``state`` under ``keys``: reordered by name, or renamed by position."""
    if by_name:
        return {k: state[k] for k in keys}
    return dict(zip(keys, state.values(), strict=True))


def _spec(template: dict[str, torch.Tensor], arch: ArchConfig | None) -> WeightSpec:
    if arch is not None:
        return weight_spec(arch)
    try:
        return spec_from_state_dict(template)
    except ConfigError:  # not a plain chain: keep every tensor, permute nothing
        floats = [k for k, v in template.items() if v.is_floating_point()]
        tensors = tuple(TensorSpec(k, tuple(template[k].shape)) for k in floats)
        layers = tuple(LayerSpec(k.rpartition(".")[0] or k, "other", (k,)) for k in floats)
        return WeightSpec(tensors, layers, ())


def _check(state: dict[str, torch.Tensor], template: dict[str, torch.Tensor]) -> tuple[str, bool]:
    """(problem or "", whether the tensors fit the template's keys and shapes)."""
    if set(state) != set(template):
        missing = sorted(set(template) - set(state))[:3]
        extra = sorted(set(state) - set(template))[:3]
        return f"keys differ from the first checkpoint (missing {missing}, extra {extra})", False
    for key, value in state.items():
        if tuple(value.shape) != tuple(template[key].shape):
            expected = tuple(template[key].shape)
            return f"{key} has shape {tuple(value.shape)}, expected {expected}", False
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            return f"{key} holds NaN or inf values", True
    return "", True


class _Shards:
    """Buffers rows and writes a shard every ``size`` checkpoints."""

    def __init__(self, root: Path, template: dict[str, torch.Tensor], size: int) -> None:
        self.root, self.template, self.size = root, template, size
        self.buffer: list[tuple[dict[str, torch.Tensor], dict]] = []
        self.written: list[pa.Table] = []

    def add(self, state: dict[str, torch.Tensor], row: dict) -> None:
        self.buffer.append((state, row))
        if len(self.buffer) == self.size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        index = len(self.written)
        tensors = {
            k: torch.stack([state[k].to(v.dtype) for state, _ in self.buffer])
            for k, v in self.template.items()
        }
        names = list(dict.fromkeys(k for _, row in self.buffer for k in row))
        rows = [
            {**{k: row.get(k) for k in names}, "shard": index, "shard_row": i}
            for i, (_, row) in enumerate(self.buffer)
        ]
        table = pa.Table.from_pylist(rows)
        write_shard(self.root, index, tensors, table)
        self.written.append(table)
        self.buffer = []


def write_zoo(
    out: str | Path,
    checkpoints: Iterable[Checkpoint],
    *,
    name: str,
    source: dict,
    arch: ArchConfig | None = None,
    shard_size: int = 256,
    extra: dict | None = None,
) -> Zoo:
    """Write ``checkpoints`` (all of one network, keys in state-dict order) as a zoo at ``out``.

    ``extra`` adds fields to the manifest (e.g. the evaluation of generated models).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("--out", "a new or empty directory", str(out), "Choose another --out")
    work = out.with_name(out.name + ".importing")
    shutil.rmtree(work, ignore_errors=True)
    (work / SHARDS).mkdir(parents=True)
    try:
        table, template, spec = _write_rows(work, checkpoints, arch, shard_size)
        _write_manifest(work, table, template, spec, name, source, arch, extra or {})
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return open_zoo(out)


def _write_rows(work: Path, checkpoints: Iterable[Checkpoint], arch, shard_size):  # noqa: ANN001, ANN202
    shards: _Shards | None = None
    pending: list[Checkpoint] = []  # rows before the first readable checkpoint
    for ckpt in checkpoints:
        if shards is None and ckpt.state is None:
            pending.append(ckpt)
            continue
        if shards is None:
            template = {k: v.detach().cpu() for k, v in ckpt.state.items()}
            shards = _Shards(work, template, shard_size)
            for early in pending:
                _add(shards, early)
        _add(shards, ckpt)
    if shards is None:
        problems = "; ".join(sorted({c.problem for c in pending}))[:300] or "no checkpoints found"
        raise WeightspaceError(f"import: no readable checkpoint ({problems})")
    shards.flush()
    table = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in shards.written], promote_options="default"
    )
    order = np.lexsort((table.column("epoch").to_numpy(), table.column("model_id").to_numpy()))
    table = table.take(pa.array(order))
    if "ggap" not in table.column_names and {"train_acc", "test_acc"} <= set(table.column_names):
        gap = pc.subtract(table.column("train_acc"), table.column("test_acc"))
        table = table.append_column("ggap", gap)
    write_table(work / TABLE, table)
    return table, shards.template, _spec(shards.template, arch)


def _add(shards: _Shards, ckpt: Checkpoint) -> None:
    problem, fits = ckpt.problem, False
    if ckpt.state is not None:
        found, fits = _check(ckpt.state, shards.template)
        problem = problem or found
    zeros = {k: torch.zeros_like(v) for k, v in shards.template.items()}
    state = {k: ckpt.state[k] for k in shards.template} if fits else zeros
    row = {"model_id": int(ckpt.model_id), "epoch": int(ckpt.epoch), **ckpt.values}
    row.update(status="bad" if problem else "ok", problem=problem)
    shards.add(state, row)


def _write_manifest(work, table, template, spec, name, source, arch, extra) -> None:  # noqa: ANN001
    status = table.column("status").to_numpy(zero_copy_only=False)
    models = table.column("model_id").to_numpy()
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "config": None,
        "source": source,
        "architecture": {
            "config": None if arch is None else arch.to_dict(),
            "parameters": {
                k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in template.items()
            },
            "order": list(template),
            "num_parameters": spec.num_params,
            "spec": spec.to_dict(),
        },
        "dataset": None,
        "software": software_versions(),
        "shards": [
            {
                "file": f"{shard_name(i)}.safetensors",
                "rows": int((table.column("shard").to_numpy() == i).sum()),
                "sha256": sha256_file(work / SHARDS / f"{shard_name(i)}.safetensors"),
            }
            for i in range(int(table.column("shard").to_numpy().max()) + 1)
        ],
        "table": {"file": TABLE, "rows": table.num_rows, "sha256": sha256_file(work / TABLE)},
        "counts": {
            "models": len(np.unique(models)),
            "checkpoints": table.num_rows,
            "bad": int((status == "bad").sum()),
        },
    }
    atomic_write_json(work / MANIFEST, {**manifest, **extra})
