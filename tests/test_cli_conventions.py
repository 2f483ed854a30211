"""One command-line convention across the command groups: a zoo is read with --zoo DIR and a
power-grid dataset with --data DIR, in every group; the old positional spelling still works
with a note; no input, or the input twice, is one clear line. Outputs: --out is always a
directory (a command writing one file writes it inside, or at --out-file), and every writing
command takes --overwrite, which never removes an input or a folder weightspace did not write."""

from __future__ import annotations

import argparse
import json

import pytest

from weightspace.cli import build_parser, main
from weightspace.cli.common import complete

# every command that reads a zoo or a park, in every group
READS_ZOO = [
    ("zoo", "info"), ("zoo", "evaluate"), ("zoo", "attach"), ("zoo", "export"),
    ("zoo", "sparsify"), ("zoo", "compare"), ("fit",), ("embed",), ("probe",), ("sample",),
    ("reproduce",), ("diagnose", "metrics"), ("diagnose", "model"), ("graphs", "probe"),
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


# --- outputs: --out is always a directory; every writing command takes --overwrite ---------

# commands that write into the zoo or run directory they are given (no --out): they update
# what the user pointed at, and a rerun recomputes, so there is nothing to overwrite
WRITES_INTO_ITS_INPUT = {("zoo", "attach"), ("zoo", "evaluate"), ("report",)}
READS_ONLY = {("zoo", "info"), ("zoo", "presets"), ("diagnose", "model"), ("grids", "info")}


def _flags(path: tuple) -> dict[str, argparse.Action]:
    return {s: a for a in _command(path)._actions for s in a.option_strings}


def test_every_out_is_a_directory_and_every_writer_takes_overwrite():
    writers = 0
    for path in _all(build_parser()):
        flags = _flags(path)
        if path in WRITES_INTO_ITS_INPUT or path in READS_ONLY:
            assert "--out" not in flags, f"{' '.join(path)} writes: drop it from the exceptions"
            continue
        assert "--out" in flags, f"{' '.join(path)} writes nothing? (else list it above)"
        assert flags["--out"].metavar == "DIR", f"{' '.join(path)}: --out is not a directory"
        assert "--overwrite" in flags, f"{' '.join(path)} has no --overwrite"
        assert flags["--overwrite"].help, path
        writers += 1
    assert writers >= 20


def test_a_command_writing_one_file_writes_it_inside_out_or_at_out_file(tmp_path, capsys):
    from weightspace.cli.common import output_arguments, resolve_outputs

    parser = argparse.ArgumentParser()
    output_arguments(parser, "where", file="table.parquet", old="--json")

    def out(*argv: str) -> tuple[str, str]:
        args = parser.parse_args(argv)
        resolve_outputs(args)
        return args.out, args.out_flag

    assert out("--out", str(tmp_path / "d")) == (str(tmp_path / "d" / "table.parquet"), "--out")
    assert out("--out-file", "x.parquet") == ("x.parquet", "--out-file")
    assert capsys.readouterr().err == ""
    # the old spellings: --out FILE (the file's suffix, no such directory) and --json FILE
    assert out("--out", "old.parquet") == ("old.parquet", "--out")
    assert "use --out-file old.parquet" in capsys.readouterr().err
    assert out("--json", "old.json") == ("old.json", "--json")
    assert "note: --json FILE is the old spelling" in capsys.readouterr().err
    (tmp_path / "a.parquet").mkdir()  # a directory named like the file is a directory
    assert out("--out", str(tmp_path / "a.parquet"))[0] == str(
        tmp_path / "a.parquet" / "table.parquet"
    )
    with pytest.raises(SystemExit):  # both at once: a usage error
        parser.parse_args(["--out", "d", "--out-file", "f"])


def test_overwrite_removes_only_what_weightspace_wrote(tmp_path):
    from weightspace.errors import ConfigError
    from weightspace.storage import remove_earlier_output

    assert remove_earlier_output(tmp_path / "new") is False  # nothing there: nothing to do
    ours = tmp_path / "ours"
    (ours / "shards").mkdir(parents=True)
    (ours / "progress.json").write_text("{}")
    assert remove_earlier_output(ours) is True and not ours.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="a directory weightspace wrote"):
        remove_earlier_output(mine)
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert remove_earlier_output(mine, ours=lambda p: (p / "thesis.tex").exists()) is True
    # never an input, a folder holding one, or a folder inside one
    zoo = tmp_path / "runs" / "zoo"
    zoo.mkdir(parents=True)
    (zoo / "manifest.json").write_text("{}")
    (tmp_path / "runs" / "progress.json").write_text("{}")
    for out in (zoo, tmp_path / "runs"):
        with pytest.raises(ConfigError, match="apart from the input"):
            remove_earlier_output(out, inputs=(str(zoo),))
    assert (zoo / "manifest.json").exists()
    with pytest.raises(ConfigError, match="a directory"):
        remove_earlier_output(zoo / "manifest.json")


