"""The sampling table, as cells: rendered as HTML by the report and as Markdown by the demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from weightspace.probe.report import ProbeReport, Target


def mean_std(values: np.ndarray) -> str:
    return f"{values.mean():.3f} ± {values.std():.3f}"


def sampling_table(sampling: Mapping, epochs: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the sampling results: per group of networks its size, test accuracy
    after each of ``epochs`` of fine-tuning (0 = zero-shot), on the new task, and novelty."""
    header = ["networks", "n"]
    header += ["zero-shot" if e == 0 else f"{e} epoch(s)" for e in epochs]
    header += [f"new task, {sampling['transfer_epochs']} epoch(s)", "novelty"]
    rows = []
    for group in sampling["groups"]:
        curves, transfer = np.asarray(group["curves"]), np.asarray(group["transfer"])
        rows.append(
            [group["name"], str(len(curves))]
            + [mean_std(curves[:, e]) for e in epochs]
            + [mean_std(transfer[:, -1]), f"{np.mean(group['novelty']):.3f}"]
        )
    return header, rows


def probe_report(probes: dict) -> ProbeReport:
    """The `ProbeReport` of a demo run's "probes" entry (scores, intervals, marks, split)."""
    methods = probes["methods"]
    return ProbeReport(
        {m["name"]: m["scores"] for m in methods},
        [Target(**t) for t in probes["targets"]],
        models=probes["models"],
        intervals={m["name"]: {k: tuple(v) for k, v in m["intervals"].items()} for m in methods},
        split=probes["split"],
        marks={m["name"]: m["beaten"] for m in methods},
        supervised=probes.get("supervised", []),
    )
