"""Typed settings of the power-grid stability stages: grids, simulation, datasets, training.

The defaults are the published ones (Schultz, Heitzig & Kurths 2014 for the growth model;
Nauck et al. 2022, 2023 for the dynamics and single-node basin stability), so
``PowerGridConfig(nodes=20)`` and ``SimulationConfig()`` describe the grids of the published
20-node dataset.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from weightspace.errors import ConfigError, check_choice


def _positive(name: str, value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ConfigError(name, "a finite number > 0", value)


def _share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(name, "a probability in [0, 1]", value)


@dataclass(frozen=True)
class PowerGridConfig:
    """A synthetic grid: random growth topology, power injections P = +-1, coupling K."""

    nodes: int = field(default=20, metadata={"help": "nodes per grid (even: half produce)"})
    n0: int = field(default=1, metadata={"help": "nodes of the initial spanning tree"})
    p: float = field(default=0.2, metadata={"help": "share of new nodes with a second line"})
    q: float = field(default=0.3, metadata={"help": "share of steps adding a line elsewhere"})
    r: float = field(default=1 / 3, metadata={"help": "exponent of the hop-distance gain"})
    s: float = field(default=0.1, metadata={"help": "share of steps splitting a line"})
    coupling: float = field(default=9.0, metadata={"help": "line coupling K"})
    max_redraws: int = field(default=50, metadata={"help": "redraws when no fixed point is found"})

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 2:
            raise ConfigError("nodes", "an even integer >= 2", self.nodes)
        if self.nodes % 2:
            raise ConfigError(
                "nodes",
                "an even number (half the nodes produce P = +1, half consume P = -1)",
                self.nodes,
                f"Use {self.nodes - 1} or {self.nodes + 1}",
            )
        if not 1 <= self.n0 <= self.nodes:
            raise ConfigError("n0", f"an integer in [1, nodes={self.nodes}]", self.n0)
        for name in ("p", "q", "s"):
            _share(name, getattr(self, name))
        if self.r < 0:
            raise ConfigError("r", "a number >= 0", self.r)
        _positive("coupling", self.coupling)
        if self.max_redraws < 1:
            raise ConfigError("max_redraws", "an integer >= 1", self.max_redraws)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


STOP_NAMES = ("dwell", "published", "phase", "none")  # the rules of `integrate.STOP_RULES`


@dataclass(frozen=True)
class SimulationConfig:
    """Single-node basin stability by Monte Carlo: M perturbations of every node, swing equation."""

    perturbations: int = field(default=200, metadata={"help": "perturbations M per node"})
    damping: float = field(default=0.1, metadata={"help": "damping alpha of the swing equation"})
    phase_range: float = field(default=math.pi, metadata={"help": "phase kick ~ U(-x, x)"})
    frequency_range: float = field(default=15.0, metadata={"help": "frequency kick ~ U(-x, x)"})
    t_max: float = field(default=500.0, metadata={"help": "longest simulated time"})
    t_min: float = field(default=1.0, metadata={"help": "earliest time a trajectory may stop"})
    sync_tolerance: float = field(
        default=0.1, metadata={"help": "returned when max |omega| is below this at the end"}
    )
    survival_threshold: float = field(
        default=15.0, metadata={"help": "survived when max |omega| never exceeds this"}
    )
    stop: str = field(
        default="dwell",
        metadata={
            "help": "early stop: dwell (max |omega| <= tol for 5 time units on end), published "
            "(t >= t_min and max |omega| <= tol once; can stop at a turning point), phase "
            "(also every line's phase near the fixed point) or none (always to t_max)"
        },
    )
    rtol: float = field(default=1e-4, metadata={"help": "relative tolerance of the RK 5(4) steps"})
    atol: float = field(default=1e-6, metadata={"help": "absolute tolerance of the RK 5(4) steps"})
    batch_size: int = field(default=2048, metadata={"help": "trajectories integrated together"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    threads: int = field(
        default=1,
        metadata={
            "help": "CPU threads per simulation (more processes scale better: --backend ray)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.perturbations, bool) or not isinstance(self.perturbations, int):
            raise ConfigError("perturbations", "an integer >= 1", self.perturbations)
        if self.perturbations < 1:
            raise ConfigError("perturbations", "an integer >= 1", self.perturbations)
        for name in ("damping", "phase_range", "frequency_range", "t_max", "sync_tolerance"):
            _positive(name, getattr(self, name))
        for name in ("survival_threshold", "rtol", "atol"):
            _positive(name, getattr(self, name))
        if not 0 <= self.t_min < self.t_max:
            raise ConfigError("t_min", f"a time in [0, t_max={self.t_max})", self.t_min)
        if self.batch_size < 1:
            raise ConfigError("batch_size", "an integer >= 1", self.batch_size)
        check_choice("stop", self.stop, STOP_NAMES)
        if self.threads < 1:
            raise ConfigError("threads", "an integer >= 1", self.threads)
        check_choice("device", self.device, ("cpu", "cuda"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DatasetConfig:
    """How many grids, their seeds and the shard size of a generated dataset."""

    grids: int = field(default=1000, metadata={"help": "number of grids"})
    seed: int = field(default=0, metadata={"help": "base seed; grid i uses (seed, i)"})
    shard_size: int = field(default=10, metadata={"help": "grids per shard (resume unit)"})

    def __post_init__(self) -> None:
        if isinstance(self.grids, bool) or not isinstance(self.grids, int) or self.grids < 1:
            raise ConfigError("grids", "an integer >= 1", self.grids)
        if self.seed < 0:
            raise ConfigError("seed", "an integer >= 0", self.seed)
        if self.shard_size < 1:
            raise ConfigError("shard_size", "an integer >= 1", self.shard_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MODEL_NAMES = ("tag", "arma", "gcn", "sage", "mlp", "measures", "dbgnn")
# what `run_baseline` fits by name (`grids train --model`): here, not next to the torch code,
# so that `weightspace grids train --help` lists them without importing torch
BASELINES = ("tag", "arma", "gcn", "sage", "mlp", "measures", "linear", "dbgnn")


@dataclass(frozen=True)
class GridTrainConfig:
    """Training of a node regressor of SNBS (Adam on the mean squared error)."""

    epochs: int = field(default=100, metadata={"help": "passes over the training grids"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    batch_size: int = field(default=32, metadata={"help": "grids per batch"})
    hidden: int = field(default=64, metadata={"help": "hidden width of the models"})
    layers: int = field(default=3, metadata={"help": "graph layers (or MLP hidden layers)"})
    seed: int = field(default=0, metadata={"help": "seed of initialization and batch order"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    eval_every: int = field(default=1, metadata={"help": "epochs between validations"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "hidden", "layers", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, "an integer >= 1", value)
        _positive("lr", self.lr)
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", "a number >= 0", self.weight_decay)
        check_choice("device", self.device, ("cpu", "cuda"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
