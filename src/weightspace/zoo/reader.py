"""Read a zoo lazily: the table at once, weights only for the rows asked for."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from weightspace.config import from_mapping
from weightspace.errors import ConfigError, ZooFormatError
from weightspace.zoo.architectures import PARK_DEFAULTS, ArchConfig, build_model, build_module
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.datasets import DatasetConfig
from weightspace.zoo.layers import INITS
from weightspace.zoo.storage import FORMAT_VERSION, MANIFEST, TABLE, read_json, sha256_file

BATCH_BYTES = 256 * 2**20  # weights read at once by `Zoo.batches`
# open shard handles map their files, and every page read stays in the process: the handles
# kept open (most recently used first) may map at most this much together
KEEP_OPEN_BYTES = 256 * 2**20


class Zoo:
    """A model zoo on disk. Open it with `open_zoo`.

    ``table`` has one row per checkpoint; row ``i`` of the table is checkpoint ``i`` everywhere.

    Example:
        >>> zoo = open_zoo("zoo/")
        >>> last = np.flatnonzero(zoo.column("epoch") == zoo.config.epochs)
        >>> X = zoo.flat(last)  # (n, P)
    """

    def __init__(self, root: Path, manifest: dict, table: pa.Table) -> None:
        self.root = root
        self.manifest = manifest
        self.table = table
        where = root / MANIFEST
        # an imported zoo has no config of ours (and maybe no registry architecture)
        try:
            self.config = ZooConfig.from_dict(manifest["config"]) if manifest["config"] else None
        except ConfigError as err:
            raise ZooFormatError(where, f"config is not a valid zoo config ({err})") from None
        arch = manifest["architecture"]
        # state-dict order: the flat vector, the tokens and `load_state_dict` all rely on it
        try:
            self.keys: list[str] = arch.get("order") or _state_dict_order(arch["config"])
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            raise ZooFormatError(where, f"architecture.config is not readable ({err})") from None
        if sorted(self.keys) != sorted(arch["parameters"]):
            raise ZooFormatError(where, "architecture.order does not list the parameters")
        self.shapes = {k: tuple(v["shape"]) for k, v in arch["parameters"].items()}
        self.dtypes = {k: v["dtype"] for k, v in arch["parameters"].items()}
        _check_table(root, manifest, table)
        self._shard = table.column("shard").to_numpy()
        self._shard_row = table.column("shard_row").to_numpy()
        self._handles: dict[Path, object] = {}
        self._handles_pid = os.getpid()
        self._sizes: dict[Path, int] = {}  # shard file sizes, for the budget of open handles

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        return f"Zoo({str(self.root)!r}, checkpoints={len(self)}, models={self.num_models})"

    @property
    def num_models(self) -> int:
        return len(np.unique(self.column("model_id")))

    def column(self, name: str) -> np.ndarray:
        """One metadata column as a numpy array."""
        if name not in self.table.column_names:
            raise ConfigError("column", f"one of {', '.join(self.table.column_names)}", name)
        return self.table.column(name).to_numpy(zero_copy_only=False)

    def check_epochs(self, epochs: Sequence[int] | None, field: str = "zoo_epochs") -> None:
        """A `ConfigError` naming ``field`` unless every one of ``epochs`` has checkpoints."""
        have = sorted(set(self.column("epoch").tolist()))
        if epochs is not None and not set(epochs) <= set(have):
            shown = ", ".join(map(str, have)) if len(have) <= 6 else f"{have[0]}..{have[-1]}"
            raise ConfigError(field, f"epochs the zoo has checkpoints of ({shown})", list(epochs))

    @property
    def content_sha256(self) -> str:
        """One hash of the zoo's content (its table and shards, from the manifest's hashes)."""
        files = [self.manifest["table"]["sha256"]] + [s["sha256"] for s in self.manifest["shards"]]
        return hashlib.sha256(" ".join(files).encode()).hexdigest()

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @property
    def dataset(self) -> DatasetConfig:
        """The task the zoo's networks solve (created zoos know it; imports get it attached)."""
        stored = (self.manifest.get("dataset") or {}).get("config")
        if not stored:
            raise ConfigError(
                "dataset",
                "a zoo with its task attached",
                f"{self.root} (imported without one)",
                fix=f"Run `weightspace zoo attach --zoo {self.root} --dataset NAME` "
                "(and --data-root DIR for files on disk)",
            )
        return from_mapping(DatasetConfig, stored, where=f"{self.root / MANIFEST} dataset")

    def arch(self, row: int) -> ArchConfig:
        """The architecture config of one checkpoint (its activation, dropout and init)."""
        base = self.manifest["architecture"]["config"]
        if base is None:
            raise ConfigError(
                "architecture",
                "a zoo whose network can be built",
                f"{self.root} (its network is known only from its weights)",
                fix=f"Run `weightspace zoo attach --zoo {self.root} --arch NAME` (a registry "
                "network, see `weightspace zoo presets`) or `--module package.module:Class`",
            )
        if "module" in base:
            raise ConfigError(
                "architecture",
                "a registry architecture",
                base["module"],
                fix=f"Use zoo.model(row, module={base['module']!r}) for a user network",
            )
        values = {
            k: self.table.column(k)[row].as_py() if k in self.table.column_names else base.get(k)
            for k in ("activation", "dropout", "init")
        }
        try:
            return ArchConfig(
                base["name"],
                tuple(base["input_shape"]),
                base["num_classes"],
                values["activation"] or "relu",
                values["dropout"] or 0.0,
                # an imported zoo's own init names (e.g. TensorFlow's he_normal) mean nothing
                # here: its weights are loaded, never initialized
                values["init"] if values["init"] in INITS else "default",
                tuple(base["hidden"]),
                **_knobs(base),
            )
        except (KeyError, TypeError) as err:
            raise ZooFormatError(
                self.root / MANIFEST, f"architecture.config lacks a readable {err}", _repair(self)
            ) from None

    def weights(self, rows: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """The weights of ``rows`` stacked per state-dict key: {key: (n, *shape)}."""
        rows = self._check_rows(rows)
        out = {
            k: torch.empty((len(rows), *self.shapes[k]), dtype=_dtype(self.dtypes[k]))
            for k in self.keys
        }
        for shard in np.unique(self._shard[rows]):
            where = np.flatnonzero(self._shard[rows] == shard)
            local = self._shard_row[rows[where]]
            lo, hi = int(local.min()), int(local.max()) + 1
            path = self.root / "shards" / f"shard-{int(shard):05d}.safetensors"
            try:
                handle = self._handle(path)
                for key in self.keys:
                    if hi - lo <= 4 * len(local):  # dense enough: one contiguous read
                        block = handle.get_slice(key)[lo:hi]
                        out[key][torch.from_numpy(where)] = block[torch.from_numpy(local - lo)]
                    else:  # a few rows scattered over a big shard (a shuffled batch): each alone
                        for i, r in zip(where.tolist(), local.tolist(), strict=True):
                            out[key][i] = handle.get_slice(key)[r : r + 1][0]
            except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as err:
                raise ZooFormatError(path, f"cannot read weights ({err})", _repair(self)) from None
            self._close_beyond_budget()
        return out

    def _close_beyond_budget(self) -> None:
        """Close the least recently used handles until the open ones map at most
        `KEEP_OPEN_BYTES` (a zoo of many or large shards would otherwise stay in memory)."""
        while self._handles:
            total = sum(self._shard_bytes(p) for p in self._handles)
            if total <= KEEP_OPEN_BYTES:
                return
            self._handles.pop(next(iter(self._handles)))

    def _shard_bytes(self, path: Path) -> int:
        if path not in self._sizes:
            self._sizes[path] = path.stat().st_size
        return self._sizes[path]

    def state_dicts(self, rows: Sequence[int] | np.ndarray) -> list[dict[str, torch.Tensor]]:
        stacked = self.weights(rows)
        n = len(next(iter(stacked.values()))) if stacked else 0
        return [{k: v[i] for k, v in stacked.items()} for i in range(n)]

    def state_dict(self, row: int) -> dict[str, torch.Tensor]:
        return self.state_dicts([row])[0]

    def flat(self, rows: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The floating-point weights of ``rows`` as one (n, P) tensor, in state-dict order."""
        stacked = self.weights(rows)
        parts = [v.reshape(len(v), -1) for v in stacked.values() if v.is_floating_point()]
        return torch.cat(parts, 1)

    def batches(
        self, rows: Sequence[int] | np.ndarray, batch_size: int = 256
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Yield (row indices, flat weights (b, P)) without loading everything at once; a batch
        holds at most ``batch_size`` rows and about 256 MB (one ResNet-18 checkpoint is 45 MB)."""
        rows = self._check_rows(rows)
        row_bytes = 4 * sum(int(np.prod(shape)) for shape in self.shapes.values())
        batch_size = max(1, min(batch_size, BATCH_BYTES // max(row_bytes, 1)))
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            yield chunk, self.flat(chunk)

    def model(
        self, row: int, module: str | None = None, module_path: str | Path | None = None
    ) -> nn.Module:
        """The network of one checkpoint, weights loaded, in eval mode.

        A registry architecture is built from the manifest. A user network
        (``package.module:Class``, recorded by ``zoo attach --module``) is imported only when
        the caller names it in ``module`` (found on ``module_path``, else in the working
        directory): a zoo's files never choose code to run.
        """
        if module is not None:
            net = build_module(module, module_path)
        else:
            net = self._registry_model(row)
        state = self.state_dict(row)
        names = list(net.state_dict())
        if names != list(state):  # a network attached to imported weights: same shapes, by order
            state = dict(zip(names, state.values(), strict=True))
        net.load_state_dict(state)
        return net.eval()

    def _registry_model(self, row: int) -> nn.Module:
        """The registry network the manifest names; a user module it names is refused unrun."""
        base = self.manifest["architecture"]["config"] or {}
        if "module" in base:
            named = base["module"]
            raise ConfigError(
                "module",
                "the user network passed by you (a zoo's manifest never chooses code to run)",
                f"{self.root / MANIFEST} naming {named!r}",
                fix=f"If you trust that code, call zoo.model(row, module={named!r})",
            )
        return build_model(self.arch(row))

    def _handle(self, path: Path):  # noqa: ANN202 - safetensors' handle type is private
        """An open shard, kept per process: reading one checkpoint parses no header again."""
        if self._handles_pid != os.getpid():  # a forked DataLoader worker opens its own
            self._handles, self._handles_pid = {}, os.getpid()
        handle = self._handles.pop(path, None) or safe_open(path, framework="pt")
        self._handles[path] = handle  # most recently used last
        return handle

    def rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row indices (n,) int64 from indices or from a boolean mask over all checkpoints."""
        array = np.asarray(rows)
        if array.dtype == bool:  # a mask, not the indices 0 and 1
            if array.shape != (len(self),):
                raise ConfigError(
                    "rows", f"row indices or a boolean mask of {len(self)} values", array.shape
                )
            return np.flatnonzero(array)
        array = array.reshape(-1)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            numeric = np.issubdtype(array.dtype, np.number)
            if not numeric or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise ConfigError(
                    "rows", "integer row indices or a boolean mask", array.tolist()[:5]
                )
        array = array.astype(np.int64)
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise ConfigError("rows", f"indices in 0..{len(self) - 1}", array.tolist()[:5])
        return array

    _check_rows = rows


def _state_dict_order(config: dict) -> list[str]:
    """The key order of the architecture's state dict (zoos written before "order" existed)."""
    arch = ArchConfig(
        config["name"],
        tuple(config["input_shape"]),
        config["num_classes"],
        hidden=tuple(config["hidden"]),
        **_knobs(config),
    )
    with torch.device("meta"):
        return list(build_model(arch).state_dict())


def _knobs(config: dict) -> dict:
    """The park-cnn knobs a manifest records (only those not at their defaults)."""
    return {k: config[k] for k in PARK_DEFAULTS if k in config}


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.removeprefix("torch."))


def _repair(zoo_or_manifest: Zoo | dict) -> str:
    """The fix for a damaged file, true for how this zoo was made."""
    manifest = zoo_or_manifest.manifest if isinstance(zoo_or_manifest, Zoo) else zoo_or_manifest
    if manifest.get("source"):
        return "Restore the file from a backup, or import the zoo again into a new --out"
    return (
        "Restore the file, or run the same `weightspace zoo create` with this --out again: "
        "it retrains damaged shards and rebuilds the table and manifest"
    )


def _check_manifest(root: Path, manifest: dict) -> None:
    """The manifest has the structure the reader relies on (a crafted file is refused here)."""
    where = root / MANIFEST

    def bad(problem: str) -> ZooFormatError:
        return ZooFormatError(where, problem, _repair(manifest))

    for required in ("config", "architecture", "shards", "table"):
        if required not in manifest:
            raise bad(f"missing field {required!r}")
    if manifest["config"] is not None and not isinstance(manifest["config"], dict):
        raise bad("config must be an object or null")
    arch, shards, table = manifest["architecture"], manifest["shards"], manifest["table"]
    if not isinstance(arch, dict) or not isinstance(arch.get("parameters"), dict):
        raise bad("architecture.parameters must be an object")
    if not isinstance(arch.get("config"), (dict, type(None))):
        raise bad("architecture.config must be an object or null")
    if not isinstance(arch.get("order", []), list):
        raise bad("architecture.order must be a list of parameter names")
    for key, value in arch["parameters"].items():
        shape = value.get("shape") if isinstance(value, dict) else None
        dtype = value.get("dtype") if isinstance(value, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise bad(f"parameter {key!r}: shape must be a list of sizes >= 0")
        if not isinstance(dtype, str) or not isinstance(
            getattr(torch, dtype.removeprefix("torch."), None), torch.dtype
        ):
            raise bad(f"parameter {key!r}: unknown dtype {dtype!r}")
    if not isinstance(table, dict) or not isinstance(table.get("sha256"), str):
        raise bad("table must be an object with a sha256")
    if not isinstance(shards, list):
        raise bad("shards must be a list")
    for entry in shards:
        name = entry.get("file") if isinstance(entry, dict) else None
        # a plain file name inside shards/: a crafted manifest cannot point outside the zoo
        ok = isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")
        if not ok or not isinstance(entry.get("sha256"), str):
            raise bad(f"shards: entry {entry!r} needs a plain file name and a sha256")
        if not isinstance(entry.get("rows", 0), int):
            raise bad(f"shards: entry {name!r} has a non-integer row count")


def _check_table(root: Path, manifest: dict, table: pa.Table) -> None:
    """The table's location columns point into the shards the manifest lists."""
    where = root / TABLE
    for name in ("model_id", "epoch", "shard", "shard_row"):
        if name not in table.column_names:
            raise ZooFormatError(where, f"missing column {name!r}", _repair(manifest))
        if not pa.types.is_integer(table.schema.field(name).type):
            raise ZooFormatError(where, f"column {name!r} is not integer", _repair(manifest))
        if table.column(name).null_count:
            raise ZooFormatError(where, f"column {name!r} has missing values", _repair(manifest))
    rows = {e["file"]: e.get("rows") for e in manifest["shards"]}
    shard, local = table.column("shard").to_numpy(), table.column("shard_row").to_numpy()
    used, which = np.unique(shard, return_inverse=True)  # one pass, however many shards
    low, high = np.full(len(used), np.iinfo(np.int64).max), np.full(len(used), -1)
    np.minimum.at(low, which, local)
    np.maximum.at(high, which, local)
    for index, lo, hi in zip(used.tolist(), low.tolist(), high.tolist(), strict=True):
        file = f"shard-{index:05d}.safetensors"
        if index < 0 or file not in rows:
            raise ZooFormatError(where, f"rows point to shard {index}, which the manifest lacks")
        limit = rows[file]
        if lo < 0 or (limit is not None and hi >= limit):
            raise ZooFormatError(
                where,
                f"shard_row {lo if lo < 0 else hi} is outside shard {index} ({limit} rows)",
                _repair(manifest),
            )


def open_zoo(path: str | Path, verify: bool = True) -> Zoo:
    """Open a zoo directory; with ``verify`` every file's sha256 is checked against the manifest."""
    root = Path(path)
    if not root.is_dir():
        raise ZooFormatError(
            root, "zoo directory not found", "Create one with `weightspace zoo create`"
        )
    manifest = read_json(root / MANIFEST, "manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ZooFormatError(
            root / MANIFEST,
            f"format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}",
            "Upgrade weightspace or recreate the zoo",
        )
    _check_manifest(root, manifest)
    if verify:
        files = [(TABLE, manifest["table"]["sha256"])]
        files += [(f"shards/{s['file']}", s["sha256"]) for s in manifest["shards"]]
        for name, expected in files:
            if not (root / name).is_file():
                raise ZooFormatError(
                    root / name, "file listed in the manifest is missing", _repair(manifest)
                )
            if sha256_file(root / name) != expected:
                raise ZooFormatError(
                    root / name,
                    "changed since it was written (its sha256 differs from the manifest)",
                    _repair(manifest),
                )
    try:
        table = pq.read_table(root / TABLE)
    except (pa.ArrowException, OSError) as err:
        raise ZooFormatError(
            root / TABLE, f"cannot read the table ({err})", _repair(manifest)
        ) from None
    return Zoo(root, manifest, table)
