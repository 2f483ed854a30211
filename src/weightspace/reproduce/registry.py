"""The registry of reproductions: one published finding each, run end to end by
``weightspace reproduce NAME [--quick]``, printed with the paper's numbers beside ours.

Registering one is one line in `weightspace.reproduce.catalog`::

    register("twins-2023", "Honegger et al. 2023, sparsified model zoo twins",
             "magnitude pruning keeps accuracy at 80 % sparsity",
             "weightspace.reproduce.twins:reproduce_twins")

The runner is named by ``"module:function"`` and imported only when run; it is called as
``run(out_dir, quick=bool, log=print)`` and returns a `Result`.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from weightspace.errors import ConfigError
from weightspace.stats import NOISE, TOO_FEW, verdict


@dataclass(frozen=True)
class Row:
    """One compared number: the paper's value (as printed there) beside ours, with our 95 %
    interval where there is one, and for a difference the verdict its interval gives against
    the published direction (`judge`)."""

    measure: str
    paper: str
    ours: float
    low: float = math.nan
    high: float = math.nan
    note: str = ""
    verdict: str = ""  # AS_PUBLISHED, OPPOSITE, or what `stats.verdict` said; "" = not judged

    def ours_text(self) -> str:
        text = f"{self.ours:.3f}"
        if math.isfinite(self.low):
            text += f" [{self.low:.3f}, {self.high:.3f}]"
        return text


AS_PUBLISHED, OPPOSITE = "as published", "opposite of published"


def judge(low: float, high: float, expected: str) -> str:
    """The verdict on a difference's interval against the published direction ``expected``
    (`stats.HIGHER` or `stats.LOWER`): "as published" only when the interval excludes 0 on the
    published side; never from a point estimate."""
    found = verdict(low, high)
    if found in (NOISE, TOO_FEW):
        return found
    return AS_PUBLISHED if found == expected else OPPOSITE


@dataclass
class Result:
    """What a reproduction found: the rows, extra tables (Markdown) and notes."""

    rows: list[Row]
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setup: str = ""


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: str
    claim: str
    runner: str  # "module:function"

    def run(self, out: Path, quick: bool, log: Callable[[str], None] = print) -> Result:
        module, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module), function)(out, quick=quick, log=log)


REGISTRY: dict[str, Reproduction] = {}


def register(name: str, paper: str, claim: str, runner: str) -> Reproduction:
    """Add a reproduction; ``runner`` is ``"module:function"`` (imported when run)."""
    if name in REGISTRY:
        raise ConfigError("reproduction", "a new name", name, fix="Pick another name")
    if ":" not in runner:
        raise ConfigError("runner", "'module:function'", runner)
    REGISTRY[name] = Reproduction(name, paper, claim, runner)
    return REGISTRY[name]


def get(name: str) -> Reproduction:
    from weightspace.reproduce import catalog  # noqa: F401 (fills the registry)

    if name not in REGISTRY:
        raise ConfigError(
            "NAME", f"one of {', '.join(REGISTRY)}", name, "List them: weightspace reproduce --list"
        )
    return REGISTRY[name]


def listing() -> str:
    from weightspace.reproduce import catalog  # noqa: F401

    width = max((len(n) for n in REGISTRY), default=4)
    return "\n".join(
        f"{r.name:{width}s}  {r.paper}\n{'':{width}s}  {r.claim}" for r in REGISTRY.values()
    )


def markdown(result: Result, reproduction: Reproduction, command: str, wall_s: float) -> str:
    """The printed report: the claim, the command and wall time, paper vs ours, the tables."""
    lines = [
        f"# {reproduction.name}: {reproduction.paper}",
        f"claim: {reproduction.claim}",
        f"command: {command}    wall time: {wall_s:.0f} s",
    ]
    if result.setup:
        lines.append(f"setup: {result.setup}")
    lines += ["", "| measure | paper | ours [95 % interval] | note |", "|---|---|---|---|"]
    lines += [
        f"| {r.measure} | {r.paper} | {r.ours_text()} | "
        f"{'; '.join(t for t in (r.verdict, r.note) if t)} |"
        for r in result.rows
    ]
    for table in result.tables:
        lines += ["", table]
    lines += [""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines).rstrip() + "\n"
