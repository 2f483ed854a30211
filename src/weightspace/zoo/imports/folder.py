"""A folder of checkpoints described by ``metadata.csv``.

    metadata.csv    a ``file`` column naming each checkpoint (relative to the folder; paths that
                    leave it are refused), optional ``model_id`` and ``epoch``; every other column
                    is metadata (metrics, factors)
    *.safetensors | *.pt | *.pth | *.ckpt
                    a plain state dict, or one wrapped as ``{"state_dict": ...}`` (PyTorch
                    Lightning), ``{"model": ...}`` or ``{"net": ...}``; loaded without running code

A file may hold a list of state dicts (an ensemble, or a trajectory saved at once): each entry
becomes a model of its own (``list_entries="models"``; model ids are then numbered in file and
entry order, so metadata.csv must not give them) or a checkpoint of its row's model at epochs
0, 1, ... (``"epochs"``; metadata.csv must not give epochs). Every imported row keeps its
source: a ``file`` column (relative to the folder) and, for list entries, ``entry``.

A folder may hold several architectures (different keys or shapes): they become one zoo each
with ``split_by_architecture``, else the import stops with the groups and their files listed;
list entries are grouped after they are read, each by its own keys and shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from safetensors import SafetensorError, safe_open

from weightspace.errors import ConfigError, FileFormatError
from weightspace.zoo.imports.common import METRICS, ImportOptions, integral, lazy_load
from weightspace.zoo.imports.load import count_entries
from weightspace.zoo.imports.writer import Checkpoint


def folder_rows(root: Path) -> list[tuple[Path, int, int, dict]]:
    """[(file, model id, epoch, metadata)] from ``metadata.csv``, validated."""
    meta_path = root / "metadata.csv"
    if not meta_path.is_file():
        raise FileFormatError(
            meta_path,
            "missing",
            "Write a metadata.csv with a 'file' column "
            "naming each checkpoint (optional: model_id, epoch, metrics)",
        )
    try:
        table = pacsv.read_csv(meta_path)
    except (pa.ArrowException, OSError) as err:
        raise FileFormatError(meta_path, f"unreadable CSV ({err})") from None
    if "file" not in table.column_names:
        raise FileFormatError(meta_path, "missing column 'file'")
    base = root.resolve()
    rows = []
    for i, entry in enumerate(table.to_pylist()):
        where = f"{meta_path}: row {i + 1}"
        path = (root / str(entry.pop("file"))).resolve()
        if not path.is_relative_to(base):
            raise ConfigError(f"{where} file", "a path inside the import folder", str(path))
        model_id = entry.pop("model_id", None)
        epoch = entry.pop("epoch", None)
        model_id = i if model_id is None else integral(model_id, f"{where} model_id")
        epoch = 0 if epoch is None else integral(epoch, f"{where} epoch")
        values = {METRICS.get(k, k): v for k, v in entry.items()}
        values["file"] = path.relative_to(base).as_posix()
        rows.append((path, model_id, epoch, values))
    return rows


def expand_lists(
    rows: list[tuple[Path, int, int, dict]], root: Path, options: ImportOptions
) -> list[tuple[Path, int, int, dict]]:
    """The rows with every file that holds a list of state dicts replaced by one row per entry
    (``values["entry"]``): new models, or epochs of the row's model (`ImportOptions`)."""
    counts = [count_entries(path) if path.is_file() else None for path, *_ in rows]
    if all(c is None for c in counts):
        return rows
    listed = next(r[0] for r, c in zip(rows, counts, strict=True) if c is not None)
    given = set(pacsv.read_csv(root / "metadata.csv").column_names)
    column = "model_id" if options.list_entries == "models" else "epoch"
    if column in given:
        other = "epochs" if options.list_entries == "models" else "models"
        raise ConfigError(
            "--list-entries",
            f"a metadata.csv without a {column!r} column when files hold lists of state dicts "
            f"(each entry is one {'model' if column == 'model_id' else 'epoch'})",
            f"{listed} holds a list",
            f"Drop the {column} column, or pass --list-entries {other}",
        )
    out = []
    for (path, model_id, epoch, values), count in zip(rows, counts, strict=True):
        for j in range(count or 1):
            entry = {**values, "entry": j} if count is not None else values
            if options.list_entries == "epochs":
                out.append((path, model_id, j if count is not None else epoch, entry))
            else:  # models: numbered in file and entry order
                out.append((path, len(out), epoch, entry))
    return out


def signature(path: Path, options: ImportOptions, entry: int | None = None) -> tuple:
    """What makes two checkpoints one architecture: keys and shapes (None if unreadable)."""
    if path.suffix == ".safetensors":  # the header holds every shape: no tensor is read
        try:
            with safe_open(path, framework="pt") as handle:
                shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError):
            return ()
        shapes = {k.removeprefix(options.strip_prefix): v for k, v in shapes.items()}
    else:
        state, _ = lazy_load(path, options.strip_prefix, entry)()
        if state is None:
            return ()
        shapes = {k: tuple(v.shape) for k, v in state.items()}
    return tuple(sorted(shapes.items()))  # safetensors files keep no order


def group_by_architecture(
    rows: list[tuple[Path, int, int, dict]], options: ImportOptions
) -> list[list[tuple[Path, int, int, dict]]]:
    """The rows per architecture, in order of first appearance (unreadable ones join the first)."""
    groups: dict[tuple, list] = {}
    unreadable = []
    for row in rows:
        key = signature(row[0], options, row[3].get("entry")) if row[0].is_file() else ()
        (groups.setdefault(key, []) if key else unreadable).append(row)
    ordered = list(groups.values()) or [[]]
    ordered[0] = ordered[0] + unreadable
    return ordered


def describe_groups(groups: list[list], root: Path) -> str:
    lines = []
    for i, rows in enumerate(groups):
        names = [_source(values) for *_, values in rows[:3]]
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        lines.append(f"architecture {i + 1}: {len(rows)} files ({', '.join(names)}{more})")
    return "; ".join(lines)


def _source(values: dict) -> str:
    """A row's file, with its entry for a file holding a list of state dicts."""
    return values["file"] + (f" [{values['entry']}]" if "entry" in values else "")


def checkpoints(rows: list, options: ImportOptions) -> Iterator[Checkpoint]:
    for path, model_id, epoch, values in rows:
        if not path.is_file():
            yield Checkpoint(model_id, epoch, None, values, f"{path}: file missing")
            continue
        load = lazy_load(path, options.strip_prefix, values.get("entry"))
        yield Checkpoint(model_id, epoch, values=values, load=load)
