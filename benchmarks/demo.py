"""Wall time of `weightspace demo` against its budgets (full <= 10 min, --quick <= 2 min).

    python benchmarks/demo.py [--full]

Runs the quick demo (and, with --full, the full one) from scratch in a temporary directory,
in a fresh process each (imports and the dataset load count), and prints each stage's time,
the wall time, and the share of the budget it used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGETS = {"quick": 120.0, "full": 600.0}


def run(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "weightspace.cli", "demo", "--quiet", "--out", tmp]
        start = time.perf_counter()
        subprocess.run(
            command + (["--quick"] if name == "quick" else []),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        results = json.loads((Path(tmp) / "results.json").read_text())
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in results["timings"].items() if k != "total")
    groups = {g["name"]: g["curves"] for g in results["sampling"]["groups"]}
    zero = {n: sum(c[0] for c in curves) / len(curves) for n, curves in groups.items()}
    print(f"{name}: {stages}")
    print(
        f"{name}: wall {wall:.0f} s of a {BUDGETS[name]:.0f} s budget "
        f"(ratio {wall / BUDGETS[name]:.2f}); samples zero-shot {zero['samples']:.3f}, "
        f"anchors {zero['anchors']:.3f}, random init {zero['random init']:.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the full demo")
    args = parser.parse_args()
    for name in ("quick", "full") if args.full else ("quick",):
        run(name)


if __name__ == "__main__":
    main()
