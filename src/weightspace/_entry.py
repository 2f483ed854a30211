"""The ``weightspace`` executable: imports the command line inside a guard, so a Ctrl-C while
it starts is one line, like a Ctrl-C later on. The command line itself imports only light
modules (``weightspace --help`` loads no torch); torch and scikit-learn load inside the chosen
command's run function, where `weightspace.cli.main` catches a Ctrl-C."""

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
