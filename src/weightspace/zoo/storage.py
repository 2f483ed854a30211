"""The zoo directory: safetensors shards, a Parquet table, a JSON manifest. No pickles.

    zoo/
      manifest.json             format version, architecture, dataset + hash, config,
                                software versions, sha256 of every shard and of the table
      checkpoints.parquet       one row per checkpoint: model id, seed, epoch, factors, metrics,
                                status, and where its weights are (shard, shard_row)
      shards/shard-00000.safetensors   per state-dict key, the weights of many checkpoints
                                       stacked: (rows, *shape)
      shards/shard-00000.parquet       the rows of that shard (an import's resume marker)
      shards/population-00000.parquet  `zoo create`: the rows of one trained population and
                                       the hashes of its weight files (its resume marker)
      progress.json             while the zoo is being created: its config

Every file is written to a temporary name and renamed into place, so a crash leaves either
the old file or the new one, never half a file (the primitives: `weightspace.storage`, which
this module re-exports for the zoo's code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightspace.errors import ZooFormatError
from weightspace.storage import (
    PROGRESS,
    SHARDS,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    check_output_dir,
    check_output_file,
    finished_shard,
    make_work_dir,
    sha256_file,
    shard_name,
    software_versions,
    sweep_temporaries,
    write_shard,
    write_table,
    write_weights,
)
from weightspace.storage import read_json as _read_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLE = "checkpoints.parquet"


def read_json(
    path: Path, what: str, fix: str = "Is this a weightspace zoo directory?"
) -> dict[str, Any]:
    """A JSON object of a zoo's (`weightspace.storage.read_json`, as a `ZooFormatError`)."""
    return _read_json(path, what, fix, ZooFormatError)


__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "PROGRESS",
    "SHARDS",
    "TABLE",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_output_dir",
    "check_output_file",
    "finished_shard",
    "make_work_dir",
    "read_json",
    "sha256_file",
    "shard_name",
    "software_versions",
    "sweep_temporaries",
    "write_shard",
    "write_table",
    "write_weights",
]
