"""Interrupt every long command at several moments (Ctrl-C and SIGKILL), run it again, and get
what an uninterrupted run gives, byte for byte, with no temporary files left behind. Ctrl-C is
one line, never a traceback; `| head` is not an error either.

The commands run as real processes (signals), one thread each so that results do not depend
on the thread count.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import default_sigint, tiny_config

from weightspace.zoo import open_zoo

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
INTERRUPTED = "interrupted; run the same command again to resume"


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "weightspace.cli", *argv],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def run(argv: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "weightspace.cli", *argv],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


TIMING = ("seconds", "tokens_per_s")  # in a run's history: how fast, not what was learned


def _without_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def contents(root: Path) -> dict[str, str]:
    """sha256 per file under ``root``; JSON files without the software versions of a manifest
    and the timings of a training history. Every tensor file is compared byte for byte."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".json":
            value = json.loads(data)
            value.pop("software", None)
            data = json.dumps(_without_timing(value), sort_keys=True).encode()
        files[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return files


@dataclass(frozen=True)
class Command:
    """A command writing ``out`` and the moments (predicates on the folder) to signal it at."""

    argv: Callable[[Path, Path], list[str]]  # (inputs, out) -> argv
    moments: dict[str, Callable[[Path], bool]]


def _work_dir(out: Path) -> bool:
    return any(out.parent.glob(f".{out.name}.*.importing"))


def _marked_work_dir(out: Path) -> bool:
    return any(out.parent.glob(f".{out.name}.*.importing/weightspace-import.json"))


def _files(pattern: str) -> Callable[[Path], bool]:
    return lambda out: any(out.glob(pattern))


COMMANDS = {
    "zoo-create": Command(
        lambda i, out: [
            "zoo",
            "create",
            "--config",
            str(i / "zoo.json"),
            "--out",
            str(out),
            "--quiet",
        ],  # fmt: skip
        {
            "started": _files("progress.json"),
            "first-shard": _files("shards/shard-00000.parquet"),
            "second-shard": _files("shards/shard-00001.safetensors"),
        },
    ),
    "fit": Command(
        lambda i, out: [
            "fit",
            "--zoo",
            str(i / "zoo"),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--epochs",
            "4",
            "--batch-size",
            "4",
            "--quiet",
        ],  # fmt: skip
        {
            "first-checkpoint": _files("checkpoint/state.json"),
            "checkpoint-tensors": _files("checkpoint/state.safetensors"),
        },
    ),
    "sample": Command(
        lambda i, out: [
            "sample",
            "--model",
            str(i / "run"),
            "--zoo",
            str(i / "zoo"),
            "--n",
            "16",
            "--out",
            str(out),
        ],  # fmt: skip
        {"writing": _marked_work_dir, "work-folder-made": _work_dir},
    ),
    "zoo-import": Command(
        lambda i, out: ["zoo", "import", "--from", "folder", str(i / "src"), "--out", str(out)],
        {"writing": _marked_work_dir, "work-folder-made": _work_dir},
    ),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A zoo, a run on it and a folder to import, plus each command's uninterrupted result."""
    root = tmp_path_factory.mktemp("inputs")
    config = tiny_config(seeds=4, epochs=3, shard_size=2)
    (root / "zoo.json").write_text(json.dumps(config.to_dict()))
    run(COMMANDS["zoo-create"].argv(root, root / "zoo"))
    run(COMMANDS["fit"].argv(root, root / "run"))
    (root / "src").mkdir()
    zoo = open_zoo(root / "zoo")
    rows = []
    for row in range(len(zoo)):
        torch.save(zoo.state_dict(row), root / "src" / f"c{row}.pt")
        rows.append(f"c{row}.pt,{zoo.column('model_id')[row]},{zoo.column('epoch')[row]}")
    (root / "src" / "metadata.csv").write_text("file,model_id,epoch\n" + "\n".join(rows) + "\n")
    for name in ("sample", "zoo-import"):
        run(COMMANDS[name].argv(root, root / f"reference-{name}"))
    return root


def reference(inputs: Path, name: str) -> dict[str, str]:
    if name == "zoo-create":
        return contents(inputs / "zoo")
    if name == "fit":
        return contents(inputs / "run")
    return contents(inputs / f"reference-{name}")


def interrupt(argv: list[str], out: Path, moment: Callable[[Path], bool], sig: int) -> str:
    """Start the command, send ``sig`` once ``moment`` holds; returns what happened."""
    process = start(argv)
    deadline = time.monotonic() + 240
    while not moment(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is not None:
        process.communicate()
        return "finished first"
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if sig == signal.SIGINT:
        if process.returncode == 0:  # the signal came as it was writing its last line
            return "finished first"
        assert process.returncode == 130, err
        assert err.strip().splitlines() == [INTERRUPTED], err
    else:
        assert process.returncode == -signal.SIGKILL
    return "interrupted"


CASES = [
    (name, moment, sig)
    for name, command in COMMANDS.items()
    for moment in command.moments
    for sig in ("SIGINT", "SIGKILL")
]
# the default tier: each command once by Ctrl-C and once by SIGKILL; the rest is slow
FAST = {
    ("zoo-create", "started", "SIGINT"),
    ("fit", "checkpoint-tensors", "SIGKILL"),
    ("sample", "writing", "SIGKILL"),
    ("zoo-import", "writing", "SIGINT"),
}


def _marks(case: tuple[str, str, str]) -> list:
    return [] if case in FAST else [pytest.mark.slow]


@pytest.mark.parametrize(
    "name, moment, sig",
    [pytest.param(*c, marks=_marks(c)) for c in CASES],
    ids=["-".join(c) for c in CASES],
)
def test_interrupted_command_resumes_to_the_same_result(name, moment, sig, inputs, tmp_path):
    command = COMMANDS[name]
    out = tmp_path / "out"
    argv = command.argv(inputs, out)
    interrupt(argv, out, command.moments[moment], getattr(signal, sig))
    run(argv)  # the same command again
    assert contents(out) == reference(inputs, name)
    assert not list(tmp_path.rglob("*.tmp")), "temporary files left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a work folder left behind"


def test_a_killed_runs_full_size_temporaries_are_swept_on_resume(inputs, tmp_path):
    """What SIGKILL leaves mid-write (a full-size `.tmp`) is removed when the run resumes."""
    out = tmp_path / "zoo"
    argv = COMMANDS["zoo-create"].argv(inputs, out)
    interrupt(argv, out, _files("shards/shard-00000.parquet"), signal.SIGKILL)
    planted = [
        out / "shards" / ".shard-00003.safetensors.k9x2_abc.tmp",
        out / ".checkpoints.parquet.q1w2e3r4.tmp",
    ]
    for path in planted:
        path.write_bytes(b"\0" * 4096)
    run(argv)
    assert not any(p.exists() for p in planted)
    assert contents(out) == reference(inputs, "zoo-create")


def test_a_reader_that_leaves_is_not_an_error():
    """`weightspace zoo presets | head -1` where head is gone before the table is written:
    exit 0 and nothing on stderr (no BrokenPipeError at exit)."""
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}  # as in a shell pipe
    process = subprocess.Popen(
        [sys.executable, "-m", "weightspace.cli", "zoo", "presets"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader leaves at once
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, err
    assert err == ""
