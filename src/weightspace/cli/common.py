"""Shared pieces of the command modules."""

from __future__ import annotations

import argparse


def group(commands: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """The sub-commands of ``weightspace NAME``, created on first use (several modules add to
    one group, e.g. ``zoo create`` and ``zoo sparsify``)."""
    if name in commands.choices:
        return commands.choices[name]._weightspace_commands  # type: ignore[attr-defined]
    parser = commands.add_parser(name, help=help)
    sub = parser.add_subparsers(dest=f"{name}_command", required=True)
    parser._weightspace_commands = sub  # type: ignore[attr-defined]
    return sub
