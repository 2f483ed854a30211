"""Storage primitives every dataset of the package is written with (zoos, twins, power-grid
datasets, diagnosis grids, encoder runs): atomic writes, JSON and Parquet files, sha256
hashes, safetensors shards with their row tables as resume markers, output checks that never
overwrite a user's file by surprise. No pickles.

Every file is written to a temporary name and renamed into place, so a crash leaves either
the old file or the new one, never half a file. The zoo directory built on these is described
in `weightspace.zoo.storage`. pyarrow, torch and safetensors load inside the functions that
write or read tables and weights: the JSON and output checks stay light (a command's
``--help`` reads config modules that import this one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightspace.errors import ConfigError, FileFormatError

if TYPE_CHECKING:
    import pyarrow as pa
    import torch

PROGRESS = "progress.json"
SHARDS = "shards"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def make_work_dir(parent: Path, prefix: str, suffix: str) -> Path:
    """A new uniquely named folder in ``parent`` (``tempfile.mkdtemp``) with the permissions an
    ordinary ``mkdir`` gives (0777 less the umask), not mkdtemp's 0700: it becomes a zoo that
    is renamed into place, and the user's default permissions apply to it."""
    work = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    os.chmod(work, 0o777 & ~_umask())
    return work


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, fsync, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file ordinary permissions
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# what `atomic_write` leaves behind when the process is killed: ".NAME.<8 random>.tmp"
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the stale temporaries `atomic_write` left in ``folder`` (a killed run's); returns
    them. Call it only on folders the package owns (a zoo, a run directory)."""
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if _TEMPORARY.match(path.name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _check_writable(folder: Path, path: Path, flag: str) -> None:
    """Create (and drop) a nameless file in ``folder``: the honest test of write access (a
    permission check says yes to root on a read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ConfigError(
            flag, "a path in a folder you can write to", str(path), f"{folder}: {err.strerror}"
        ) from None


def _writable_parent(path: Path, flag: str) -> None:
    """The nearest existing folder above ``path`` is a folder we may write in."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(flag, "a path inside a folder", str(path), f"{parent} is a file")
    _check_writable(parent, path, flag)


def check_output_file(
    path: str | Path, flag: str, overwrite: bool = False, inputs: tuple = ()
) -> Path:
    """Refuse an output file that would destroy something: a folder, a file inside one of the
    ``inputs`` folders (an input zoo), or any existing file unless ``overwrite``."""
    path = Path(path)
    for folder in inputs:
        if path.absolute().resolve().is_relative_to(Path(folder).absolute().resolve()):
            raise ConfigError(
                flag, f"a path outside the input {folder}", str(path), "Write it elsewhere"
            )
    if path.is_dir():
        raise ConfigError(flag, "a file name, not a directory", str(path))
    if path.exists() and not overwrite:
        raise ConfigError(
            flag,
            "a new file",
            str(path),
            "It exists: pass --overwrite to replace it, or choose another name",
        )
    _writable_parent(path, flag)
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """An output folder: new, or an existing folder (the caller checks what is inside)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(flag, "a directory", str(path), "It is a file: choose another path")
    if path.is_dir():
        _check_writable(path, path, flag)
    else:
        _writable_parent(path, flag)
    return path


def replace_dir(work: Path, out: Path) -> None:
    """Move the finished folder ``work`` to ``out``. An existing ``out`` is renamed aside first
    and removed only once ``work`` is in place: a crash leaves the old folder or the new one."""
    if not out.exists():
        os.replace(work, out)
        return
    import shutil

    aside = make_work_dir(out.parent, f".{out.name}.", ".replaced")
    os.replace(out, aside)  # onto the empty folder mkdtemp made
    os.replace(work, out)
    shutil.rmtree(aside)


# a file of these names at the top of a directory marks it as written by weightspace: a zoo or
# a twin (manifest), a partial run of any command (progress), an encoder run (model, state), a
# park, a diagnosis grid, a power-grid dataset, a demo run (results)
WRITTEN_HERE = frozenset({
    PROGRESS, "manifest.json", "park.json", "park-progress.json", "model.safetensors",
    "state.json", "grid.json", "dataset.json", "results.json",
})  # fmt: skip


def remove_earlier_output(
    path: str | Path,
    flag: str = "--out",
    inputs: tuple = (),
    ours: Callable[[Path], bool] | None = None,
) -> bool:
    """``--overwrite`` of a command that writes a directory: remove what an earlier run left
    at ``path`` so the command starts over (True when something was removed). Refused, with
    nothing removed: a file, a directory that is or holds one of the ``inputs`` or lies inside
    one, and a directory weightspace did not write (no `WRITTEN_HERE` file at its top, and
    ``ours(path)`` false): ``--overwrite`` never empties a user's own folder."""
    import shutil

    path = Path(path)
    if not path.exists():
        return False
    if not path.is_dir():
        raise ConfigError(flag, "a directory", str(path), "It is a file: choose another path")
    here = path.absolute().resolve()
    for folder in inputs:
        there = Path(folder).absolute().resolve()
        if here.is_relative_to(there) or there.is_relative_to(here):
            raise ConfigError(
                flag, f"a directory apart from the input {folder}", str(path), "Write elsewhere"
            )
    names = {p.name for p in path.iterdir()}
    if names and not (names & WRITTEN_HERE or (ours is not None and ours(path))):
        raise ConfigError(
            flag,
            "a directory weightspace wrote, for --overwrite to replace",
            str(path),
            "It holds other files: remove them yourself, or choose another path",
        )
    shutil.rmtree(path)
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def write_table(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_json(
    path: Path, what: str, fix: str = "", error: type[FileFormatError] = FileFormatError
) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is one ``error`` naming the file and ``what``
    it should have been."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise error(path, f"{what} not found", fix) from None
    except IsADirectoryError:
        raise error(path, f"{what} is a directory, not a JSON file", fix) from None
    except OSError as err:
        raise error(path, f"cannot read the {what} ({err.strerror})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise error(path, f"{what} is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise error(path, f"{what} must be a JSON object")
    return value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def write_weights(root: Path, index: int, tensors: dict[str, torch.Tensor]) -> str:
    """Write one shard's stacked weights (atomically); returns the file's sha256."""
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in tensors.items()}, {"format_version": "1"})
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(root / SHARDS / f"{shard_name(index)}.safetensors", data)
    return digest


def write_shard(root: Path, index: int, tensors: dict[str, torch.Tensor], rows: pa.Table) -> str:
    """Write one shard: stacked weights first, then its rows (whose presence marks it done)."""
    digest = write_weights(root, index, tensors)
    meta = {b"weightspace.shard_sha256": digest.encode()}
    write_table(root / SHARDS / f"{shard_name(index)}.parquet", rows.replace_schema_metadata(meta))
    return digest


def finished_shard(root: Path, index: int) -> pa.Table | None:
    """The rows of a finished shard, or None if it must be (re)trained.

    A shard counts as finished when its rows exist and its weights file has the hash the rows
    recorded; anything else (a kill between the two writes, a torn file) means redo it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows_path = root / SHARDS / f"{shard_name(index)}.parquet"
    weights_path = root / SHARDS / f"{shard_name(index)}.safetensors"
    if not rows_path.exists() or not weights_path.exists():
        return None
    try:
        rows = pq.read_table(rows_path)
    except (pa.ArrowException, OSError):
        return None
    expected = (rows.schema.metadata or {}).get(b"weightspace.shard_sha256", b"").decode()
    return rows if expected == sha256_file(weights_path) else None


def software_versions() -> dict[str, str]:
    """What wrote a dataset: recorded in its manifest."""
    import platform

    import pyarrow as pa
    import torch

    from weightspace._version import __version__

    return {
        "weightspace": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
    }


def claim_run_dir(
    out: Path,
    progress: str,
    stamp: dict[str, Any],
    what: str,
    replaceable: Callable[[], bool] = lambda: False,
) -> bool:
    """Make ``out`` the directory of a run described by ``stamp["config"]``: a new or empty
    directory gets the ``progress`` file (``stamp``) and True; a partial run of the same
    config is resumed (False); anything else is refused, naming ``what`` the run makes,
    unless ``replaceable()`` says the other run left nothing worth keeping (then it is
    restarted with this config). A user's folder is never taken over."""
    path = out / progress
    if path.is_file():
        recorded = read_json(path, f"{what} progress file", f"Is this a {what} directory?")
        if recorded.get("config") == stamp["config"]:
            return False
        if not replaceable():
            raise ConfigError(
                "--out",
                f"a new directory, or one holding a partial {what} of the same config",
                str(out),
                f"This directory holds a {what} of a different config: choose another --out",
            )
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(
            "--out",
            f"an empty or new directory (or a partial {what} to resume)",
            str(out),
            "Choose another --out, or remove the directory",
        )
    atomic_write_json(path, stamp)
    return True
