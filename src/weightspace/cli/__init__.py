"""The ``weightspace`` command line: one module per command group, each with ``register``.

weightspace zoo create (--preset NAME | --config FILE) --out DIR [--backend ray] [--device cuda]
weightspace zoo info | import | presets
weightspace fit | embed | probe | sample
weightspace demo | report
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from weightspace._entry import INTERRUPTED
from weightspace.cli.common import HelpFormatter, resolve_inputs, resolve_outputs, sub_commands
from weightspace.errors import WeightspaceError

# each module has register(commands); a new command group is one more name here
COMMAND_MODULES = (
    "zoo",
    "imports",
    "encoders",
    "probe",
    "demo",
    "reproduce",
    "diagnose",
    "graphs",
    "grids",
    "sparsify",
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; it imports only light modules (the start-up test walks it)."""
    parser = argparse.ArgumentParser(
        prog="weightspace",
        description="Learning from the weights of neural networks.",
        formatter_class=HelpFormatter,
    )
    commands = sub_commands(parser, "command")
    for name in COMMAND_MODULES:
        importlib.import_module(f"weightspace.cli.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user-caused problem is one ``error:`` line and exit status 2."""
    try:
        args = build_parser().parse_args(argv)
        resolve_inputs(args)
        resolve_outputs(args)
        args.run(args)
        sys.stdout.flush()  # a reader that left (`| head`) shows here, not at interpreter exit
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2), already printed
        return exit.code if isinstance(exit.code, int) else 2
    except WeightspaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except BrokenPipeError:  # `weightspace ... | head`: the reader left, nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        if err.filename is None:  # not about a path the user gave: a real failure
            raise
        # the system refused a path (permissions, a full disk, a read-only mount)
        print(f"error: {err.filename}: {err.strerror}", file=sys.stderr)
        return 2
    return 0


def __getattr__(name: str) -> object:  # PEP 562: `describe_zoo` loads on first use
    if name != "describe_zoo":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from weightspace.cli.zoo import describe_zoo

    return describe_zoo


__all__ = ["build_parser", "describe_zoo", "main"]
