"""Configuration grids for model diagnosis: width x batch size x data fraction x seeds.

Models of different widths have different shapes and batch size and data fraction are settings
of a whole population, so every cell (width, batch size, data fraction) is its own zoo, its
seeds trained together. A grid directory holds ``grid.json`` and one zoo per cell under
``cells/``; a finished cell is never trained again, so a killed run resumes.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weightspace.errors import ConfigError, ZooFormatError
from weightspace.zoo import DatasetConfig, ZooConfig, create_zoo
from weightspace.zoo.storage import MANIFEST, atomic_write_json, read_json

GRID_FILE = "grid.json"
CELLS = "cells"


@dataclass(frozen=True)
class DiagnosisGridConfig:
    """A diagnosis grid of a width-scalable CNN ("cnn-w") trained with SGD."""

    name: str = "digits-md"
    dataset: str = field(default="digits", metadata={"help": "embedded data set (digits, tetris)"})
    widths: tuple[int, ...] = field(default=(2, 4, 8, 16), metadata={"help": "channels k"})
    batch_sizes: tuple[int, ...] = (16, 64, 256)
    data_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    seeds: int = field(default=2, metadata={"help": "models per cell (>= 2 for connectivity)"})
    epochs: int = 12
    lr: float = 0.05
    weight_decay: float = 5e-4
    label_noise: float = field(default=0.0, metadata={"help": "share of flipped train labels"})

    def __post_init__(self) -> None:
        for name in ("widths", "batch_sizes", "data_fractions"):
            if not getattr(self, name):
                raise ConfigError(name, "at least one value", getattr(self, name))
        if min(self.widths) < 1 or min(self.batch_sizes) < 1:
            raise ConfigError(
                "widths/batch_sizes", "integers >= 1", (self.widths, self.batch_sizes)
            )
        if self.seeds < 1 or self.epochs < 1:
            raise ConfigError("seeds/epochs", "integers >= 1", (self.seeds, self.epochs))
        self.cell_config(self.widths[0], self.batch_sizes[0], self.data_fractions[0])  # validates

    def cells(self) -> list[tuple[int, int, float]]:
        return list(itertools.product(self.widths, self.batch_sizes, self.data_fractions))

    def cell_config(self, width: int, batch_size: int, fraction: float) -> ZooConfig:
        """The zoo of one cell: its seeds differ, everything else is the cell's."""
        return ZooConfig(
            name=f"{self.name}-{cell_name(width, batch_size, fraction)}",
            architecture="cnn-w",
            dataset=DatasetConfig(
                self.dataset, train_fraction=fraction, label_noise=self.label_noise
            ),
            hidden=(width,),
            activation="relu",
            init="default",
            optimizer="sgd",
            lr=self.lr,
            weight_decay=self.weight_decay,
            seeds=self.seeds,
            epochs=self.epochs,
            batch_size=batch_size,
            checkpoint_epochs=(self.epochs,),
            shard_size=self.seeds,
            train_metrics="full",
        )

    def to_dict(self) -> dict:
        return asdict(self)


def cell_name(width: int, batch_size: int, fraction: float) -> str:
    return f"w{width}-bs{batch_size}-d{round(fraction * 100):03d}"


_BASE = DiagnosisGridConfig()
GRID_PRESETS = {
    "digits-md": _BASE,
    "digits-md-noisy": DiagnosisGridConfig(name="digits-md-noisy", label_noise=0.1),
    # a few seconds: for tests and a first look
    "digits-md-tiny": DiagnosisGridConfig(
        name="digits-md-tiny", widths=(2, 8), batch_sizes=(16, 256), data_fractions=(0.5, 1.0),
        seeds=2, epochs=3,
    ),
}  # fmt: skip


def grid_preset(name: str) -> DiagnosisGridConfig:
    if name not in GRID_PRESETS:
        raise ConfigError("--preset", f"one of {', '.join(GRID_PRESETS)}", name)
    return GRID_PRESETS[name]


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
