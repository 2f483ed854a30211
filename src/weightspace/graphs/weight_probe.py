"""A graph network over weight graphs, trained to predict zoo properties, as probe features.

`WeightGraphFeatures` has the probe protocol (``fit(zoo, rows)`` / ``transform(zoo, rows)``),
so it enters `run_probes`' table next to W, s(W) and SANE with the same model splits -- as a
*supervised* row, marked so in every table: it is trained on the targets it is scored on. ``fit``
sees only the training rows: it holds out a share of the training models (by group of siblings)
to pick the epoch,
trains a DBGNN (or an MPNN) to regress the standardized targets (test accuracy, epoch,
generalization gap) from the weight graph, and ``transform`` returns the pooled node states
followed by the predicted targets; the table's linear probes read those.

``fit_many(parts)`` / ``transform_many(parts)`` train one network over the weight graphs of
several zoos (architectures) at once: a layout per spec, edge features zero-padded to the
longest kernel of the training specs, normalization over all training parts, and the hold-out
drawn per zoo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from weightspace.errors import ConfigError, NotFittedError
from weightspace.graphs.config import WeightGraphConfig
from weightspace.graphs.data import Graph
from weightspace.graphs.dbgnn import DBGNN
from weightspace.graphs.mpnn import MPNN
from weightspace.graphs.training import fit_model
from weightspace.graphs.weight_graph import WeightGraphLayout, weight_graph_layout
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import SIBLINGS, group_keys
from weightspace.zoo.reader import Zoo

# keys: `weightspace.graphs.config.GRAPH_MODEL_NAMES` (what a config is checked against)
GRAPH_MODELS = {"dbgnn": DBGNN, "mpnn": MPNN}


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
        self.layouts_ = {zoo_spec(zoo): self.layout_}
        self.edge_values_ = self.layout_.edge_gather.shape[1]
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

    def fit_many(self, parts: Sequence[tuple[Zoo, np.ndarray]]) -> WeightGraphFeatures:
        """Train one network on the weight graphs of the rows of several zoos (``(zoo, rows)``
        parts, any architectures); on one part it is `fit`."""
        c = self.config
        for zoo, _ in parts:
            missing = [t for t in c.targets if t not in zoo.table.column_names]
            if missing:
                raise ConfigError("targets", f"columns of the table of {zoo.name}", missing)
        specs = [zoo_spec(zoo) for zoo, _ in parts]
        self.layouts_ = {spec: weight_graph_layout(spec) for spec in specs}
        self.layout_ = self.layouts_[specs[0]]
        self.edge_values_ = max(lay.edge_gather.shape[1] for lay in self.layouts_.values())
        flats = [zoo.flat(rows).float() for zoo, rows in parts]
        y = torch.tensor(
            np.concatenate([np.stack([z.column(t)[r] for t in c.targets], 1) for z, r in parts]),
            dtype=torch.float32,
        )
        self.y_mean_, self.y_std_ = y.mean(0), y.std(0).clamp(min=1e-8)
        samples = [
            self._padded(self.layouts_[s], f[: min(len(f), 256)])
            for s, f in zip(specs, flats, strict=True)
        ]
        self.x_mean_, self.x_std_ = _column_stats(torch.cat([g.x for g in samples]))
        self.e_mean_, self.e_std_ = _column_stats(torch.cat([g.edge_attr for g in samples]))
        fit_items, val_items = _hold_out_parts(parts, c.holdout, c.seed)
        part_of = np.concatenate([np.full(len(f), i) for i, f in enumerate(flats)])
        local = np.concatenate([np.arange(len(f)) for f in flats])
        torch.manual_seed(c.seed)
        node_dim = self.layout_.node_dim
        self.model_ = GRAPH_MODELS[c.model](c.network(node_dim, self.edge_values_ + 4))
        target = (y - self.y_mean_) / self.y_std_

        def loss(model: torch.nn.Module, items: np.ndarray) -> torch.Tensor:
            items = items[np.argsort(part_of[items], kind="stable")]  # one graph batch per part
            graphs = [
                self._graphs(flats[p][local[items[part_of[items] == p]]], self.layouts_[specs[p]])
                for p in dict.fromkeys(part_of[items].tolist())
            ]
            prediction = model(_join(graphs))  # (b, targets)
            return torch.nn.functional.mse_loss(prediction, target[items])

        self.history_ = fit_model(self.model_, loss, fit_items, val_items, c.fit_config())
        return self

    def transform_many(self, parts: Sequence[tuple[Zoo, np.ndarray]]) -> np.ndarray:
        """(rows of all parts in order, hidden + targets), as `transform` per part."""
        width = self.config.hidden + len(self.config.targets)
        return np.concatenate([np.zeros((0, width))] + [self.transform(z, r) for z, r in parts])

    @torch.no_grad()
    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        """(n, hidden + targets): pooled node states and the predicted targets (zoo units)."""
        if not hasattr(self, "model_"):
            raise NotFittedError("WeightGraphFeatures is not fitted yet; call fit() first.")
        layout = self._layout(zoo)
        out = []
        for _, flat in zoo.batches(rows):
            graph = self._graphs(flat.float(), layout)
            embedding = self.model_.embed(graph)  # (b, hidden)
            prediction = self.model_.head(embedding) * self.y_std_ + self.y_mean_
            out.append(torch.cat([embedding, prediction], 1).double().numpy())
        width = self.config.hidden + len(self.config.targets)
        return np.concatenate(out) if out else np.zeros((0, width))

    def predict(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        """Predicted targets (n, targets) in the zoo's units."""
        return self.transform(zoo, rows)[:, self.config.hidden :]

    def _layout(self, zoo: Zoo) -> WeightGraphLayout:
        """The layout of ``zoo``'s spec (built once); edges no longer than in training."""
        spec = zoo_spec(zoo)
        layouts = getattr(self, "layouts_", {})
        if spec not in layouts:
            layout = weight_graph_layout(spec)
            if layout.edge_gather.shape[1] > getattr(self, "edge_values_", 0):
                raise ConfigError(
                    "zoo",
                    f"weight-graph edges of at most {self.edge_values_} values (as in training)",
                    f"{zoo.name}: {layout.edge_gather.shape[1]}",
                    fix="Fit on parts that include an architecture with kernels this large",
                )
            layouts[spec] = layout
        return layouts[spec]

    def _padded(self, layout: WeightGraphLayout, flat: torch.Tensor) -> Graph:
        """The layout's graphs with edge values zero-padded to the training length."""
        g = layout.graphs(flat)
        n = layout.edge_gather.shape[1]
        pad = getattr(self, "edge_values_", n) - n
        if pad <= 0:
            return g
        attr = g.edge_attr
        zeros = attr.new_zeros(len(attr), pad)
        return g._replace(edge_attr=torch.cat([attr[:, :n], zeros, attr[:, n:]], 1))

    def _graphs(self, flat: torch.Tensor, layout: WeightGraphLayout | None = None) -> Graph:
        g = self._padded(layout or self.layout_, flat)
        return g._replace(
            x=(g.x - self.x_mean_) / self.x_std_,
            edge_attr=(g.edge_attr - self.e_mean_) / self.e_std_,
        )


