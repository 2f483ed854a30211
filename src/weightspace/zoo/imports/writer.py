"""Write imported checkpoints as a zoo in our format (safetensors shards + Parquet + manifest).

Checkpoints stream through: each one is read when its turn comes and goes into a shard that is
written as soon as it is full, so memory holds one shard, not the zoo. Every checkpoint an
importer found becomes a row. One that cannot be used (unreadable file, keys or shapes unlike
the others, non-finite values, a second row for the same model and epoch) is kept as a row with
``status = "bad"`` and a ``problem`` that says why; its weights are stored as zeros (or as read,
when only their values are bad).

The zoo is assembled in a private work directory beside ``out`` (made by ``tempfile.mkdtemp``,
given the user's default permissions, and marked as ours) and renamed into place at the end. An
interrupted import leaves only that directory; the same import run again finds it by its marker
and continues after the last finished shard. An import refused for its input (a package error)
removes it. Nothing the package did not create is ever removed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
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
    check_output_dir,
    finished_shard,
    make_work_dir,
    read_json,
    sha256_file,
    shard_name,
    software_versions,
    sweep_temporaries,
    write_shard,
    write_table,
)

MARKER = "weightspace-import.json"  # inside a work directory: it is ours, and what it builds
SHARD_BYTES = 256 * 2**20  # a shard's weights stay below this (a ResNet-18 shard: ~5 checkpoints)

State = dict[str, torch.Tensor]


@dataclass
class Checkpoint:
    """One checkpoint found by an importer: its weights (or how to read them) and metadata.

    ``load`` reads the weights lazily, returning (state or None, problem), so an importer can
    list a million checkpoints without holding them; ``state`` is for weights already in memory.
    """

    model_id: int
    epoch: int
    state: State | None = None
    values: dict[str, object] = field(default_factory=dict)  # metrics and factors
    problem: str = ""  # why it cannot be used; empty when it can
    load: Callable[[], tuple[State | None, str]] | None = None
    rename: Callable[[State], State] | None = None  # applied after reading (registry key names)

    def read(self) -> tuple[State | None, str]:
        """(weights under their final names or None, problem)."""
        if self.state is None and self.load is not None:
            self.state, found = self.load()
            self.problem = self.problem or found
            self.load = None
        if self.state is None:
            return None, self.problem
        return (self.rename(self.state) if self.rename else self.state), self.problem


def match_architecture(
    state: State, candidates: Iterable[ArchConfig]
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


def renamer(keys: list[str], by_name: bool) -> Callable[[State], State]:
    """A function putting a state under ``keys``: reordered by name, or renamed by position.
    A state that does not fit is returned unchanged (the writer then marks it bad)."""

    def rename(state: State) -> State:
        if by_name:
            return {k: state[k] for k in keys} if set(state) == set(keys) else state
        return dict(zip(keys, state.values(), strict=True)) if len(state) == len(keys) else state

    return rename


def spec_of(template: State, arch: ArchConfig | None) -> WeightSpec:
    """The spec of the zoo's network: traced from the registry network (under the template's
    key names, matched by position), else inferred from the state dict."""
    if arch is not None:
        traced = weight_spec(arch)
        names = dict(zip((t.key for t in traced.tensors), template, strict=False))
        return WeightSpec.from_dict(renamed_spec(traced.to_dict(), names))
    try:
        return spec_from_state_dict(template)
    except ConfigError:  # not a plain chain: keep every tensor, permute nothing
        floats = [k for k, v in template.items() if v.is_floating_point()]
        tensors = tuple(TensorSpec(k, tuple(template[k].shape)) for k in floats)
        layers = tuple(LayerSpec(k.rpartition(".")[0] or k, "other", (k,)) for k in floats)
        return WeightSpec(tensors, layers, ())


def renamed_spec(value: object, names: dict[str, str]) -> object:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [renamed_spec(v, names) for v in value]
    if isinstance(value, dict):
        return {k: renamed_spec(v, names) for k, v in value.items()}
    return value


def _check(state: State, template: State) -> tuple[str, bool]:
    """(problem or "", whether the tensors fit the template's keys and shapes)."""
    if set(state) != set(template):
        missing = sorted(set(template) - set(state))[:3]
        extra = sorted(set(state) - set(template))[:3]
        return f"keys differ from the first checkpoint (missing {missing}, extra {extra})", False
    for key, value in state.items():
        if tuple(value.shape) != tuple(template[key].shape):
            expected = tuple(template[key].shape)
            return f"{key} has shape {tuple(value.shape)}, expected {expected}", False
    return "", True  # finite values are checked per shard, all rows at once


class _Shards:
    """Buffers rows and writes a shard whenever ``size`` checkpoints have come in."""

    def __init__(self, root: Path, template: State, size: int, first_index: int) -> None:
        self.root, self.template, self.size = root, template, size
        self.index = first_index
        self.buffer: list[tuple[State, dict]] = []
        self.written: list[pa.Table] = []
        self.seen: set[tuple[int, int]] = set()

    def add(self, ckpt: Checkpoint) -> None:
        state, problem = ckpt.read()
        fits = False
        if state is not None:
            found, fits = _check(state, self.template)
            problem = problem or found
        key = (int(ckpt.model_id), int(ckpt.epoch))
        if key in self.seen and not problem:
            problem = f"a second checkpoint for model {key[0]}, epoch {key[1]}"
        self.seen.add(key)
        if not fits:
            state = {k: torch.zeros_like(v) for k, v in self.template.items()}
        row = {"model_id": key[0], "epoch": key[1], **ckpt.values}
        row.update(status="bad" if problem else "ok", problem=problem)
        self.buffer.append(({k: state[k] for k in self.template}, row))
        if len(self.buffer) == self.size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        tensors = {
            k: torch.stack([state[k].to(v.dtype) for state, _ in self.buffer])
            for k, v in self.template.items()
        }
        for key, value in tensors.items():
            if not value.is_floating_point():
                continue
            finite = torch.isfinite(value.reshape(len(value), -1)).all(1)  # (n,)
            for i in torch.nonzero(~finite).flatten().tolist():
                row = self.buffer[i][1]
                if not row["problem"]:
                    row.update(status="bad", problem=f"{key} holds NaN or inf values")
        names = list(dict.fromkeys(k for _, row in self.buffer for k in row))
        rows = [
            {**{k: row.get(k) for k in names}, "shard": self.index, "shard_row": i}
            for i, (_, row) in enumerate(self.buffer)
        ]
        table = pa.Table.from_pylist(rows)
        write_shard(self.root, self.index, tensors, table)
        self.written.append(table)
        self.index += 1
        self.buffer = []


def _shard_size(template: State, shard_size: int) -> int:
    nbytes = sum(v.numel() * v.element_size() for v in template.values())
    return max(1, min(shard_size, SHARD_BYTES // max(nbytes, 1)))


def _work_dir(out: Path, key: str) -> Path:
    """The private work directory of this import: resumed when one of ours matches ``key``;
    our stale ones for ``out`` are removed; anything else is left alone."""
    for candidate in sorted(out.parent.glob(f".{out.name}.*.importing")):
        marker = candidate / MARKER
        if not candidate.is_dir() or candidate.is_symlink():
            continue
        if not marker.is_file():
            if _unclaimed_start(candidate):  # killed between mkdtemp and its marker: empty
                shutil.rmtree(candidate)
            continue  # anything else is not ours: never touched
        try:
            same = json.loads(marker.read_text()).get("key") == key
        except (OSError, ValueError):
            same = False
        if same:
            sweep_temporaries(candidate)  # what a killed write left half-written
            sweep_temporaries(candidate / SHARDS)
            return candidate
        shutil.rmtree(candidate)
    work = make_work_dir(out.parent, f".{out.name}.", ".importing")
    atomic_write_json(work / MARKER, {"key": key})
    (work / SHARDS).mkdir()
    return work


def _unclaimed_start(folder: Path) -> bool:
    """A work directory killed before its marker was written holds nothing else than
    (a temporary of) the marker: removing it loses nothing."""
    return all(
        p.is_file() and p.name.startswith(f".{MARKER}.") and p.name.endswith(".tmp")
        for p in folder.iterdir()
    )


def _check_out(out: Path) -> None:
    check_output_dir(out, "--out")  # its folder (made if missing) takes the work directory
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError("--out", "a new or empty directory", str(out), "Choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)


def write_zoo(
    out: str | Path,
    checkpoints: Iterable[Checkpoint],
    *,
    name: str,
    source: dict,
    arch: ArchConfig | None = None,
    dataset: dict | None = None,
    shard_size: int = 256,
    extra: dict | None = None,
) -> Zoo:
    """Write ``checkpoints`` (all of one network, keys in state-dict order) as a zoo at ``out``.

    ``source`` describes where they came from and identifies the import for resuming;
    ``dataset`` is the task's `DatasetConfig` as a dict; ``extra`` adds manifest fields.
    """
    out = Path(out).resolve()
    _check_out(out)
    key = json.dumps({"source": source, "arch": arch and arch.to_dict()}, sort_keys=True)
    work = _work_dir(out, key)
    try:
        table, template = _write_rows(work, iter(checkpoints), shard_size)
        _write_manifest(work, table, template, name, source, arch, dataset, extra or {})
    except WeightspaceError:
        # refused input fails the same way again: nothing of this import is worth keeping (an
        # interrupt or a crash keeps the work directory, and the same import resumes from it)
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / MARKER).unlink()
    if out.exists():
        out.rmdir()
    os.replace(work, out)
    return open_zoo(out)


def _resume(work: Path) -> tuple[list[pa.Table], State | None]:
    """Finished shards of an interrupted run (in order) and the template they were made with."""
    tables: list[pa.Table] = []
    for index in itertools.count():
        rows = finished_shard(work, index)
        if rows is None:
            break
        tables.append(rows)
    marker = read_json(work / MARKER, "import marker")
    template = marker.get("template")
    if not tables or template is None:
        return [], None
    zeros = {
        k: torch.zeros(v["shape"], dtype=getattr(torch, v["dtype"].removeprefix("torch.")))
        for k, v in template.items()
    }
    return tables, {k: zeros[k] for k in marker["order"]}  # JSON objects keep no order


def _write_rows(work: Path, checkpoints: Iterator[Checkpoint], shard_size: int):  # noqa: ANN202
    done, template = _resume(work)
    shards: _Shards | None = None
    if template is not None:
        skip = sum(t.num_rows for t in done)
        checkpoints = itertools.islice(checkpoints, skip, None)
        shards = _Shards(work, template, _shard_size(template, shard_size), len(done))
        for t in done:
            ids, epochs = t.column("model_id").to_pylist(), t.column("epoch").to_pylist()
            shards.seen.update(zip(ids, epochs, strict=True))
    pending: list[Checkpoint] = []  # rows before the first readable checkpoint
    for ckpt in checkpoints:
        if shards is None:
            state, _ = ckpt.read()
            if state is None:
                pending.append(ckpt)
                continue
            template = {k: v.detach().cpu() for k, v in state.items()}
            _remember(work, template)
            shards = _Shards(work, template, _shard_size(template, shard_size), 0)
            for early in pending:
                shards.add(early)
        shards.add(ckpt)
    if shards is None:
        problems = "; ".join(sorted({c.problem for c in pending}))[:300] or "no checkpoints found"
        raise WeightspaceError(f"import: no readable checkpoint ({problems})")
    shards.flush()
    table = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in done + shards.written],
        promote_options="default",
    )
    order = np.lexsort((table.column("epoch").to_numpy(), table.column("model_id").to_numpy()))
    table = table.take(pa.array(order))
    if "ggap" not in table.column_names and {"train_acc", "test_acc"} <= set(table.column_names):
        gap = pc.subtract(table.column("train_acc"), table.column("test_acc"))
        table = table.append_column("ggap", gap)
    write_table(work / TABLE, table)
    return table, shards.template


def _remember(work: Path, template: State) -> None:
    marker = read_json(work / MARKER, "import marker")
    marker["template"] = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in template.items()
    }
    marker["order"] = list(template)
    atomic_write_json(work / MARKER, marker)


