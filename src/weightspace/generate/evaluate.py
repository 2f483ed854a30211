"""The generation table: samples beside the baselines of the memorization study (Zeng et al.
2025) at matched accuracy, the anchors encoded and decoded without sampling, the anchors
themselves and random initialization; for each, accuracy, the two novelty measures and
sample-to-sample diversity.

The training checkpoints compared against are the anchors (the checkpoints the sampler was fitted
on), at most ``references`` of them, drawn; an anchor is never matched with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weightspace.encoders import HyperRepresentation
from weightspace.errors import ConfigError
from weightspace.generate.baselines import (
    aligned_averages,
    aligned_to_first,
    gaussian_fit,
    match_scale,
    noisy_checkpoints,
)
from weightspace.generate.networks import accuracy, random_networks
from weightspace.generate.novelty import (
    behavioural_overlap,
    diversity,
    error_sets,
    nearest_checkpoints,
)
from weightspace.generate.run import anchor_metric, anchor_subset, load_networks
from weightspace.tokens.dataset import zoo_spec
from weightspace.zoo.datasets import load_dataset
from weightspace.zoo.reader import Zoo

COLUMNS = {
    "val_acc": "val acc",
    "test_acc": "test acc",
    "l2": "L2 to nearest (aligned)",
    "relative": "relative",
    "overlap": "error IoU (max)",
    "diversity": "diversity",
}


@dataclass(frozen=True)
class NoveltyConfig:
    """How the generation table is measured."""

    n: int = 20  # networks per baseline group
    references: int = 100  # training checkpoints (anchors) compared against, at most
    average_of: int = 2  # checkpoints per aligned average
    match_steps: int = 8  # bisection steps matching the noise / Gaussian scale to accuracy
    match_networks: int = 8  # networks per matching step
    condition_steps: int = 200  # BatchNorm conditioning (networks with BatchNorm only)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n", "references", "average_of", "match_networks"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))


def generation_table(
    encoder: HyperRepresentation,
    zoo: Zoo,
    samples: torch.Tensor,
    anchors: np.ndarray,
    config: NoveltyConfig = NoveltyConfig(),
) -> list[dict]:
    """One row per group of networks: name, n, and the measures of `COLUMNS` (means; test
    accuracy also its std; ``scale`` where a baseline was matched to the samples' accuracy)."""
    spec, splits = zoo_spec(zoo), load_dataset(zoo.dataset)
    arch = zoo.arch(int(anchors[np.argmax(zoo.column(anchor_metric(zoo))[anchors])]))
    ref_rows = anchor_subset(anchors, config.references, config.seed)
    references = zoo.flat(ref_rows)
    ref_errors = error_sets(
        load_networks(arch, zoo, references, splits, 0), splits.test_x, splits.test_y
    )

    def nets_of(flats: torch.Tensor) -> list:
        return load_networks(arch, zoo, flats, splits, config.condition_steps)

    def val_accuracy(flats: torch.Tensor) -> float:
        return float(np.mean([accuracy(n, splits.val_x, splits.val_y) for n in nets_of(flats)]))

    def row(name: str, flats: torch.Tensor, skip=None, **extra) -> dict:  # noqa: ANN001
        nets = nets_of(flats)
        flats = torch.stack([spec.flatten(n.state_dict()) for n in nets])  # conditioned BN
        test = np.array([accuracy(n, splits.test_x, splits.test_y) for n in nets])
        near = nearest_checkpoints(spec, flats, references, skip)
        errors = error_sets(nets, splits.test_x, splits.test_y)
        return {
            "name": name,
            "n": len(nets),
            "val_acc": float(np.mean([accuracy(n, splits.val_x, splits.val_y) for n in nets])),
            "test_acc": float(test.mean()),
            "test_acc_std": float(test.std()),
            "l2": float(near["l2"].mean()),
            "relative": float(near["relative"].mean()),
            "overlap": float(behavioural_overlap(errors, ref_errors, skip).mean()),
            "diversity": diversity(spec, flats, seed=config.seed),
            **extra,
        }

    n, seed, m = config.n, config.seed, config.match_networks
    rows = [row("samples", samples)]
    target = rows[0]["val_acc"]
    chosen = anchor_subset(anchors, n, seed)
    rows.append(row("encode→decode (anchors)", encoder.reconstruct(zoo, chosen)))
    position = {int(r): i for i, r in enumerate(ref_rows)}
    rows.append(row("anchors", zoo.flat(chosen), [position.get(int(r)) for r in chosen]))
    noise = match_scale(
        lambda s: noisy_checkpoints(spec, references, m, s, seed + 1),
        val_accuracy,
        target,
        steps=config.match_steps,
    )
    flats = noisy_checkpoints(spec, references, n, noise, seed)
    rows.append(_matched(row("anchor + noise (matched)", flats, scale=noise), target))
    flats = aligned_averages(spec, references, n, config.average_of, seed)
    rows.append(row(f"aligned average of {config.average_of}", flats))
    aligned = aligned_to_first(spec, references)
    scale = match_scale(
        lambda s: gaussian_fit(aligned, m, s, seed + 1),
        val_accuracy,
        target,
        high=3.0,
        steps=config.match_steps,
    )
    flats = gaussian_fit(aligned, n, scale, seed)
    rows.append(_matched(row("Gaussian fit (matched)", flats, scale=scale), target))
    nets = random_networks(arch, n, seed)
    rows.append(row("random init", torch.stack([spec.flatten(x.state_dict()) for x in nets])))
    return rows


def _matched(row: dict, target: float, tolerance: float = 0.05) -> dict:
    """Mark whether a scaled baseline reached the samples' validation accuracy (a Gaussian
    around the mean of many aligned networks may stay far below it at any scale)."""
    row["target_val_acc"] = target
    row["matched"] = bool(abs(row["val_acc"] - target) <= tolerance)
    return row


def generation_markdown(rows: list[dict]) -> str:
    """The table as Markdown (means over each group's networks)."""
    header = ["networks", "n", *COLUMNS.values()]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for r in rows:
        cells = [group_label(r), str(r["n"])]
        for key in COLUMNS:
            text = f"{r[key]:.3f}"
            cells.append(text + (f" ± {r['test_acc_std']:.3f}" if key == "test_acc" else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "\nL2 / relative: distance to the nearest training checkpoint (anchor) after permutation "
        "alignment; error IoU: the highest overlap of the wrongly classified test images with "
        "any anchor's (1 = the same mistakes); diversity: mean aligned relative distance between "
        "two networks of the group. Baselines matched to the samples' validation accuracy."
    )
    return "\n".join(lines)


def group_label(row: dict) -> str:
    """The group's name, with its scale and whether the accuracy match was reached."""
    if "scale" not in row:
        return row["name"]
    missed = (
        "" if row.get("matched", True) else f", NOT matched: target {row['target_val_acc']:.3f}"
    )
    return f"{row['name']} (scale {row['scale']:.3g}{missed})"
