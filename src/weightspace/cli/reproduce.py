"""`weightspace reproduce NAME [--quick] | --list`: one published finding, end to end."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from weightspace.errors import ConfigError


def _reproduce(args: argparse.Namespace) -> None:
    from weightspace.reproduce.registry import get, listing, markdown
    from weightspace.zoo.storage import atomic_write_bytes

    if args.list:
        print(listing())
        return
    if args.name is None:
        raise ConfigError(
            "NAME", "a reproduction name or --list", None, "weightspace reproduce --list"
        )
    reproduction = get(args.name)
    given = _given(reproduction, args)
    default = f"runs/reproduce/{args.name}{'-quick' if args.quick else ''}"
    if given is not None:
        default += f"-on-{Path(args.zoo).resolve().name}"
    out = Path(args.out or default)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", "a directory", str(out))
    report = out / "reproduction.md"
    if report.exists() and not (args.overwrite or _written_by_us(report)):
        raise ConfigError(
            "--out",
            "a directory without a reproduction.md of someone else's",
            str(report),
            "Choose another --out, or pass --overwrite to replace it",
        )
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda _: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    start = time.perf_counter()
    result = reproduction.run(out, quick=args.quick, log=log, given=given, progress=not args.quiet)
    wall = time.perf_counter() - start
    command = f"weightspace reproduce {shlex.quote(args.name)}" + " --quick" * args.quick
    if given is not None:
        command += f" --zoo {shlex.quote(args.zoo)}"
        command += " --zoo-epochs " + " ".join(map(str, given.epochs)) if given.epochs else ""
    command += f" --out {shlex.quote(str(out))}" if args.out else ""
    text = markdown(result, reproduction, command, wall)
    atomic_write_bytes(out / "reproduction.md", text.encode())
    print(text)


def _given(reproduction, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The user's zoo (``--zoo``, ``--zoo-epochs``) as a `findings.Given`, checked before anything
    is written: the reproduction runs on given zoos, the folder is a zoo, it has those epochs."""
    if args.zoo is None:
        if args.zoo_epochs is not None:
            raise ConfigError(
                "--zoo-epochs", "--zoo as well", args.zoo_epochs, "Give the zoo: --zoo DIR"
            )
        return None
    from weightspace.reproduce.findings import Given
    from weightspace.zoo.reader import open_zoo

    reproduction.check_takes_zoo()
    epochs = tuple(args.zoo_epochs) if args.zoo_epochs else None
    open_zoo(args.zoo, verify=False).check_epochs(epochs, "--zoo-epochs")
    return Given(Path(args.zoo), epochs)


def _written_by_us(report: Path) -> bool:
    """Whether ``report`` is one this command wrote (a rerun into its own folder replaces it):
    it starts with the heading `markdown` writes."""
    with report.open("rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
    return "\ncommand: weightspace reproduce " in head


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "reproduce", help="run one published finding end to end, the paper's numbers beside ours"
    )
    parser.add_argument("name", nargs="?", help="which (see --list)")
    parser.add_argument("--list", action="store_true", help="list the reproductions")
    parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    parser.add_argument(
        "--out", metavar="DIR", help="run directory (default runs/reproduce/NAME; reused)"
    )
    parser.add_argument(
        "--zoo",
        metavar="DIR",
        help="run on this zoo instead of training a digits zoo (hyperreps-2021, "
        "generative-2022, sane-2024, behaviour-2025); default --out then "
        "runs/reproduce/NAME-on-ZOO",
    )
    parser.add_argument(
        "--zoo-epochs",
        type=int,
        nargs="+",
        metavar="EPOCH",
        help="with --zoo: train the encoders on, and probe, only these epochs' checkpoints",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a reproduction.md not written here"
    )
    parser.set_defaults(run=_reproduce)
