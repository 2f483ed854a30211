"""Graph neural networks on graphs with node and edge states: Dirac–Bianconi GNNs (DBGNN),
message-passing baselines, signal-propagation diagnostics, a long-range benchmark task, and
neural networks as graphs (neurons as nodes, weights as edges) for learning from weights."""

from weightspace.graphs.data import Graph, batch_shared_layout, both_directions, collate
from weightspace.graphs.dbgnn import DBGNN, DBGNNConfig, DiracBianconiStep, mean_pool
from weightspace.graphs.diagnostics import (
    dirichlet_energy,
    energy_trace,
    family_graph,
    grid_graph,
    hop_distances,
    impulse_response,
    path_graph,
    ring_graph,
)
from weightspace.graphs.grids import GridDBGNN
from weightspace.graphs.mpnn import GCN, MPNN

__all__ = [
    "DBGNN",
    "GCN",
    "MPNN",
    "DBGNNConfig",
    "DiracBianconiStep",
    "Graph",
    "GridDBGNN",
    "batch_shared_layout",
    "both_directions",
    "collate",
    "dirichlet_energy",
    "energy_trace",
    "family_graph",
    "grid_graph",
    "hop_distances",
    "impulse_response",
    "mean_pool",
    "path_graph",
    "ring_graph",
]
