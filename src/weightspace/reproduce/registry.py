"""The registry of reproductions: one published finding each, run end to end by
``weightspace reproduce NAME [--quick]``, printed with the paper's numbers beside ours.

Registering one is one line in `weightspace.reproduce.catalog`::

    register("twins-2023", "Honegger et al. 2023, sparsified model zoo twins",
             "magnitude pruning keeps accuracy at 80 % sparsity",
             "weightspace.reproduce.twins:reproduce_twins")

The runner is named by ``"module:function"`` and imported only when run; it is called as
``run(out_dir, quick=bool, log=print)`` and returns a `Result`. A reproduction registered with
``takes_zoo=True`` also runs on a zoo the user gives (``--zoo DIR``): its runner is then called
with ``given=Given(zoo_dir, epochs)`` (`weightspace.reproduce.findings.Given`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from contextvars import ContextVar
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


_BARS: ContextVar[bool] = ContextVar("weightspace_reproduce_bars", default=False)


def bars() -> bool:
    """Whether the reproduction running now shows progress bars (each zoo it trains, encoder
    it fits and twin it sparsifies: a bar with an estimate); `Reproduction.run` sets it."""
    return _BARS.get()


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: str
    claim: str
    runner: str  # "module:function"
    takes_zoo: bool = False  # runs on a given zoo (``--zoo``) as well as its own

    def run(
        self,
        out: Path,
        quick: bool,
        log: Callable[[str], None] = print,
        given: object | None = None,
        progress: bool = False,
    ) -> Result:
        """Run it in ``out``; ``given`` (a `findings.Given`) points it at the user's zoo;
        ``progress``: a bar for each long stage (`bars`), besides the ``log`` lines."""
        module, _, function = self.runner.partition(":")
        runner = getattr(importlib.import_module(module), function)
        options = {"quick": quick, "log": log}
        if given is not None:
            self.check_takes_zoo()
            options["given"] = given
        token = _BARS.set(progress)
        try:
            return runner(out, **options)
        finally:
            _BARS.reset(token)

    def check_takes_zoo(self) -> None:
        """A `ConfigError` unless this reproduction also runs on a zoo the user gives."""
        if not self.takes_zoo:
            raise ConfigError(
                "--zoo",
                "a reproduction that runs on a given zoo "
                f"({', '.join(r.name for r in REGISTRY.values() if r.takes_zoo)})",
                self.name,
                f"Run {self.name} without --zoo: it trains the zoos it compares",
            )


REGISTRY: dict[str, Reproduction] = {}


def register(
    name: str, paper: str, claim: str, runner: str, takes_zoo: bool = False
) -> Reproduction:
    """Add a reproduction; ``runner`` is ``"module:function"`` (imported when run);
    ``takes_zoo``: it also runs on a zoo the user gives."""
    if name in REGISTRY:
        raise ConfigError("reproduction", "a new name", name, fix="Pick another name")
    if ":" not in runner:
        raise ConfigError("runner", "'module:function'", runner)
    REGISTRY[name] = Reproduction(name, paper, claim, runner, takes_zoo)
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
