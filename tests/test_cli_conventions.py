"""One command-line convention across the command groups: a zoo is read with --zoo DIR and a
power-grid dataset with --data DIR, in every group; the old positional spelling still works
with a note; no input, or the input twice, is one clear line."""

from __future__ import annotations

import argparse

import pytest

from weightspace.cli import build_parser, main
from weightspace.cli.common import complete

# every command that reads a zoo or a park, in every group
READS_ZOO = [
    ("zoo", "info"), ("zoo", "evaluate"), ("zoo", "attach"), ("zoo", "export"),
    ("zoo", "sparsify"), ("zoo", "compare"), ("fit",), ("embed",), ("probe",), ("sample",),
    ("reproduce",), ("diagnose", "metrics"), ("graphs", "probe"),
]  # fmt: skip
READS_GRIDS = [("grids", "info"), ("grids", "train")]


def _command(path: tuple) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = complete(action.choices[name])
    return parser


def _all(parser: argparse.ArgumentParser, prefix: tuple = ()) -> list[tuple]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    return [p for a in subs for n, s in a.choices.items() for p in _all(s, (*prefix, n))]


@pytest.mark.parametrize(("path", "flag"), [(p, "--zoo") for p in READS_ZOO] + [
    (p, "--data") for p in READS_GRIDS])  # fmt: skip
def test_every_group_reads_its_input_with_the_same_flag(path, flag):
    flags = {s for a in _command(path)._actions for s in a.option_strings}
    assert flag in flags, f"{' '.join(path)} has no {flag}"


def test_no_command_takes_a_zoo_or_dataset_as_a_visible_positional():
    """The only positional directories left are the old spellings (hidden from help); a new
    command that reads a zoo positionally fails here."""
    for path in _all(build_parser()):
        for action in _command(path)._actions:
            if action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            if action.dest in ("dir", "zoo", "data", "original", "twin"):
                pytest.fail(f"{' '.join(path)} takes {action.dest} positionally")
            if action.dest.endswith("_positional"):
                assert action.help == argparse.SUPPRESS


@pytest.fixture
def small_zoo(tmp_path):
    from conftest import tiny_config

    from weightspace.zoo.create import create_zoo

    return create_zoo(tiny_config(seeds=2, epochs=1), tmp_path / "z", progress=False).root


def test_the_old_positional_spelling_still_works_with_a_note(small_zoo, capsys):
    assert main(["zoo", "info", "--zoo", str(small_zoo)]) == 0
    flag = capsys.readouterr()
    assert flag.err == ""
    assert main(["zoo", "info", str(small_zoo)]) == 0
    old = capsys.readouterr()
    assert old.out == flag.out  # the same command
    assert old.err == f"note: the positional DIR is the old spelling; use --zoo {small_zoo}\n"


def test_no_input_or_the_input_twice_is_one_clear_line(small_zoo, tmp_path, capsys):
    assert main(["zoo", "info"]) == 2
    assert capsys.readouterr().err.startswith("error: --zoo: expected a directory")
    assert main(["zoo", "info", "--zoo", str(small_zoo), str(small_zoo)]) == 2
    assert "--zoo: expected the input once" in capsys.readouterr().err
    assert main(["grids", "info"]) == 2
    assert "Give the input as --data DIR" in capsys.readouterr().err
    # zoo compare: the original with --zoo, the twin with --twin; both still positional too
    assert main(["zoo", "compare", "--zoo", str(small_zoo)]) == 2
    assert capsys.readouterr().err.startswith("error: --twin:")