def architecture_entry(template: State, arch: ArchConfig | None) -> dict:
    """The manifest's ``architecture`` field for a zoo of ``template``'s network."""
    spec = spec_of(template, arch)
    return {
        "config": None if arch is None else arch.to_dict(),
        "parameters": {
            k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in template.items()
        },
        "order": list(template),
        "num_parameters": spec.num_params,
        "spec": spec.to_dict(),
    }


def _write_manifest(work, table, template, name, source, arch, dataset, extra) -> None:  # noqa: ANN001
    status = table.column("status").to_numpy(zero_copy_only=False)
    models = table.column("model_id").to_numpy()
    shard_ids = table.column("shard").to_numpy()
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "config": None,
        "source": source,
        "architecture": architecture_entry(template, arch),
        "dataset": None if dataset is None else {"config": dataset},
        "software": software_versions(),
        "shards": [
            {
                "file": f"{shard_name(i)}.safetensors",
                "rows": int((shard_ids == i).sum()),
                "sha256": sha256_file(work / SHARDS / f"{shard_name(i)}.safetensors"),
            }
            for i in range(int(shard_ids.max()) + 1)
        ],
        "table": {"file": TABLE, "rows": table.num_rows, "sha256": sha256_file(work / TABLE)},
        "counts": {
            "models": len(np.unique(models)),
            "checkpoints": table.num_rows,
            "bad": int((status == "bad").sum()),
        },
    }
    atomic_write_json(work / MANIFEST, {**manifest, **extra})
