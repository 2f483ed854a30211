"""Model diagnosis with the MD tree (Zhou et al., ICML 2024): why did training fall short?

Loss-landscape metrics per configuration (Hessian trace and top eigenvalue, mode connectivity,
CKA between seeds), failure labels by room for improvement, the fixed-shape MD tree and its
decision-tree baselines, and the paper's transfer protocols.

    >>> table = compute_metrics("grid/", "metrics.parquet")
    >>> tree = MDTree("temperature").fit(table)
"""

from weightspace.diagnose.cka import linear_cka, mixup_inputs
from weightspace.diagnose.connectivity import CurveConfig, bezier, connectivity_scores
from weightspace.diagnose.grid import GRID_PRESETS, DiagnosisGridConfig, grid_preset, train_grid
from weightspace.diagnose.hessian import hessian_metrics, hutchinson_trace, top_eigenvalue
from weightspace.diagnose.labels import derive_labels
from weightspace.diagnose.metrics import MetricsConfig, zoo_metrics
from weightspace.diagnose.protocols import EvaluateConfig, evaluate, format_results
from weightspace.diagnose.run import compute_metrics, diagnose_zoo
from weightspace.diagnose.stack import Stack
from weightspace.diagnose.tables import PUBLISHED_COLUMNS, read_metrics, write_metrics
from weightspace.diagnose.tree import SHAPES, BaselineTree, MDTree

__all__ = [
    "GRID_PRESETS",
    "PUBLISHED_COLUMNS",
    "SHAPES",
    "BaselineTree",
    "CurveConfig",
    "EvaluateConfig",
    "DiagnosisGridConfig",
    "MDTree",
    "MetricsConfig",
    "Stack",
    "bezier",
    "compute_metrics",
    "connectivity_scores",
    "derive_labels",
    "diagnose_zoo",
    "evaluate",
    "format_results",
    "grid_preset",
    "hessian_metrics",
    "hutchinson_trace",
    "linear_cka",
    "mixup_inputs",
    "read_metrics",
    "top_eigenvalue",
    "train_grid",
    "write_metrics",
    "zoo_metrics",
]
