"""Shared pieces of the command modules.

The parser is built from light modules only, so ``weightspace --help`` starts in a fraction
of a second: flags that need a heavy module (a config class next to torch code) are added by
`defer` when their command is chosen, and every command imports torch and friends inside
its run function.
"""

from __future__ import annotations

import argparse
import copy
import importlib
from collections.abc import Callable
from typing import Any

from weightspace.config import add_config_arguments, show_default

_PENDING = "_weightspace_pending"
# SANE's poolings of token latents (`weightspace.models.sane.POOLINGS`, which imports torch;
# a test keeps the two equal)
POOLINGS = ("mean", "layer", "tokens", "ends", "moments")


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows ``%(default)s`` as a user would type it: ``0.333333``, not
    ``0.3333333333333333``; ``1 2``, not ``(1, 2)``; nothing for None."""

    def _expand_help(self, action: argparse.Action) -> str:
        if action.default is argparse.SUPPRESS:
            return super()._expand_help(action)
        shown = copy.copy(action)
        shown.default = show_default(action.default)
        return super()._expand_help(shown)


class SubCommands(argparse._SubParsersAction):
    """Sub-commands that share the help formatter and finish their parser (`defer`) only
    when chosen, so listing the commands imports nothing heavy."""

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().add_parser(name, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        chosen = self._name_parser_map.get(values[0])
        if chosen is not None:
            complete(chosen)
        super().__call__(parser, namespace, values, option_string)


def sub_commands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """``parser.add_subparsers`` with `SubCommands` (a required choice)."""
    return parser.add_subparsers(dest=dest, required=True, action=SubCommands)


Build = Callable[[argparse.ArgumentParser], None]


def defer(parser: argparse.ArgumentParser, build: Build) -> None:
    """Call ``build(parser)`` (which adds flags) when the command is chosen, not at start-up."""
    setattr(parser, _PENDING, [*getattr(parser, _PENDING, []), build])


def config_flags(parser: argparse.ArgumentParser, where: str, **options: Any) -> None:
    """`add_config_arguments` of the config class at ``where`` (``"module:Class"``), deferred
    (`defer`): its module may import torch."""

    def build(chosen: argparse.ArgumentParser) -> None:
        module, _, name = where.partition(":")
        add_config_arguments(chosen, getattr(importlib.import_module(module), name), **options)

    defer(parser, build)


def complete(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Run the deferred builds of ``parser`` (once); returns it."""
    for build in parser.__dict__.pop(_PENDING, []):
        build(parser)
    return parser


