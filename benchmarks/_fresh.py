"""Run a benchmark step in a fresh Python process, so its peak memory is its own.

The code prints one line ``RESULT <number> <number> ...``; `fresh_process` returns the numbers.
"""

from __future__ import annotations

import subprocess
import sys


def fresh_process(code: str) -> list[float]:
    """Run ``code`` with this interpreter; the numbers of its ``RESULT`` line (its stderr tail
    ends the benchmark when it fails)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    return [float(x) for x in line.split()[1:]]
