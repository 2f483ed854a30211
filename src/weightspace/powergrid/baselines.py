"""Baseline SNBS predictors: the GNNs of Nauck et al. (GCN, ARMA, GraphSAGE, TAG; sigmoid
output), an MLP on network measures, and regressions on network measures.

A GNN maps a PyG batch to one SNBS estimate per node, shape (num_nodes,). The network measures
of a node are P, degree, average neighbour degree, clustering, current-flow betweenness and
closeness (networkx); `add_measures` stores them as ``data.measures`` (n, 6).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from torch import nn

from weightspace.errors import ConfigError, check_choice
from weightspace.powergrid.config import MODEL_NAMES, GridTrainConfig

MEASURES = ("P", "degree", "avg_neighbor_degree", "clustering", "current_flow_bw", "closeness")
GNN_NAMES = ("tag", "arma", "gcn", "sage")


def node_measures(data) -> np.ndarray:
    """(n, 6) network measures of every node of one grid ``Data``."""
    n = data.num_nodes
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(data.edge_index.T.tolist())
    degree = np.array([graph.degree(i) for i in range(n)], dtype=np.float64)
    neighbour = nx.average_neighbor_degree(graph)
    clustering = nx.clustering(graph)
    betweenness = nx.current_flow_betweenness_centrality(graph)
    closeness = nx.closeness_centrality(graph)
    columns = [
        data.x[:, 0].double().numpy(),
        degree,
        np.array([neighbour[i] for i in range(n)]),
        np.array([clustering[i] for i in range(n)]),
        np.array([betweenness[i] for i in range(n)]),
        np.array([closeness[i] for i in range(n)]),
    ]
    return np.stack(columns, axis=1)


def add_measures(data_list: list) -> list:
    """Compute ``data.measures`` (n, 6) float32 where missing; returns the same list."""
    for data in data_list:
        if getattr(data, "measures", None) is None:
            data.measures = torch.as_tensor(node_measures(data), dtype=torch.float32)
    return data_list


class GraphRegressor(nn.Module):
    """Stacked graph convolutions with ReLU, then a linear head and a sigmoid: (N,) in [0, 1]."""

    def __init__(self, kind: str, hidden: int = 64, layers: int = 3) -> None:
        super().__init__()
        from torch_geometric import nn as gnn

        check_choice("model", kind, GNN_NAMES)
        self.kind = kind
        make = {
            "gcn": lambda i, o: gnn.GCNConv(i, o),
            "arma": lambda i, o: gnn.ARMAConv(i, o, num_stacks=3, num_layers=2, act=None),
            "sage": lambda i, o: gnn.SAGEConv(i, o),
            "tag": lambda i, o: gnn.TAGConv(i, o, K=3),
        }[kind]
        widths = [1] + [hidden] * layers
        self.convs = nn.ModuleList(make(i, o) for i, o in zip(widths, widths[1:], strict=False))
        self.head = nn.Linear(hidden, 1)

    def forward(self, batch) -> torch.Tensor:
        x, edge_index = batch.x, batch.edge_index
        weight = batch.edge_attr.reshape(-1) if batch.edge_attr is not None else None
        for conv in self.convs:
            if self.kind == "sage":  # GraphSAGE takes no edge weights
                x = conv(x, edge_index)
            else:
                x = conv(x, edge_index, weight)
            x = torch.relu(x)
        return torch.sigmoid(self.head(x)).squeeze(-1)  # (N,)


class MeasuresMLP(nn.Module):
    """An MLP on the standardized network measures of each node: (N,) in [0, 1]."""

    def __init__(self, hidden: int = 64, layers: int = 3) -> None:
        super().__init__()
        widths = [len(MEASURES)] + [hidden] * layers
        blocks: list[nn.Module] = []
        for i, o in zip(widths, widths[1:], strict=False):
            blocks += [nn.Linear(i, o), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, 1))
        self.register_buffer("mean", torch.zeros(len(MEASURES)))
        self.register_buffer("std", torch.ones(len(MEASURES)))

    def fit_scaler(self, data_list: list) -> MeasuresMLP:
        x = torch.cat([d.measures for d in data_list])
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))
        return self

    def forward(self, batch) -> torch.Tensor:
        x = (batch.measures - self.mean) / self.std
        return torch.sigmoid(self.net(x)).squeeze(-1)


def build_baseline(
    name: str, config: GridTrainConfig, layers: int | None = None, steps: int | None = None
) -> nn.Module:
    """A torch model by name (``tag``, ``arma``, ``gcn``, ``sage``, ``mlp`` or ``dbgnn``).

    ``layers`` overrides ``config.layers`` for every model. The DBGNN takes the published depth
    of Nauck et al. 2024 (4 layers x 12 Dirac steps) unless ``layers`` / ``steps`` are given:
    ``config.layers`` (default 3) is the baselines' depth and does not set it. ``steps`` (Dirac
    steps per layer) applies to the DBGNN only; the other models ignore it.
    """
    check_choice("model", name, tuple(n for n in MODEL_NAMES if n != "measures"))
    for field, value in (("layers", layers), ("steps", steps)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(field, "an integer >= 1", value)
    torch.manual_seed(config.seed)
    if name == "dbgnn":  # Dirac-Bianconi GNN (Nauck et al. 2024)
        from weightspace.graphs.grids import DBGNN_LAYERS, DBGNN_STEPS, GridDBGNN

        return GridDBGNN(config.hidden, layers or DBGNN_LAYERS, steps or DBGNN_STEPS)
    if name == "mlp":
        return MeasuresMLP(config.hidden, layers or config.layers)
    return GraphRegressor(name, config.hidden, layers or config.layers)


def fit_measures_regression(train: list, kind: str = "boosting", seed: int = 0):
    """A scikit-learn regressor of SNBS on the network measures (``boosting`` or ``linear``)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_choice("kind", kind, ("boosting", "linear"))
    add_measures(train)
    x = torch.cat([d.measures for d in train]).numpy()
    y = torch.cat([d.y for d in train]).numpy()
    if kind == "linear":
        model = make_pipeline(StandardScaler(), LinearRegression())
    else:
        model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed)
    return model.fit(x, y)
