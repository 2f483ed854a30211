"""Model diagnosis with the MD tree (Zhou et al., ICML 2024): why did training fall short?

Loss-landscape metrics per configuration (Hessian trace and top eigenvalue, mode connectivity,
CKA between seeds), failure labels by room for improvement, the fixed-shape MD tree and its
decision-tree baselines, and the paper's transfer protocols.

    >>> table = compute_metrics("grid/", "metrics.parquet")
    >>> tree = MDTree("temperature").fit(table)
"""

from weightspace._lazy import lazy_names

# loaded on first use: `diagnose ... --help` reads the configs (`config`) without torch
_EXPORTS = {
    "linear_cka": "cka",
    "mixup_inputs": "cka",
    "CurveConfig": "config",
    "bezier": "connectivity",
    "connectivity_scores": "connectivity",
    "GRID_PRESETS": "config",
    "DiagnosisGridConfig": "config",
    "grid_preset": "config",
    "train_grid": "grid",
    "hessian_metrics": "hessian",
    "hutchinson_trace": "hessian",
    "top_eigenvalue": "hessian",
    "derive_labels": "labels",
    "MetricsConfig": "config",
    "zoo_metrics": "metrics",
    "EvaluateConfig": "config",
    "evaluate": "protocols",
    "format_results": "protocols",
    "compute_metrics": "run",
    "diagnose_zoo": "run",
    "Stack": "stack",
    "PUBLISHED_COLUMNS": "tables",
    "read_metrics": "tables",
    "write_metrics": "tables",
    "SHAPES": "config",
    "BaselineTree": "tree",
    "MDTree": "tree",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

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
