"""`weightspace --help` and every `weightspace <command> [<sub>] --help` start without torch:
the parser is built from light modules only, heavy imports live in the run functions. Also:
help shows defaults as a user would type them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import typing

import pytest

from weightspace.cli import build_parser
from weightspace.cli.common import HelpFormatter
from weightspace.config import show_default

# none of these may load for any --help (each costs 0.1 to 1.5 s of start-up)
HEAVY = ("torch", "sklearn", "scipy", "numpy", "pyarrow", "pandas", "matplotlib", "networkx",
         "h5py", "safetensors", "ray")  # fmt: skip

# Commands whose flags come from a config class (or a list of names) that still lives next to
# torch code, so their own --help imports it (their flags are added only when the command is
# chosen: `weightspace --help` and the group helps stay light). Empty now: every config class
# the command line reads lives in a light module (`weightspace.zoo.config`, `.zoo.names`,
# `.zoo.imports.options`, `.train.config`, `.tokens.config`, `.diagnose.config`,
# `.graphs.config`, ...). A command added here must be heavy for a reason;
# test_the_still_heavy_list_is_not_stale keeps the list honest.
STILL_HEAVY: set[tuple[str, ...]] = set()

# run in a fresh interpreter: `--help` of each command in turn; prints, per command, the heavy
# modules it loaded (a module loaded by an earlier command is charged to that one). The
# optional third argument plants imports (command -> modules imported right after its --help,
# inside its window): the negative control's heavy import, never used by the real check.
PROBE = """
import contextlib, importlib, io, json, sys
commands, heavy = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
planted = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
loaded = lambda: {m.partition(".")[0] for m in sys.modules} & heavy
from weightspace.cli import main
found = {"import weightspace.cli": sorted(loaded())}
for command in commands:
    before = loaded()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*command, "--help"])
    assert code == 0, (command, code)
    name = " ".join(command) or "--help"
    for module in planted.get(name, []):
        importlib.import_module(module)
    found[name] = sorted(loaded() - before)
print(json.dumps(found))
"""


def command_paths(parser: argparse.ArgumentParser, prefix: tuple = ()) -> list[tuple]:
    """Every command of the tree: (), ("zoo",), ("zoo", "create"), ..."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += command_paths(sub, (*prefix, name))
    return paths


def heavy_imports(
    commands: list[tuple], planted: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """The heavy modules each command's --help loads, in one fresh interpreter; ``planted``
    (command -> modules) adds imports to a command's window (the negative control only)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands), json.dumps(HEAVY)]
        + ([json.dumps(planted)] if planted else []),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


ALL = command_paths(build_parser())


def test_the_tree_walk_finds_every_command():
    assert len(ALL) > 25 and {(), ("zoo",), ("zoo", "info"), ("grids", "info")} <= set(ALL)
    assert STILL_HEAVY <= set(ALL)  # a renamed command must leave the list too


def test_help_of_every_command_imports_nothing_heavy():
    light = [p for p in ALL if p not in STILL_HEAVY]
    found = heavy_imports(light)
    assert len(found) == len(light) + 1  # every command ran
    assert {k: v for k, v in found.items() if v} == {}


def test_the_check_sees_a_heavy_import():
    # negative control: no command's --help imports torch any more, so the probe plants
    # `import torch` in the window of `graphs probe` (a command whose flags come from a config
    # class); the check must charge it to that command and to no other
    commands = [("zoo", "info"), ("graphs", "probe"), ("zoo", "create")]
    found = heavy_imports(commands, planted={"graphs probe": ["torch"]})
    assert found["zoo info"] == [] and "torch" in found["graphs probe"]
    assert found["zoo create"] == []  # torch was already loaded: charged to the one before
    assert heavy_imports(commands[:2])["graphs probe"] == []  # without the plant: light


@pytest.mark.slow  # one fresh interpreter with torch per command
@pytest.mark.parametrize(
    "command",
    # an empty list would make pytest skip the test ("got empty parameter set"): the "none"
    # case then checks the list itself, so the test runs and passes whether or not it is empty
    sorted(STILL_HEAVY) or [None],
    ids=lambda command: " ".join(command) if command else "none",
)
def test_the_still_heavy_list_is_not_stale(command):
    if command is None:
        assert STILL_HEAVY == set()
        return
    code = (
        "import contextlib, io, sys; from weightspace.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main({[*command, '--help']!r})\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", f"{command} is light now: drop it from STILL_HEAVY"


def test_the_light_name_lists_match_the_registries():
    # the command line and the config classes check names against light tuples; the torch
    # registries that implement the names must hold exactly those, in the same order
    from weightspace.diagnose.config import SHAPES, EvaluateConfig
    from weightspace.graphs.config import GRAPH_MODEL_NAMES
    from weightspace.graphs.weight_probe import GRAPH_MODELS
    from weightspace.zoo.architectures import ARCHITECTURES
    from weightspace.zoo.datasets import LOADERS
    from weightspace.zoo.layers import ACTIVATIONS
    from weightspace.zoo.names import ACTIVATION_NAMES, ARCHITECTURE_NAMES, DATASET_NAMES

    assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES
    assert tuple(ACTIVATIONS) == ACTIVATION_NAMES
    assert tuple(LOADERS) == DATASET_NAMES
    assert tuple(GRAPH_MODELS) == GRAPH_MODEL_NAMES
    questions = typing.get_args(typing.get_type_hints(EvaluateConfig)["question"])
    assert questions == tuple(SHAPES)  # `diagnose fit --question` and `evaluate --question`


def test_defaults_are_shown_as_a_user_would_type_them():
    assert [show_default(v) for v in (1 / 3, 1e-5, 500.0, (2, 5), [0.5, 0.9], None, True)] == [
        "0.333333", "1e-05", "500", "2 5", "0.5 0.9", "", "True"
    ]  # fmt: skip
    parser = argparse.ArgumentParser(prog="p", formatter_class=HelpFormatter)
    parser.add_argument("--share", type=float, default=1 / 3, help="share (default %(default)s)")
    parser.add_argument("--k", type=int, nargs="+", default=(2, 5), help="k (default %(default)s)")
    parser.add_argument("--name", help="name [%(default)s]")
    text = " ".join(parser.format_help().split())
    assert "share (default 0.333333)" in text and "0.3333333333333333" not in text
    assert "k (default 2 5)" in text and "name []" in text and "None" not in text
    # the flags of a config class: the published pi of the swing-equation kick, shortened
    sub = build_parser()._actions[-1].choices["grids"]._actions[-1].choices["generate"]
    from weightspace.cli.common import complete

    text = " ".join(complete(sub).format_help().split())
    assert "U(-x, x) (default: 3.14159)" in text and "3.141592653589793" not in text
