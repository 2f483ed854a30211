"""Sample new networks from a trained hyper-representation, evaluate them, write them as a zoo.

Anchors are the top share (30 % by default) of the training split's checkpoints by validation
accuracy (never test accuracy: the samples are scored on the test split); their latents feed a
sampler; decoded, de-normalized weights are loaded into the architecture (BatchNorm conditioned
on training images when the network has any) and scored zero-shot on the validation and test
splits. Novelty is each sample's relative distance to the nearest anchor checkpoint after
permutation alignment; `weightspace.generate.evaluate` adds the baselines and the other measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from weightspace.encoders import HyperRepresentation
from weightspace.errors import ConfigError
from weightspace.generate.align import nearest_distance
from weightspace.generate.networks import accuracy, condition_batchnorm
from weightspace.generate.samplers import SAMPLERS, parse_method
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import check_part_sizes, encoder_split
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.datasets import Splits, load_dataset
from weightspace.zoo.imports.writer import Checkpoint, write_zoo
from weightspace.zoo.reader import Zoo


@dataclass(frozen=True)
class SampleConfig:
    method: str = "kde30"  # sampler name + top-k percentage of anchors
    n: int = 50
    seed: int = 0
    condition_steps: int = 200  # BatchNorm conditioning passes (networks with BatchNorm only)

    def __post_init__(self) -> None:
        parse_method(self.method)
        if self.n < 1:
            raise ConfigError("n", "an integer >= 1", self.n)
        if self.condition_steps < 0:
            raise ConfigError("condition_steps", "an integer >= 0", self.condition_steps)


def anchor_rows(zoo: Zoo, encoder: HyperRepresentation, share: float) -> np.ndarray:
    """The top ``share`` of the training checkpoints by *validation* accuracy (at least 2),
    among those with the best checkpoint's activation: samples are loaded into one architecture.

    Test accuracy never chooses anchors: the samples are scored on the test split. A zoo
    without validation accuracy ranks by training accuracy.
    """
    split = encoder_split(encoder, zoo)
    rows = split.rows(zoo, "train")
    models = len(set(zoo.column("model_id")[rows].tolist()))
    check_part_sizes({"train": models}, {"train": 2}, split.kind, "to draw anchors from")
    accuracy = zoo.column(anchor_metric(zoo)).astype(float)
    accuracy = np.where(np.isfinite(accuracy), accuracy, -np.inf)
    if "activation" in zoo.table.column_names:
        best = rows[np.argmax(accuracy[rows])]
        rows = rows[zoo.column("activation")[rows] == zoo.column("activation")[best]]
    order = rows[np.argsort(-accuracy[rows], kind="stable")]
    return np.sort(order[: max(2, int(round(share * len(rows))))])


def anchor_metric(zoo: Zoo) -> str:
    """The column anchors are ranked by: val_acc, else train_acc (never test_acc)."""
    for name in ("val_acc", "train_acc"):
        if name in zoo.table.column_names:
            return name
    raise ConfigError(
        "zoo", "a val_acc or train_acc column to choose anchors by", zoo.table.column_names
    )


def anchor_subset(anchors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` of the anchor rows, drawn without replacement (the anchors' own baseline)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(anchors, size=min(n, len(anchors)), replace=False))


def load_networks(
    arch: ArchConfig, zoo: Zoo, flats: torch.Tensor, splits: Splits, steps: int
) -> list[torch.nn.Module]:
    spec = zoo_spec(zoo)
    nets = []
    for flat in flats:
        net = build_model(arch)
        net.load_state_dict(spec.unflatten(flat), strict=False)
        nets.append(condition_batchnorm(net, splits.train_x, steps))
    return nets


def sample_weights(
    encoder: HyperRepresentation, zoo: Zoo, config: SampleConfig
) -> tuple[torch.Tensor, np.ndarray]:
    """(n, P) sampled raw weights and the anchor rows they were drawn around."""
    name, share = parse_method(config.method)
    anchors = anchor_rows(zoo, encoder, share)
    latents = encoder.latents(zoo, anchors)
    drawn = SAMPLERS[name]().sample(latents, config.n, config.seed)
    return encoder.decode(drawn, zoo), anchors


def sample_zoo(
    encoder: HyperRepresentation, zoo: Zoo, out: str | Path, config: SampleConfig
) -> Zoo:
    """Draw, evaluate and write ``config.n`` samples as a zoo; returns it."""
    flats, anchors = sample_weights(encoder, zoo, config)
    splits = load_dataset(zoo.dataset)
    arch = zoo.arch(int(anchors[np.argmax(zoo.column(anchor_metric(zoo))[anchors])]))
    nets = load_networks(arch, zoo, flats, splits, config.condition_steps)
    spec = zoo_spec(zoo)
    flats = torch.stack([spec.flatten(net.state_dict()) for net in nets])  # conditioned BN
    novelty = nearest_distance(spec, flats, zoo.flat(anchors))
    rows = []
    for i, net in enumerate(nets):
        values = {
            "test_acc": accuracy(net, splits.test_x, splits.test_y),
            "val_acc": accuracy(net, splits.val_x, splits.val_y),
            "novelty": float(novelty[i]),
            "method": config.method,
            "activation": arch.activation,
        }
        rows.append(Checkpoint(i, 0, {k: v for k, v in net.state_dict().items()}, values))
    test = np.array([r.values["test_acc"] for r in rows])
    evaluation = {
        "config": asdict(config),
        # what they were drawn from, by content: a result reused later must match both
        "sources": {"zoo_sha256": zoo.content_sha256, "encoder_sha256": encoder.content_sha256},
        "anchors": {
            "rows": anchors.tolist(),
            "test_acc_mean": float(zoo.column("test_acc")[anchors].mean()),
            "chosen_by": anchor_metric(zoo),
        },
        "zero_shot_test_acc": {"mean": float(test.mean()), "std": float(test.std())},
        "novelty": {"mean": float(novelty.mean()), "min": float(novelty.min())},
    }
    source = {"format": "samples", "zoo": str(zoo.root), "method": config.method}
    return write_zoo(
        out,
        rows,
        name=f"{zoo.name}-{config.method}",
        source=source,
        arch=arch,
        extra={"dataset": zoo.manifest["dataset"], "evaluation": evaluation},
    )
