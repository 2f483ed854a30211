"""Read a zoo lazily: the table at once, weights only for the rows asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from weightspace.errors import ConfigError, ZooFormatError
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.storage import FORMAT_VERSION, MANIFEST, TABLE, read_json, sha256_file


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
        # an imported zoo has no config of ours (and maybe no registry architecture)
        self.config = ZooConfig.from_dict(manifest["config"]) if manifest["config"] else None
        arch = manifest["architecture"]
        # state-dict order: the flat vector, the tokens and `load_state_dict` all rely on it
        self.keys: list[str] = arch.get("order") or _state_dict_order(arch["config"])
        if sorted(self.keys) != sorted(arch["parameters"]):
            raise ZooFormatError(root / MANIFEST, "architecture.order does not list the parameters")
        self.shapes = {k: tuple(v["shape"]) for k, v in arch["parameters"].items()}
        self.dtypes = {k: v["dtype"] for k, v in arch["parameters"].items()}
        self._shard = table.column("shard").to_numpy()
        self._shard_row = table.column("shard_row").to_numpy()
        self._handles: dict[Path, object] = {}
        self._handles_pid = os.getpid()

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

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    def arch(self, row: int) -> ArchConfig:
        """The architecture config of one checkpoint (its activation, dropout and init)."""
        base = self.manifest["architecture"]["config"]
        if base is None:
            raise ConfigError(
                "architecture",
                "a registry architecture",
                "an imported network without one",
                fix="Read its weights with zoo.state_dict(row) or zoo.flat(rows)",
            )
        values = {
            k: self.table.column(k)[row].as_py() if k in self.table.column_names else base.get(k)
            for k in ("activation", "dropout", "init")
        }
        return ArchConfig(
            base["name"],
            tuple(base["input_shape"]),
            base["num_classes"],
            values["activation"] or "relu",
            values["dropout"] or 0.0,
            values["init"] or "default",
            tuple(base["hidden"]),
        )

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
                    block = handle.get_slice(key)[lo:hi]
                    out[key][torch.from_numpy(where)] = block[torch.from_numpy(local - lo)]
            except (SafetensorError, OSError, KeyError) as err:
                raise ZooFormatError(
                    path, f"cannot read weights ({err})", "Recreate the zoo"
                ) from None
        return out

    def state_dicts(self, rows: Sequence[int] | np.ndarray) -> list[dict[str, torch.Tensor]]:
        stacked = self.weights(rows)
        return [{k: v[i] for k, v in stacked.items()} for i in range(len(rows))]

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
        """Yield (row indices, flat weights (b, P)) without loading everything at once."""
        rows = self._check_rows(rows)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            yield chunk, self.flat(chunk)

    def model(self, row: int) -> nn.Module:
        """The network of one checkpoint, weights loaded, in eval mode."""
        net = build_model(self.arch(row))
        net.load_state_dict(self.state_dict(row))
        return net.eval()

    def _handle(self, path: Path):  # noqa: ANN202 - safetensors' handle type is private
        """An open shard, kept per process: reading one checkpoint parses no header again."""
        if self._handles_pid != os.getpid():  # a forked DataLoader worker opens its own
            self._handles, self._handles_pid = {}, os.getpid()
        if path not in self._handles:
            self._handles[path] = safe_open(path, framework="pt")
        return self._handles[path]

    def _check_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise ConfigError("rows", f"indices in 0..{len(self) - 1}", rows.tolist()[:5])
        return rows


def _state_dict_order(config: dict) -> list[str]:
    """The key order of the architecture's state dict (zoos written before "order" existed)."""
    arch = ArchConfig(
        config["name"],
        tuple(config["input_shape"]),
        config["num_classes"],
        hidden=tuple(config["hidden"]),
    )
    with torch.device("meta"):
        return list(build_model(arch).state_dict())


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.removeprefix("torch."))


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
    for required in ("config", "architecture", "shards", "table"):
        if required not in manifest:
            raise ZooFormatError(root / MANIFEST, f"missing field {required!r}")
    if verify:
        files = [(TABLE, manifest["table"]["sha256"])]
        files += [(f"shards/{s['file']}", s["sha256"]) for s in manifest["shards"]]
        for name, expected in files:
            if not (root / name).is_file():
                raise ZooFormatError(root / name, "file listed in the manifest is missing")
            if sha256_file(root / name) != expected:
                raise ZooFormatError(
                    root / name,
                    "sha256 does not match the manifest: the file is corrupt or was modified",
                    "Restore the file or recreate the zoo (zoo create resumes from intact shards)",
                )
    try:
        table = pq.read_table(root / TABLE)
    except (pa.ArrowException, OSError) as err:
        raise ZooFormatError(root / TABLE, f"cannot read the table ({err})") from None
    return Zoo(root, manifest, table)
