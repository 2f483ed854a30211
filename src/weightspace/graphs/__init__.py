"""Graph neural networks on graphs with node and edge states: Dirac–Bianconi GNNs (DBGNN),
message-passing baselines, signal-propagation diagnostics, a long-range benchmark task, and
neural networks as graphs (neurons as nodes, weights as edges) for learning from weights."""

from weightspace._lazy import lazy_names

# loaded on first use: `graphs longrange --help` reads its config without importing torch
_EXPORTS = {
    "Graph": "data",
    "batch_shared_layout": "data",
    "both_directions": "data",
    "collate": "data",
    "DBGNN": "dbgnn",
    "DBGNNConfig": "dbgnn",
    "DiracBianconiStep": "dbgnn",
    "mean_pool": "dbgnn",
    "dirichlet_energy": "diagnostics",
    "energy_trace": "diagnostics",
    "family_graph": "diagnostics",
    "grid_graph": "diagnostics",
    "hop_distances": "diagnostics",
    "impulse_response": "diagnostics",
    "path_graph": "diagnostics",
    "ring_graph": "diagnostics",
    "GridDBGNN": "grids",
    "GCN": "mpnn",
    "MPNN": "mpnn",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

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