def _column_stats(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std; a constant column keeps std 1 so it is only centred."""
    std = values.std(0)
    return values.mean(0), torch.where(std > 1e-8, std, torch.ones_like(std))


def _join(graphs: Sequence[Graph]) -> Graph:
    """Batches of graphs (each with a ``batch`` vector) -> one batch, in order."""
    if len(graphs) == 1:
        return graphs[0]
    nodes = np.cumsum([0] + [len(g.x) for g in graphs])
    counts = np.cumsum([0] + [g.num_graphs for g in graphs])
    return Graph(
        torch.cat([g.x for g in graphs]),
        torch.cat([g.edge_index + int(n) for g, n in zip(graphs, nodes, strict=False)], 1),
        torch.cat([g.edge_attr for g in graphs]),
        torch.cat([g.batch + int(k) for g, k in zip(graphs, counts, strict=False)]),
    )


def _hold_out_parts(
    parts: Sequence[tuple[Zoo, np.ndarray]], share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_hold_out_groups` per zoo, as positions into all parts' rows in order; a zoo with a
    single group of models stays in training when there are several zoos."""
    kept, held, start = [], [], 0
    for zoo, rows in parts:
        try:
            k, h = _hold_out_groups(zoo, rows, share, seed)
        except ConfigError:
            if len(parts) == 1:
                raise
            k, h = np.arange(len(rows)), np.zeros(0, dtype=int)
        kept.append(k + start)
        held.append(h + start)
        start += len(rows)
    if not sum(len(h) for h in held):
        raise ConfigError(
            "zoo",
            "at least 2 groups of models (same seed and init) in the training rows of some zoo",
            1,
            fix="Use zoos with more seeds",
        )
    return np.concatenate(kept), np.concatenate(held)


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