def group(commands: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """The sub-commands of ``weightspace NAME``, created on first use (several modules add to
    one group, e.g. ``zoo create`` and ``zoo sparsify``)."""
    if name in commands.choices:
        return commands.choices[name]._weightspace_commands  # type: ignore[attr-defined]
    parser = commands.add_parser(name, help=help)
    sub = sub_commands(parser, f"{name}_command")
    parser._weightspace_commands = sub  # type: ignore[attr-defined]
    return sub


def check_device(device: str, flag: str = "--device") -> None:
    """Refuse a device this machine does not have (``cuda``, ``cuda:N``, ``mps``) with one
    line, before the command writes anything; ``auto`` and ``cpu`` always pass. Run it at the
    start of a command's run function: it imports torch, which parsing must not."""
    if device in ("auto", "cpu"):
        return
    from weightspace.devices import resolve_device

    resolve_device(device, flag)


# The input convention: every command that reads a zoo takes it as --zoo DIR and every command
# that reads a power-grid dataset as --data DIR, whatever its group. Commands that once took
# the directory as a positional argument still accept it, with a note to use the flag.
_INPUTS = "_weightspace_inputs"


def input_argument(
    parser: argparse.ArgumentParser,
    flag: str = "--zoo",
    help: str = "the zoo directory",
    old: str | None = None,
    dest: str | None = None,
) -> None:
    """Add the input flag ``flag`` (``--zoo`` or ``--data``; required) to ``parser``; ``old``
    names the positional argument the command took before, still accepted with a note."""
    dest = dest or flag.lstrip("-").replace("-", "_")
    parser.add_argument(flag, dest=dest, metavar="DIR", help=f"{help} (required)")
    if old is not None:
        parser.add_argument(f"_{dest}_positional", nargs="?", metavar=old, help=argparse.SUPPRESS)
    inputs = [*(parser.get_default(_INPUTS) or []), (flag, dest, old)]
    parser.set_defaults(**{_INPUTS: inputs})


def resolve_inputs(args: argparse.Namespace, argv_name: str = "weightspace") -> None:
    """Fill each input flag from the old positional spelling (printing the note once) and
    refuse a command given no input or the same input twice; run after parsing."""
    import sys

    from weightspace.errors import ConfigError

    for flag, dest, old in getattr(args, _INPUTS, None) or []:
        given = getattr(args, dest, None)
        positional = getattr(args, f"_{dest}_positional", None) if old else None
        if positional is not None and given is not None:
            raise ConfigError(flag, "the input once", f"{given} and {positional}", f"Drop {old}")
        if positional is not None:
            print(f"note: the positional {old} is the old spelling; use {flag} {positional}",
                  file=sys.stderr)  # fmt: skip
            setattr(args, dest, positional)
        elif given is None:
            raise ConfigError(flag, "a directory", None, f"Give the input as {flag} DIR")


# The output convention: --out is always a directory. A command that writes one file writes it
# inside --out DIR under a fixed name, or exactly at --out-file FILE; every writing command
# takes --overwrite (a file command: replace the file; a directory command: start over, with
# what an earlier run left removed, never a folder weightspace did not write).
_OUTPUT = "_weightspace_output"
START_OVER = (
    "start over: remove what an earlier run wrote at --out first (only a directory "
    "weightspace wrote; an input is never removed)"
)


def output_arguments(
    parser: argparse.ArgumentParser,
    help: str,
    file: str | None = None,
    required: bool = True,
    default: str | None = None,
    old: str | None = None,
    overwrite: str | None = None,
) -> None:
    """Add ``--out DIR`` and ``--overwrite`` to ``parser`` (and, for a command that writes the
    one file ``file``, ``--out-file FILE``; the two exclude each other). ``old`` names a flag
    the command once took for its file (``--json``), still accepted with a note."""
    if file is None:
        parser.add_argument("--out", metavar="DIR", required=required, default=default, help=help)
        parser.add_argument("--overwrite", action="store_true", help=overwrite or START_OVER)
        return
    where = parser.add_mutually_exclusive_group(required=required)
    where.add_argument("--out", metavar="DIR", help=f"{help} (writes DIR/{file})")
    where.add_argument("--out-file", metavar="FILE", help=f"write it to FILE, not DIR/{file}")
    if old is not None:
        where.add_argument(old, dest="_out_old", help=argparse.SUPPRESS)
    parser.add_argument(
        "--overwrite", action="store_true", help=overwrite or "replace an existing output file"
    )
    parser.set_defaults(**{_OUTPUT: (file, old)})


def resolve_outputs(args: argparse.Namespace) -> None:
    """For a command that writes one file: set ``args.out`` to that file (None: none asked
    for) and ``args.out_flag`` to the flag that named it. ``--out X.json`` (a path with the
    file's suffix that is no directory) is the old spelling of ``--out-file X.json``: it still
    works, with a note."""
    import os
    import sys
    from pathlib import Path

    spec = getattr(args, _OUTPUT, None)
    if spec is None:
        return
    file, old = spec
    out, args.out_flag = args.out_file, "--out-file"
    legacy = getattr(args, "_out_old", None)
    if legacy is not None:
        print(f"note: {old} FILE is the old spelling; use --out-file {legacy}", file=sys.stderr)
        out, args.out_flag = legacy, old
    elif args.out is not None:
        args.out_flag = "--out"
        if args.out.endswith(Path(file).suffix) and not Path(args.out).is_dir():
            print(
                f"note: --out FILE is the old spelling; use --out-file {args.out} "
                f"(or --out DIR, which writes DIR/{file})",
                file=sys.stderr,
            )
            out = args.out
        else:
            out = os.path.join(args.out, file)
    args.out = out


def start_over(args: argparse.Namespace, inputs: tuple = (), ours=None) -> None:  # noqa: ANN001
    """With ``--overwrite``, remove what an earlier run wrote at ``--out`` (see
    `weightspace.storage.remove_earlier_output`); run it after the command's own checks and
    just before it writes, so a refused command removes nothing."""
    if getattr(args, "overwrite", False):
        from weightspace.storage import remove_earlier_output

        remove_earlier_output(args.out, "--out", tuple(str(i) for i in inputs), ours)
