"""The package's layering, read from the source: foundation modules import only foundation
modules, a power grid never imports the zoo package, and no side system imports the report.
The checker is shown to catch a planted violation (negative control)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "weightspace"
FOUNDATION = {
    "errors",
    "config",
    "stats",
    "storage",
    "figures",
    "functional",
    "devices",
    "fitting",
    "_version",
    "_lazy",
}
SIDE_SYSTEMS = ("sparsify", "diagnose", "graphs", "powergrid")
# room -> weightspace subpackages it must never import
FORBIDDEN = {
    **{room: {"report"} for room in SIDE_SYSTEMS},
    "powergrid": {"report", "zoo"},
    **{name: {"*"} for name in FOUNDATION},  # "*": anything but the foundation
}


def imported(source: str) -> set[str]:
    """The first component under ``weightspace.`` of every import in ``source`` (absolute,
    at any depth: function-local imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "weightspace" and len(parts) > 1:
                found.add(parts[1])
    return found


def violations(room: str, source: str) -> set[str]:
    rule = FORBIDDEN.get(room, set())
    used = imported(source)
    if "*" in rule:
        return used - FOUNDATION
    return used & rule


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        room = parts[0] if len(parts) > 1 else path.stem
        if room in FORBIDDEN:
            out.append((room, path))
    return out


@pytest.mark.parametrize(
    "room, path", _modules(), ids=[str(p.relative_to(SRC)) for _, p in _modules()]
)
def test_no_room_imports_what_lies_above_or_beside_it(room, path):
    assert not violations(room, path.read_text()), f"{path.relative_to(SRC)} imports them"


def test_every_rule_names_modules_that_exist():
    rooms = {p.parts[0] if len(p.parts) > 1 else p.stem for p in
             (q.relative_to(SRC) for q in SRC.rglob("*.py"))}  # fmt: skip
    assert set(FORBIDDEN) <= rooms


def test_the_checker_sees_a_planted_import():
    planted = "def f():\n    from weightspace.zoo.storage import read_json\n"
    assert violations("powergrid", planted) == {"zoo"}
    assert violations("storage", "import weightspace.tokens.dataset\n") == {"tokens"}
    assert violations("graphs", "from weightspace.report.figures import png\n") == {"report"}
    assert not violations("graphs", "from weightspace.figures import png\n")


LAZY_PACKAGES = ("zoo", "zoo.imports", "train", "diagnose", "tokens", "graphs", "powergrid",
                 "sparsify")  # fmt: skip


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_no_lazily_exported_name_is_shadowed_by_a_submodule(package):
    """A package that loads its names on first use (PEP 562) loses a name to a submodule of
    the same name once that submodule is imported (the import system sets it on the package):
    `weightspace.powergrid.integrate` was the module, not the function, after a first use."""
    import importlib
    import pkgutil

    module = importlib.import_module(f"weightspace.{package}")
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert module._EXPORTS, package  # the package is lazy (else drop it from the list)
    assert set(module._EXPORTS) & submodules == set()
    for name, where in module._EXPORTS.items():  # each name is where the map says
        assert hasattr(importlib.import_module(f"weightspace.{package}.{where}"), name), name