def test_zoo_create_overwrite_starts_over_and_refuses_a_users_folder(tmp_path, capsys):
    from conftest import tiny_config

    config = tmp_path / "zoo.json"
    config.write_text(json.dumps(tiny_config(seeds=1, epochs=1, lr=[1e-3]).to_dict()))
    out = tmp_path / "z"
    args = ["zoo", "create", "--config", str(config), "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = (out / "manifest.json").read_bytes()
    # another config into the same folder: refused, and with --overwrite trained afresh
    assert main([*args, "--epochs", "2"]) == 2
    assert "different config" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--overwrite"]) == 0
    assert (out / "manifest.json").read_bytes() != first
    assert json.loads((out / "manifest.json").read_text())["config"]["epochs"] == 2
    # a folder of the user's own: refused even with --overwrite, untouched
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main([*args[:-3], "--out", str(mine), "--overwrite"]) == 2
    assert "a directory weightspace wrote" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_overwrite_with_a_bad_device_or_onto_the_input_removes_nothing(
    small_zoo, tmp_path, monkeypatch, capsys
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    before = sorted(p.name for p in small_zoo.iterdir())
    # the twin written onto its own original
    argv = ["zoo", "sparsify", "--zoo", str(small_zoo), "--out", str(small_zoo), "--overwrite"]
    assert main(argv) == 2
    assert "apart from the input" in capsys.readouterr().err
    # a device this machine lacks is refused before the earlier zoo is removed
    argv = ["zoo", "create", "--preset", "digits-demo-quick", "--out", str(small_zoo)]
    assert main([*argv, "--overwrite", "--device", "cuda"]) == 2
    assert capsys.readouterr().err.startswith("error: --device cuda")
    assert sorted(p.name for p in small_zoo.iterdir()) == before


def test_export_overwrite_replaces_an_earlier_export_only(small_zoo, tmp_path, capsys):
    out = tmp_path / "exported"
    argv = ["zoo", "export", "--zoo", str(small_zoo), "--to", "modelzoos", "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 2 and "pass --overwrite" in capsys.readouterr().err
    stale = out / "trial_99999"
    stale.mkdir()
    (stale / "params.json").write_text("{}")
    assert main([*argv, "--overwrite"]) == 0
    from weightspace.zoo import open_zoo

    assert not stale.exists()
    assert len(list(out.glob("trial_*"))) == open_zoo(small_zoo).num_models
    assert not list(tmp_path.glob(".exported.*"))  # the old copy set aside is gone
    (out / "notes.txt").write_text("mine")  # no longer only an export: refused
    assert main([*argv, "--overwrite"]) == 2
    assert (out / "notes.txt").exists()


# every command that shows a progress bar (or progress lines) while it works
PRINTS_PROGRESS = [
    ("zoo", "create"), ("zoo", "evaluate"), ("zoo", "sparsify"), ("fit",), ("demo",),
    ("reproduce",), ("diagnose", "grid"), ("diagnose", "metrics"), ("grids", "generate"),
    ("grids", "train"), ("graphs", "longrange"),
]  # fmt: skip


@pytest.mark.parametrize("path", PRINTS_PROGRESS, ids=" ".join)
def test_every_command_that_shows_progress_takes_quiet(path):
    assert "--quiet" in _flags(path), f"{' '.join(path)} has no --quiet"


def test_the_progress_list_is_complete():
    # a command with --quiet prints progress: it must be in the list above (and so be checked)
    quiet = {p for p in _all(build_parser()) if "--quiet" in _flags(p)}
    assert quiet == set(PRINTS_PROGRESS)
