"""Metric tables: ours (Parquet) and the published MD-tree CSVs, read as they are.

A table is a dict of equal-length numpy columns. Accuracies and errors are in percent, ``data``
is the training-data fraction in tenths, ``hessian_*`` are natural logs. Labels present in a
file are used; missing ones are derived from the grid (`weightspace.diagnose.labels`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from weightspace.diagnose.labels import LABELS, RFI, derive_labels
from weightspace.errors import ConfigError, FileFormatError
from weightspace.zoo.storage import write_table as _write_parquet

Table = dict[str, np.ndarray]

PUBLISHED_COLUMNS = (
    "data_amount", "para_amount", "log_data_amount", "log_para_amount", "log_bs", "width",
    "data", "bs", "test_acc", "train_acc", "generalization_gap", "test_loss", "train_loss",
    "CKA", "hessian_e", "hessian_t", "mode_connectivity", "mode_connectivity_peak",
    "test_error", "train_error", "rfi_width", "rfi_data", "rfi_inc_temp", "rfi_dec_temp",
    "bs_failure", "width_vs_batch", "data_vs_batch",
)  # fmt: skip
GRID = ("width", "bs", "data", "test_acc")


def read_metrics(path: str | Path) -> Table:
    """Read a metrics table (``.parquet`` or ``.csv``) and complete its labels."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(path, "metrics table not found", "Write one with `diagnose metrics`")
    try:
        if path.suffix.lower() == ".csv":
            arrow = pcsv.read_csv(path)
        else:
            arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise FileFormatError(
            path, f"cannot read the table ({err})", "Give a .parquet or .csv"
        ) from None
    table = {name: arrow.column(name).to_numpy(zero_copy_only=False) for name in arrow.column_names}
    missing = [c for c in GRID if c not in table]
    if missing:
        raise FileFormatError(
            path, f"missing column {missing[0]!r}", f"A table needs {', '.join(GRID)}"
        )
    return complete_labels(table)


def complete_labels(table: Table) -> Table:
    """Add the RFI columns and labels the table lacks, derived from its grid."""
    if all(c in table for c in (*RFI, *LABELS)):
        return table
    derived = derive_labels(table["width"], table["bs"], table["data"], table["test_acc"])
    out = dict(table)
    for name, column in derived.items():
        out.setdefault(name, column)
    return out


def write_metrics(path: str | Path, rows: list[dict]) -> Table:
    """Write rows (one per configuration) as Parquet with their labels; returns the table."""
    table = rows_to_table(rows)
    table = complete_labels(table)
    _write_parquet(Path(path), pa.table({k: list(v) for k, v in table.items()}))
    return table


def columns(table: Table, names: tuple[str, ...] | list[str], why: str) -> np.ndarray:
    """The named columns as one float matrix (rows, len(names)); a missing one is a clear error."""
    missing = [n for n in names if n not in table]
    if missing:
        raise ConfigError(
            "metrics table", f"a column {missing[0]!r} ({why})", f"columns {sorted(table)}",
            "Compute it with `weightspace diagnose metrics`",
        )  # fmt: skip
    return np.stack([np.asarray(table[n], dtype=float) for n in names], 1)


def rows_to_table(rows: list[dict]) -> Table:
    names = list(dict.fromkeys(k for row in rows for k in row))
    return {k: np.array([row.get(k) for row in rows]) for k in names}


def select(table: Table, keep: np.ndarray) -> Table:
    return {k: v[keep] for k, v in table.items()}
