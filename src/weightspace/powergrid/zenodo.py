"""Read the published SNBS datasets of Nauck et al. (2022, 2023) in their Zenodo layout.

    ROOT/train/input_data.h5   grids/<id>/node_features  (n,)   power P
                               grids/<id>/edge_index     (m, 2) 1-based node numbers
                               grids/<id>/edge_attr      (m,)   coupling
    ROOT/train/snbs.h5         <id>                      (n,)   SNBS
    ROOT/valid/..., ROOT/test/...

The files are written by Julia, which stores arrays column-major: a Julia (2, m) matrix of
1-based indices reads in h5py as (m, 2), so it is transposed and 1 is subtracted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weightspace.errors import FileFormatError
from weightspace.powergrid.reader import SPLITS, grid_data

FIX = "Expected the published layout: train|valid|test/{input_data.h5, snbs.h5}"


def _edges(path: Path, key: str, raw: np.ndarray, nodes: int) -> np.ndarray:
    """(m, 2) 0-based line list from the stored (m, 2) Julia array (or an already (2, m) one)."""
    if raw.ndim != 2 or 2 not in raw.shape:
        raise FileFormatError(path, f"{key}: edge_index of shape {raw.shape}, expected (m, 2)", FIX)
    pairs = raw if raw.shape[1] == 2 else raw.T
    pairs = pairs.astype(np.int64) - 1
    if pairs.size and (pairs.min() < 0 or pairs.max() >= nodes):
        raise FileFormatError(
            path, f"{key}: edge_index outside 1..{nodes} (is it 1-based, as Julia writes?)", FIX
        )
    # the published files may hold each line once or in both directions: keep each line once
    lines = np.unique(np.sort(pairs, axis=1), axis=0)
    return lines[lines[:, 0] != lines[:, 1]]


def _read_split(folder: Path) -> list:
    import h5py

    inputs, targets = folder / "input_data.h5", folder / "snbs.h5"
    for path in (inputs, targets):
        if not path.is_file():
            raise FileFormatError(path, "not found", FIX)
    out = []
    try:
        with h5py.File(inputs, "r") as fin, h5py.File(targets, "r") as ftarget:
            if "grids" not in fin:
                raise FileFormatError(inputs, "has no 'grids' group", FIX)
            ids = sorted(fin["grids"].keys(), key=lambda k: (len(k), k))  # "2" before "10"
            for key in ids:
                group = fin["grids"][key]
                missing = {"node_features", "edge_index", "edge_attr"} - set(group.keys())
                if missing:
                    raise FileFormatError(inputs, f"grids/{key} lacks {sorted(missing)}", FIX)
                power = np.asarray(group["node_features"], dtype=np.float64).reshape(-1)
                if key not in ftarget:
                    raise FileFormatError(targets, f"no SNBS for grid {key}", FIX)
                snbs = np.asarray(ftarget[key], dtype=np.float64).reshape(-1)
                if len(snbs) != len(power):
                    raise FileFormatError(
                        targets, f"grid {key}: {len(snbs)} SNBS values for {len(power)} nodes"
                    )
                lines = _edges(inputs, f"grids/{key}", np.asarray(group["edge_index"]), len(power))
                attr = np.asarray(group["edge_attr"], dtype=np.float64).reshape(-1)
                if attr.size == 0 or np.ptp(attr) > 0:
                    raise FileFormatError(
                        inputs, f"grids/{key}: expected one coupling on every line", FIX
                    )
                coupling = float(attr[0])
                out.append(grid_data(power, lines, coupling, snbs))
    except OSError as err:
        raise FileFormatError(folder, f"unreadable HDF5 file ({err})", FIX) from None
    return out


def read_zenodo(root: str | Path, splits: tuple[str, ...] = SPLITS) -> dict[str, list]:
    """The grids of each split as lists of PyG ``Data`` (x = P, y = SNBS, edge_attr = K).

    Example:
        >>> data = read_zenodo("dataset20/")
        >>> len(data["train"]), data["train"][0].x.shape   # (7000, torch.Size([20, 1]))
    """
    root = Path(root)
    if not root.is_dir():
        raise FileFormatError(root, "is not a directory", FIX)
    return {name: _read_split(root / name) for name in splits}
