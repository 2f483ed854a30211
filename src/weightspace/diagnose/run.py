"""The diagnosis stages end to end: a zoo or grid -> metrics table -> fitted tree -> label."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from weightspace.diagnose.grid import grid_cells
from weightspace.diagnose.metrics import MetricsConfig, zoo_metrics
from weightspace.diagnose.tables import Table, write_metrics
from weightspace.diagnose.tree import MDTree
from weightspace.errors import ConfigError
from weightspace.zoo import open_zoo
from weightspace.zoo.storage import write_table


def _jsonable(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def compute_metrics(
    zoo_or_grid: str | Path,
    out: str | Path,
    config: MetricsConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Table:
    """Metrics of every configuration of a zoo or of every cell of a grid, written to ``out``.

    Each zoo's rows are kept in ``out``.parts/ as soon as they are computed, keyed by the
    settings and by the zoo's content hash: a rerun of the same command skips the zoos already
    done, and a zoo retrained or changed since is computed again (its stale part removed).
    """
    config = config or MetricsConfig()
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError("--out", "a file that does not exist yet", str(out), "Pass --overwrite")
    cells = grid_cells(zoo_or_grid)
    parts = out.with_name(out.name + ".parts")
    key = hashlib.sha256(json.dumps(config.__dict__, sort_keys=True).encode()).hexdigest()[:12]
    rows: list[dict] = []
    from tqdm import tqdm

    with tqdm(total=len(cells), unit="zoo", desc="metrics", disable=not progress) as bar:
        for cell in cells:
            zoo = open_zoo(cell)
            part = parts / f"{cell.name}-{key}-{zoo.content_sha256[:16]}.parquet"
            if part.is_file():
                rows += pq.read_table(part).to_pylist()
                bar.update()
                continue
            bar.set_postfix_str(cell.name)
            found = [{k: _jsonable(v) for k, v in r.items()} for r in zoo_metrics(zoo, config)]
            write_table(part, pa.Table.from_pylist(found))
            for stale in parts.glob(f"{cell.name}-{key}-*.parquet"):  # an earlier content's rows
                if stale != part:
                    stale.unlink()
            rows += found
            bar.update()
    return write_metrics(out, rows)


def diagnose_zoo(
    zoo: str | Path, tree: MDTree, config: MetricsConfig | None = None
) -> list[tuple[dict, str, list[str]]]:
    """For each configuration of a zoo: its metrics, the tree's label, the deciding comparisons."""
    out = []
    for row in zoo_metrics(open_zoo(zoo), config or MetricsConfig()):
        if row["n_seeds"] < 2:
            raise ConfigError(
                "checkpoint", "a zoo with >= 2 seeds per configuration", row["n_seeds"],
                "Mode connectivity and CKA compare seeds: train another seed of the model",
            )  # fmt: skip
        label, path = tree.explain(row)
        out.append((row, label, path))
    return out
