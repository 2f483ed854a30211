"""Probes: linear models read zoo properties from features of the weights (W, s(W),
WeightWatcher, hyper-representation embeddings), with bootstrap intervals and leak-free splits."""

from weightspace.probe.features import (
    EncoderFeatures,
    FlatWeights,
    WeightStatistics,
    WeightWatcherFeatures,
)
from weightspace.probe.probes import LogisticProbe, RidgeProbe
from weightspace.probe.report import ProbeReport, Target
from weightspace.probe.run import probe_splits, run_probes, zoo_targets

__all__ = [
    "EncoderFeatures",
    "FlatWeights",
    "LogisticProbe",
    "ProbeReport",
    "RidgeProbe",
    "Target",
    "WeightStatistics",
    "WeightWatcherFeatures",
    "probe_splits",
    "run_probes",
    "zoo_targets",
]
