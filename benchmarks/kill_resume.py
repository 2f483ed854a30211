"""Crash safety: kill `weightspace zoo create` with SIGKILL at random moments, resume, repeat.

    python benchmarks/kill_resume.py [--runs 20] [--seed 0]

Each run trains a small digits zoo (4 models, 3 epochs, one population per model, so 4
populations x 4 checkpoint-epoch weight files) in a subprocess,
SIGKILLs it after a random delay, starts it again on the same directory, and so on (up to
``--kills`` times) until a start finishes on its own. The finished zoo's shard and table hashes
are compared with those of one uninterrupted run. Last line: ``<k>/<runs> identical``.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from weightspace.zoo import preset


def command(config: Path, out: Path) -> list[str]:
    code = "import sys; from weightspace.cli import main; sys.exit(main(sys.argv[1:]))"
    return [
        sys.executable,
        "-c",
        code,
        "zoo",
        "create",
        "--config",
        str(config),
        "--out",
        str(out),
        "--quiet",
    ]


def hashes(zoo: Path) -> dict:
    manifest = json.loads((zoo / "manifest.json").read_text())
    return {
        "table": manifest["table"]["sha256"],
        "shards": [s["sha256"] for s in manifest["shards"]],
    }


def run_with_kills(
    config: Path, out: Path, rng: random.Random, horizon: float, max_kills: int
) -> int:
    """Start, kill after a random delay, restart ...; returns how many kills landed."""
    kills = 0
    while True:
        process = subprocess.Popen(
            command(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if kills < max_kills:
            try:
                process.wait(timeout=rng.uniform(0.2, horizon))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                continue
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"zoo create failed after {kills} kills: {err.decode()[-500:]}")
        return kills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=3, help="most kills per run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "zoo.json"
        zoo = preset("digits-tiny").with_changes(name="kill-resume", shard_size=1)
        config.write_text(json.dumps(zoo.to_dict()))
        start = time.perf_counter()
        subprocess.run(command(config, tmp / "reference"), check=True)
        horizon = time.perf_counter() - start  # kills land anywhere in a full run's duration
        reference = hashes(tmp / "reference")
        identical, total_kills = 0, 0
        for run in range(args.runs):
            out = tmp / f"run{run}"
            kills = run_with_kills(config, out, rng, horizon, args.kills)
            total_kills += kills
            same = hashes(out) == reference
            identical += same
            print(f"run {run + 1:2d}: {kills} kills, {'identical' if same else 'DIFFERENT'}")
        print(f"uninterrupted run: {horizon:.1f} s; {total_kills} kills in {args.runs} runs")
        print(f"{identical}/{args.runs} identical")


if __name__ == "__main__":
    main()
