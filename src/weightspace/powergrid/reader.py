"""Read a generated grid dataset and serve its grids as PyTorch Geometric ``Data`` objects.

Every grid becomes ``Data(x, edge_index, edge_attr, y, surv)``:
    x          (n, 1) float32  power injection P
    edge_index (2, 2E) int64   both directions of every line
    edge_attr  (2E, 1) float32 coupling K of the line
    y          (n,) float32    SNBS per node
    surv       (n,) float32    survivability per node (when known)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from weightspace.errors import ConfigError, FileFormatError
from weightspace.storage import SHARDS, read_json, sha256_file, shard_name

FORMAT_VERSION = 1
PROGRESS = "progress.json"
MANIFEST = "dataset.json"
SPLITS = ("train", "valid", "test")


def grid_data(
    power: np.ndarray,
    edges: np.ndarray,
    coupling: float | np.ndarray,
    snbs: np.ndarray | None = None,
    survivability: np.ndarray | None = None,
):
    """One grid as a PyG ``Data``; ``edges`` (E, 2) holds each line once (any direction)."""
    from torch_geometric.data import Data

    edges = torch.as_tensor(np.asarray(edges), dtype=torch.long).reshape(-1, 2)
    edge_index = torch.cat([edges.T, edges.T.flip(0)], dim=1)  # (2, 2E)
    weight = torch.as_tensor(np.broadcast_to(coupling, (len(edges),)).copy(), dtype=torch.float32)
    data = Data(
        x=torch.as_tensor(np.asarray(power), dtype=torch.float32).reshape(-1, 1),
        edge_index=edge_index,
        edge_attr=torch.cat([weight, weight]).reshape(-1, 1),
    )
    if snbs is not None:
        data.y = torch.as_tensor(np.asarray(snbs), dtype=torch.float32)
    if survivability is not None:
        data.surv = torch.as_tensor(np.asarray(survivability), dtype=torch.float32)
    return data


def split_indices(count: int, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded random split of ``count`` grids into train / valid / test (70/15/15)."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ConfigError("fractions", "three shares >= 0 summing to 1", fractions)
    order = np.random.default_rng(seed).permutation(count)
    cuts = np.round(np.cumsum(fractions)[:2] * count).astype(int)
    return dict(zip(SPLITS, np.split(order, cuts), strict=True))


class GridDataset:
    """A finished dataset written by `generate_dataset` (``weightspace grids generate``).

    Example:
        >>> dataset = open_grid_dataset("grids20/")
        >>> splits = dataset.splits()          # {"train": [Data, ...], "valid": ..., "test": ...}
        >>> dataset[0].y.shape                 # (20,)
    """

    def __init__(self, root: Path, manifest: dict[str, Any], table: pa.Table, tensors: dict):
        self.root = root
        self.manifest = manifest
        self.table = table
        self._tensors = tensors

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def __len__(self) -> int:
        return self.table.num_rows

    def grid_arrays(self, i: int) -> dict[str, np.ndarray]:
        """The stored arrays of grid ``i``: power, theta, positions, edges, snbs, survivability."""
        if not 0 <= i < len(self):
            raise IndexError(f"grid {i} of a dataset of {len(self)} grids")
        row = {k: v[i] for k, v in self._columns.items()}
        t = self._tensors[int(row["shard"])]
        n0, n = int(row["node_start"]), int(row["num_nodes"])
        e0, e = int(row["edge_start"]), int(row["num_edges"])
        out = {k: t[k][n0 : n0 + n].numpy() for k in ("power", "theta", "positions", "snbs")}
        out["survivability"] = t["survivability"][n0 : n0 + n].numpy()
        out["edges"] = t["edges"][e0 : e0 + e].numpy()
        return out

    @property
    def _columns(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "_cache"):
            names = ("shard", "node_start", "num_nodes", "edge_start", "num_edges")
            self._cache = {k: self.table.column(k).to_numpy() for k in names}
        return self._cache

    def __getitem__(self, i: int):
        a = self.grid_arrays(i)
        coupling = self.config["grid"]["coupling"]
        return grid_data(a["power"], a["edges"], coupling, a["snbs"], a["survivability"])

    def data_list(self) -> list:
        return [self[i] for i in range(len(self))]

    def splits(self, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, list]:
        """Train / valid / test lists of ``Data`` by a seeded random split of the grids."""
        return {
            name: [self[int(i)] for i in index]
            for name, index in split_indices(len(self), fractions, seed).items()
        }


def open_grid_dataset(path: str | Path) -> GridDataset:
    """Open a finished dataset directory; a partial or foreign one is a clear error."""
    root = Path(path)
    if not root.is_dir():
        raise FileFormatError(root, "is not a directory", "Give the --out of `grids generate`")
    fix = "Is this a dataset written by `weightspace grids generate`?"
    if not (root / MANIFEST).is_file():
        if (root / PROGRESS).is_file():
            raise FileFormatError(
                root, "is a dataset still being generated", "Rerun `grids generate` to finish it"
            )
        raise FileFormatError(root, f"{MANIFEST} not found", fix)
    manifest = read_json(root / MANIFEST, "dataset manifest", fix)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise FileFormatError(root / MANIFEST, "has an unknown format_version", fix)
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
        raise FileFormatError(root / MANIFEST, "shards must be a list of objects", fix)
    tables, tensors = [], {}
    for index, shard in enumerate(shards):
        base = root / SHARDS / shard_name(index)
        _verify(Path(f"{base}.safetensors"), shard.get("sha256"))
        if "rows_sha256" in shard:  # datasets written before it was recorded hash the weights
            _verify(Path(f"{base}.parquet"), shard["rows_sha256"])
        try:
            tensors[index] = load_file(f"{base}.safetensors")
            table = pq.read_table(f"{base}.parquet")
        except (OSError, SafetensorError, pa.ArrowException) as err:
            raise FileFormatError(
                base, f"unreadable shard ({err})", "Regenerate the dataset"
            ) from None
        if table.num_rows != shard.get("grids"):
            raise FileFormatError(base, "has a different number of grids than the manifest")
        shard_column = pa.array(np.full(table.num_rows, index), pa.int64())
        tables.append(table.replace_schema_metadata(None).append_column("shard", shard_column))
    return GridDataset(root, manifest, pa.concat_tables(tables), tensors)


def _verify(path: Path, expected: object) -> None:
    """``path`` holds what was written: its sha256 is the one the manifest recorded."""
    fix = "Regenerate the dataset with the same `weightspace grids generate`, or copy it again"
    if not path.is_file():
        raise FileFormatError(path, "file listed in the dataset manifest is missing", fix)
    if not isinstance(expected, str) or sha256_file(path) != expected:
        raise FileFormatError(
            path,
            "changed since it was written (its sha256 differs from the dataset manifest)",
            fix,
        )
