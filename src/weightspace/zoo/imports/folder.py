"""A folder of checkpoints described by ``metadata.csv``.

    metadata.csv    a ``file`` column naming each checkpoint (relative to the folder; paths that
                    leave it are refused), optional ``model_id`` and ``epoch``; every other column
                    is metadata (metrics, factors)
    *.safetensors | *.pt | *.pth | *.ckpt
                    a plain state dict, or one wrapped as ``{"state_dict": ...}`` (PyTorch
                    Lightning), ``{"model": ...}`` or ``{"net": ...}``; loaded without running code

A folder may hold several architectures (different keys or shapes): they become one zoo each
with ``split_by_architecture``, else the import stops with the groups and their files listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from safetensors import SafetensorError, safe_open

from weightspace.errors import ConfigError, FileFormatError
from weightspace.zoo.imports.common import METRICS, ImportOptions, integral, lazy_load
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
        rows.append((path, model_id, epoch, {METRICS.get(k, k): v for k, v in entry.items()}))
    return rows


def signature(path: Path, options: ImportOptions) -> tuple:
    """What makes two checkpoints one architecture: keys and shapes (None if unreadable)."""
    if path.suffix == ".safetensors":  # the header holds every shape: no tensor is read
        try:
            with safe_open(path, framework="pt") as handle:
                shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError):
            return ()
        shapes = {k.removeprefix(options.strip_prefix): v for k, v in shapes.items()}
    else:
        state, _ = lazy_load(path, options.strip_prefix)()
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
        key = signature(row[0], options) if row[0].is_file() else ()
        (groups.setdefault(key, []) if key else unreadable).append(row)
    ordered = list(groups.values()) or [[]]
    ordered[0] = ordered[0] + unreadable
    return ordered


def describe_groups(groups: list[list], root: Path) -> str:
    lines = []
    for i, rows in enumerate(groups):
        names = [str(r[0].relative_to(root.resolve())) for r in rows[:3]]
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        lines.append(f"architecture {i + 1}: {len(rows)} files ({', '.join(names)}{more})")
    return "; ".join(lines)


def checkpoints(rows: list, options: ImportOptions) -> Iterator[Checkpoint]:
    for path, model_id, epoch, values in rows:
        if not path.is_file():
            yield Checkpoint(model_id, epoch, None, values, f"{path}: file missing")
            continue
        yield Checkpoint(model_id, epoch, values=values, load=lazy_load(path, options.strip_prefix))
