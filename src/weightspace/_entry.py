"""The ``weightspace`` executable: imports the command line inside a guard, so a Ctrl-C while
torch and scikit-learn are still loading is one line, like a Ctrl-C later on."""

from __future__ import annotations

import sys

INTERRUPTED = "interrupted; run the same command again to resume"


def run() -> int:
    try:
        from weightspace.cli import main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return main()
