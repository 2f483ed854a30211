"""A graph network over weight graphs, trained to predict zoo properties, as probe features.

`WeightGraphFeatures` has the probe protocol (``fit(zoo, rows)`` / ``transform(zoo, rows)``),
so it enters `run_probes`' table next to W, s(W) and SANE with the same model splits -- as a
*supervised* row, marked so in every table: it is trained on the targets it is scored on. ``fit``
sees only the training rows: it holds out a share of the training models (by group of siblings)
to pick the epoch,
trains a DBGNN (or an MPNN) to regress the standardized targets (test accuracy, epoch,
generalization gap) from the weight graph, and ``transform`` returns the pooled node states
followed by the predicted targets; the table's linear probes read those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from weightspace.errors import ConfigError, NotFittedError, check_choice
from weightspace.graphs.data import Graph
from weightspace.graphs.dbgnn import DBGNN, DBGNNConfig
from weightspace.graphs.mpnn import MPNN
from weightspace.graphs.training import FitConfig, fit_model
from weightspace.graphs.weight_graph import weight_graph_layout
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import SIBLINGS, group_keys
from weightspace.zoo.reader import Zoo

GRAPH_MODELS = {"dbgnn": DBGNN, "mpnn": MPNN}


@dataclass(frozen=True)
class WeightGraphConfig:
    """The weight-graph predictor: network, size and training."""

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
        check_choice("model", self.model, tuple(GRAPH_MODELS))
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError("holdout", "a share in (0, 1)", self.holdout)
        if not self.targets:
            raise ConfigError("targets", "at least one zoo column", self.targets)
        object.__setattr__(self, "targets", tuple(self.targets))
        self.network(1, 1)  # validates the sizes and the activation
        self.fit_config()

    def network(self, node_in: int, edge_in: int) -> DBGNNConfig:
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
        return FitConfig(self.epochs, self.batch_size, self.lr, seed=self.seed)


class WeightGraphFeatures:
    """Probe features from a graph network trained on the weight graphs of the training rows.

    Unlike W, s(W) or a self-supervised embedding, these features are *supervised*: the network
    is trained on the very targets the table probes (``supervised = True``; tables mark the
    row). Its inner hold-out keeps groups of siblings (same seed and init) together.
    """

    supervised = True

    def __init__(self, config: WeightGraphConfig | None = None, name: str | None = None) -> None:
        self.config = config or WeightGraphConfig()
        self.name = name or f"{self.config.model.upper()} (weight graph, supervised)"

    def fit(self, zoo: Zoo, rows: np.ndarray) -> WeightGraphFeatures:
        c = self.config
        missing = [t for t in c.targets if t not in zoo.table.column_names]
        if missing:
            raise ConfigError(
                "targets", f"columns of the zoo table {zoo.table.column_names}", missing
            )
        self.layout_ = weight_graph_layout(zoo_spec(zoo))
        flat = zoo.flat(rows).float()  # (n, P)
        y = torch.tensor(np.stack([zoo.column(t)[rows] for t in c.targets], 1), dtype=torch.float32)
        self.y_mean_, self.y_std_ = y.mean(0), y.std(0).clamp(min=1e-8)
        sample = self.layout_.graphs(flat[: min(len(flat), 256)])
        self.x_mean_, self.x_std_ = _column_stats(sample.x)
        self.e_mean_, self.e_std_ = _column_stats(sample.edge_attr)
        fit_items, val_items = _hold_out_groups(zoo, rows, c.holdout, c.seed)
        torch.manual_seed(c.seed)
        self.model_ = GRAPH_MODELS[c.model](c.network(self.layout_.node_dim, self.layout_.edge_dim))
        target = (y - self.y_mean_) / self.y_std_

        def loss(model: torch.nn.Module, items: np.ndarray) -> torch.Tensor:
            prediction = model(self._graphs(flat[items]))  # (b, targets)
            return torch.nn.functional.mse_loss(prediction, target[items])

        self.history_ = fit_model(self.model_, loss, fit_items, val_items, c.fit_config())
        return self

    @torch.no_grad()
    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        """(n, hidden + targets): pooled node states and the predicted targets (zoo units)."""
        if not hasattr(self, "model_"):
            raise NotFittedError("WeightGraphFeatures is not fitted yet; call fit() first.")
        out = []
        for _, flat in zoo.batches(rows):
            graph = self._graphs(flat.float())
            embedding = self.model_.embed(graph)  # (b, hidden)
            prediction = self.model_.head(embedding) * self.y_std_ + self.y_mean_
            out.append(torch.cat([embedding, prediction], 1).double().numpy())
        width = self.config.hidden + len(self.config.targets)
        return np.concatenate(out) if out else np.zeros((0, width))

    def predict(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        """Predicted targets (n, targets) in the zoo's units."""
        return self.transform(zoo, rows)[:, self.config.hidden :]

    def _graphs(self, flat: torch.Tensor) -> Graph:
        g = self.layout_.graphs(flat)
        return g._replace(
            x=(g.x - self.x_mean_) / self.x_std_,
            edge_attr=(g.edge_attr - self.e_mean_) / self.e_std_,
        )


def _column_stats(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std; a constant column keeps std 1 so it is only centred."""
    std = values.std(0)
    return values.mean(0), torch.where(std > 1e-8, std, torch.ones_like(std))


def _hold_out_groups(
    zoo: Zoo, rows: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Item positions (into ``rows``) of the kept and the held-out training checkpoints: a
    ``share`` of the training models is held out by group of siblings (same seed and init, as
    the zoo's grouped split does), every checkpoint of a model on one side."""
    model_ids = zoo.column("model_id")[rows]
    factors = tuple(f for f in SIBLINGS if f in zoo.table.column_names)
    groups = group_keys(zoo, factors)[rows] if factors else model_ids.astype(str)
    keys = np.unique(groups)
    held = np.random.default_rng(seed).permutation(keys)[: max(1, round(share * len(keys)))]
    if len(held) == len(keys):
        raise ConfigError(
            "zoo",
            "at least 2 groups of models (same seed and init) in the training split",
            len(keys),
            fix="Use a zoo with more seeds",
        )
    mask = np.isin(groups, held)
    return np.flatnonzero(~mask), np.flatnonzero(mask)
