"""Dynamic stability of synthetic power grids: grids, SNBS simulation, datasets, GNN baselines.

grid = make_grid(GridConfig(nodes=20), seed=(0, 1))
(stability,) = node_stability([grid], SimulationConfig(perturbations=200), [(0, 1, 1)])
dataset = generate_dataset(GenerateConfig(GridConfig(), SimulationConfig(), DatasetConfig()),
                           "grids20/")
splits = open_grid_dataset("grids20/").splits()       # or read_zenodo("dataset20/")
fit_node_regressor(any_module, splits["train"], splits["valid"], GridTrainConfig())
"""

from weightspace.powergrid.baselines import (
    MEASURES,
    GraphRegressor,
    MeasuresMLP,
    add_measures,
    build_model,
    node_measures,
)
from weightspace.powergrid.compare import (
    BASELINES,
    compare_baselines,
    comparison_table,
    run_baseline,
)
from weightspace.powergrid.config import (
    DatasetConfig,
    GridConfig,
    GridTrainConfig,
    SimulationConfig,
)
from weightspace.powergrid.dataset import GenerateConfig, generate_dataset, simulate_shard
from weightspace.powergrid.dynamics import (
    GridTensors,
    edge_rhs,
    numpy_rhs,
    perturbed_states,
    swing_rhs,
)
from weightspace.powergrid.growth import Grid, fixed_point, make_grid, power_flow_residual
from weightspace.powergrid.integrate import STOP_RULES, StopRule, TrajectoryResult, integrate
from weightspace.powergrid.reader import GridDataset, grid_data, open_grid_dataset, split_indices
from weightspace.powergrid.snbs import NodeStability, node_stability
from weightspace.powergrid.train import (
    FitResult,
    evaluate_node_regressor,
    fit_node_regressor,
    node_metrics,
    predict_nodes,
)
from weightspace.powergrid.zenodo import read_zenodo

__all__ = [
    "BASELINES",
    "MEASURES",
    "DatasetConfig",
    "FitResult",
    "GenerateConfig",
    "GraphRegressor",
    "Grid",
    "GridConfig",
    "GridDataset",
    "GridTensors",
    "GridTrainConfig",
    "MeasuresMLP",
    "NodeStability",
    "STOP_RULES",
    "SimulationConfig",
    "StopRule",
    "TrajectoryResult",
    "add_measures",
    "build_model",
    "compare_baselines",
    "comparison_table",
    "edge_rhs",
    "evaluate_node_regressor",
    "fit_node_regressor",
    "fixed_point",
    "generate_dataset",
    "grid_data",
    "integrate",
    "make_grid",
    "node_measures",
    "node_metrics",
    "node_stability",
    "numpy_rhs",
    "open_grid_dataset",
    "perturbed_states",
    "power_flow_residual",
    "predict_nodes",
    "read_zenodo",
    "run_baseline",
    "simulate_shard",
    "split_indices",
    "swing_rhs",
]
