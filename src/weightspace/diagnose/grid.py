"""Configuration grids for model diagnosis: width x batch size x data fraction x seeds.

Models of different widths have different shapes and batch size and data fraction are settings
of a whole population, so every cell (width, batch size, data fraction) is its own zoo, its
seeds trained together. A grid directory holds ``grid.json`` and one zoo per cell under
``cells/``; a finished cell is never trained again, so a killed run resumes.
"""

from __future__ import annotations

from pathlib import Path

from weightspace.diagnose.config import (  # noqa: F401 (GRID_PRESETS, grid_preset: re-exported)
    GRID_PRESETS,
    DiagnosisGridConfig,
    cell_name,
    grid_preset,
)
from weightspace.errors import ConfigError, ZooFormatError
from weightspace.zoo import create_zoo
from weightspace.zoo.storage import MANIFEST, atomic_write_json, read_json

GRID_FILE = "grid.json"
CELLS = "cells"


def train_grid(config: DiagnosisGridConfig, out: str | Path, progress: bool = True) -> list[Path]:
    """Train every cell of the grid into ``out/cells/`` (resuming); returns the cell zoos."""
    out = Path(out)
    if (out / GRID_FILE).exists():
        recorded = read_json(out / GRID_FILE, "grid file")
        if recorded != _jsonable(config.to_dict()):
            raise ConfigError(
                "--out", "a new directory or a partial grid of the same config", str(out),
                "This directory holds another grid: choose another --out",
            )  # fmt: skip
    elif out.exists() and any(out.iterdir()):
        raise ConfigError("--out", "an empty or new directory (or a grid to resume)", str(out))
    else:
        atomic_write_json(out / GRID_FILE, _jsonable(config.to_dict()))
    from tqdm import tqdm

    cells = [(c, out / CELLS / cell_name(*c)) for c in config.cells()]
    done = sum((path / MANIFEST).is_file() for _, path in cells)
    with tqdm(
        total=len(cells), initial=done, unit="cell", desc="grid", disable=not progress
    ) as bar:
        for (width, bs, fraction), path in cells:
            finished = (path / MANIFEST).is_file()
            bar.set_postfix_str(path.name, refresh=False)
            create_zoo(config.cell_config(width, bs, fraction), path, progress=False)
            if not finished:
                bar.update()
    return [path for _, path in cells]


def _jsonable(value: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}


def grid_cells(path: str | Path) -> list[Path]:
    """The zoo directories of a grid, or ``[path]`` when ``path`` is one zoo."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return [path]
    if not (path / GRID_FILE).is_file():
        raise ZooFormatError(
            path, "neither a zoo nor a diagnosis grid", "Train one with `diagnose grid`"
        )
    cells = sorted(p for p in (path / CELLS).iterdir() if (p / MANIFEST).is_file())
    if not cells:
        raise ZooFormatError(path, "the grid has no finished cell", "Run `diagnose grid` again")
    return cells
