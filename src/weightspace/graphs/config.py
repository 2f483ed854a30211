"""The configs of the graph-network runs (`weightspace graphs diagnose | longrange | probe`),
apart from their torch code so that the command line reads their fields without importing
torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from weightspace.errors import ConfigError, check_choice

if TYPE_CHECKING:
    from weightspace.graphs.dbgnn import DBGNNConfig
    from weightspace.graphs.training import FitConfig

# the networks of `weightspace.graphs.weight_probe.GRAPH_MODELS`, in its order
GRAPH_MODEL_NAMES = ("dbgnn", "mpnn")


@dataclass(frozen=True)
class DiagnoseConfig:
    """Random-init DBGNN vs GCN on test graphs: energy per step/layer and impulse spread."""

    size: int = field(default=24, metadata={"help": "graph size (path length, ring half)"})
    layers: int = field(default=4, metadata={"help": "DBGNN layers K (GCN: K x T layers)"})
    steps: int = field(default=12, metadata={"help": "DBGNN steps T per layer"})
    hidden: int = field(default=16, metadata={"help": "state width"})
    delta: float = field(default=0.01, metadata={"help": "DBGNN init scale"})
    seed: int = field(default=0, metadata={"help": "init seed"})

    def __post_init__(self) -> None:
        for name in ("size", "layers", "steps", "hidden"):
            if int(getattr(self, name)) < 2:
                raise ConfigError(name, "an integer >= 2", getattr(self, name))
        if not self.delta > 0:
            raise ConfigError("delta", "a positive init scale", self.delta)


@dataclass(frozen=True)
class LongRangeConfig:
    """Distances, data sizes and the networks compared (equal depth K x T and width)."""

    distances: tuple[int, ...] = field(default=(2, 5, 10, 15, 20, 25), metadata={"help": "k"})
    classes: int = field(default=4, metadata={"help": "classes (chance = 1 / classes)"})
    distractors: float = field(default=1.0, metadata={"help": "distractor nodes per path node"})
    decoys: bool = field(default=False, metadata={"help": "distractors carry random classes"})
    train_graphs: int = field(default=1000, metadata={"help": "training graphs per k"})
    test_graphs: int = field(default=300, metadata={"help": "validation and test graphs per k"})
    hidden: int = field(default=32, metadata={"help": "state width of both networks"})
    layers: int = field(default=4, metadata={"help": "layers K"})
    steps: int = field(default=13, metadata={"help": "steps T per layer"})
    epochs: int = field(default=40, metadata={"help": "training epochs per network and k"})
    lr: float = field(default=3e-3, metadata={"help": "AdamW learning rate"})
    seed: int = field(default=0, metadata={"help": "data and init seed"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "distances", tuple(int(k) for k in self.distances))
        if not self.distances or min(self.distances) < 1:
            raise ConfigError("distances", "hop distances >= 1", self.distances)
        if self.classes < 2:
            raise ConfigError("classes", "an integer >= 2", self.classes)
        if self.distractors < 0:
            raise ConfigError("distractors", "a non-negative share", self.distractors)
        for name in ("train_graphs", "test_graphs", "hidden", "layers", "steps", "epochs"):
            if getattr(self, name) < 1:  # no graphs to train or score on: nothing to report
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        if not self.lr > 0:
            raise ConfigError("lr", "a learning rate > 0", self.lr)


@dataclass(frozen=True)
class WeightGraphConfig:
    """The weight-graph predictor of `weightspace.graphs.weight_probe.WeightGraphFeatures`:
    network, size and training (its checks build the network's and the fit's configs, which
    import torch: a flag's help does not construct it)."""

    model: str = field(default="dbgnn", metadata={"help": "dbgnn or mpnn"})
    hidden: int = field(default=32, metadata={"help": "node and edge state width"})
    layers: int = field(default=3, metadata={"help": "layers K"})
    steps: int = field(default=4, metadata={"help": "steps T per layer"})
    delta: float = field(default=0.01, metadata={"help": "DBGNN init scale"})
    activation: str = field(default="leaky_relu", metadata={"help": "after every step"})
    targets: tuple[str, ...] = field(
        default=("test_acc", "epoch", "ggap"), metadata={"help": "zoo columns to regress"}
    )
    holdout: float = field(default=0.15, metadata={"help": "training models held out for val"})
    epochs: int = field(default=80, metadata={"help": "training epochs"})
    batch_size: int = field(default=32, metadata={"help": "networks per step"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    seed: int = field(default=0, metadata={"help": "init, hold-out and shuffling seed"})

    def __post_init__(self) -> None:
        check_choice("model", self.model, GRAPH_MODEL_NAMES)
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError("holdout", "a share in (0, 1)", self.holdout)
        if not self.targets:
            raise ConfigError("targets", "at least one zoo column", self.targets)
        object.__setattr__(self, "targets", tuple(self.targets))
        self.network(1, 1)  # validates the sizes and the activation
        self.fit_config()

    def network(self, node_in: int, edge_in: int) -> DBGNNConfig:
        from weightspace.graphs.dbgnn import DBGNNConfig

        return DBGNNConfig(
            node_in=node_in,
            edge_in=edge_in,
            out=len(self.targets),
            hidden_node=self.hidden,
            hidden_edge=self.hidden,
            layers=self.layers,
            steps=self.steps,
            delta=self.delta,
            activation=self.activation,
            readout="graph",
        )

    def fit_config(self) -> FitConfig:
        from weightspace.graphs.training import FitConfig

        return FitConfig(self.epochs, self.batch_size, self.lr, seed=self.seed)
