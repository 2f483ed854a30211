"""Probes: linear models read zoo properties from features of the weights (W, s(W),
WeightWatcher, hyper-representation embeddings), with bootstrap intervals and leak-free splits;
`probe_many` probes features of fixed width over zoos of several architectures."""

from weightspace.probe.across import CrossArchWeightWatcher, probe_many
from weightspace.probe.features import (
    CrossArchStatistics,
    EncoderFeatures,
    FlatWeights,
    ManyFeatures,
    Part,
    WeightStatistics,
    WeightWatcherFeatures,
)
from weightspace.probe.probes import LogisticProbe, RidgeProbe
from weightspace.probe.report import ProbeReport, Target
from weightspace.probe.run import probe_splits, run_probes, zoo_targets

__all__ = [
    "CrossArchStatistics",
    "CrossArchWeightWatcher",
    "EncoderFeatures",
    "FlatWeights",
    "LogisticProbe",
    "ManyFeatures",
    "Part",
    "ProbeReport",
    "RidgeProbe",
    "Target",
    "WeightStatistics",
    "WeightWatcherFeatures",
    "probe_many",
    "probe_splits",
    "run_probes",
    "zoo_targets",
]
