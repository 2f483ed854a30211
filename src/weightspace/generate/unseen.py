"""Networks of an architecture the hyper-representation never saw (SANE, ICML 2024, §5).

The procedure, step by step:

1. Tokenize the target architecture: positions and sequence length are the target's (an
   encoder fitted on several zoos reads any architecture at its token size).
2. Anchors ("prompt examples"): the latents of ``prompts`` real models of the target
   architecture, or, with ``prompts=0``, random latents z ~ N(0, 10²) of the target's length.
3. A Gaussian KDE per token position fitted on the anchors; draw ``candidates`` latents.
   (Our `KDESampler` standardizes each dimension first: its bandwidth, 0.2 by default as
   published, is in standard deviations of the anchors.)
4. Decode with haloed windows (`SANEAutoencoder.decode_latents`), de-normalize.
5. Load into the architecture; a classifier head whose size no training zoo had (another
   number of classes) is re-initialized (``new_head="auto"``); condition BatchNorm (forward
   passes without gradients).
6. Keep the ``keep`` best by validation accuracy; with ``rounds`` > 1, their latents are the
   anchors of the next round (SANE's bootstrapping).

`unseen_rounds` repeats the procedure over independent seeds (each draws its own prompt
models) and scores the kept samples, random initializations (plain, as published, and the best
of as many by validation accuracy: the samples' own selection) and the prompt models zero-shot
and after fine-tuning: a seed is the independent unit of every interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.errors import ConfigError
from weightspace.generate.networks import (
    accuracy,
    finetune_curves,
    random_networks,
    with_new_head,
)
from weightspace.generate.run import load_networks
from weightspace.generate.samplers import KDESampler
from weightspace.stats import Estimate, paired_estimate
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import encoder_split
from weightspace.zoo.datasets import Splits, load_dataset
from weightspace.zoo.reader import Zoo


@dataclass(frozen=True)
class UnseenConfig:
    """SANE's sampling of an unseen architecture (published values where there are any)."""

    prompts: int = 5  # real models of the target architecture encoded as anchors (0: random)
    candidates: int = 50  # latents drawn per round
    keep: int = 10  # the best by validation accuracy (published: 50 -> top 10)
    rounds: int = 1  # bootstrap rounds
    bandwidth: float = 0.2
    random_scale: float = 10.0  # z ~ N(0, scale^2) when there are no prompt models
    random_anchors: int = 10
    condition_steps: int = 200
    new_head: str = "auto"  # auto: when no training zoo had the head's size; always; never

    def __post_init__(self) -> None:
        for name, low in (("prompts", 0), ("candidates", 1), ("keep", 1), ("rounds", 1)):
            if getattr(self, name) < low:
                raise ConfigError(name, f"an integer >= {low}", getattr(self, name))
        if self.keep > self.candidates:
            raise ConfigError("keep", f"at most candidates ({self.candidates})", self.keep)
        if self.prompts == 1:
            raise ConfigError("prompts", "0 (random latents) or >= 2 (a KDE needs two)", 1)
        if not self.bandwidth > 0:
            raise ConfigError("bandwidth", "a number > 0", self.bandwidth)
        if self.new_head not in NEW_HEAD:
            raise ConfigError("new_head", f"one of {', '.join(NEW_HEAD)}", self.new_head)


NEW_HEAD = ("auto", "always", "never")


def head_seen(encoder, zoo: Zoo) -> bool:  # noqa: ANN001 - a fitted SANE
    """Whether a zoo the encoder was fitted on had a classifier head of ``zoo``'s size (its
    last tensor's output dimension); a one-zoo encoder's is the training zoo's."""
    pool = getattr(encoder, "pool_", None)
    specs = pool.specs if pool is not None else [encoder.tokenizer_.spec]
    size = zoo_spec(zoo).tensors[-1].shape[0]
    return any(spec.tensors[-1].shape[0] == size for spec in specs)


def prompt_rows(zoo: Zoo, encoder, n: int, seed: int) -> np.ndarray:  # noqa: ANN001
    """``n`` training-split models of ``zoo`` at its last checkpoint epoch, drawn by ``seed``."""
    rows = encoder_split(encoder, zoo).rows(zoo, "train")
    last = zoo.column("epoch")[rows].max()
    rows = rows[zoo.column("epoch")[rows] == last]
    if len(rows) < n:
        raise ConfigError("prompts", f"at most the {len(rows)} training models of {zoo.name}", n)
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def sample_architecture(
    encoder,  # noqa: ANN001 - a fitted SANE
    zoo: Zoo,
    config: UnseenConfig,
    splits: Splits,
    seed: int = 0,
    prompts: np.ndarray | None = None,
) -> tuple[list[torch.nn.Module], np.ndarray]:
    """The ``keep`` best sampled networks of ``zoo``'s architecture and their validation
    accuracies (steps 1-6 above). ``prompts``: rows of ``zoo`` to encode as anchors."""
    arch = zoo.arch(0)
    rng = np.random.default_rng(seed)
    if prompts is not None and len(prompts):
        anchors = encoder.latents(zoo, prompts)  # (k, n, latent)
    else:
        n = encoder._codec(zoo)[0].num_tokens
        shape = (config.random_anchors, n, encoder.model_config_.latent)
        anchors = rng.normal(0.0, config.random_scale, shape)
    sampler = KDESampler(config.bandwidth, per_token=True)
    new_head = config.new_head == "always" or (
        config.new_head == "auto" and not head_seen(encoder, zoo)
    )
    for _ in range(config.rounds):
        drawn = sampler.sample(anchors, config.candidates, int(rng.integers(2**31)))
        flats = encoder.decode(drawn, zoo)
        nets = load_networks(arch, zoo, flats, splits, config.condition_steps)
        if new_head:  # decoded weights of a head no zoo had say nothing: start it afresh
            nets = with_new_head(nets, seed)
        val = np.array([accuracy(net, splits.val_x, splits.val_y) for net in nets])
        best = np.argsort(-val, kind="stable")[: config.keep]
        anchors = drawn[best]
    return [nets[i] for i in best], val[best]


def best_random(zoo: Zoo, config: UnseenConfig, splits: Splits, seed: int) -> list:
    """The ``keep`` best of ``candidates`` random initializations by validation accuracy."""
    nets = random_networks(zoo.arch(0), config.candidates, seed=seed)
    val = np.array([accuracy(net, splits.val_x, splits.val_y) for net in nets])
    return [nets[i] for i in np.argsort(-val, kind="stable")[: config.keep]]


@dataclass
class UnseenResult:
    """Per seed (the independent unit): mean test accuracy of each kind of network after
    0, 1, ... fine-tuning epochs."""

    zoo: str
    curves: dict[str, np.ndarray]  # kind -> (seeds, epochs + 1)

    def estimate(self, a: str, b: str, epoch: int) -> Estimate:
        """``a`` - ``b`` after ``epoch`` fine-tuning epochs, paired by seed."""
        return paired_estimate(self.curves[a][:, epoch], self.curves[b][:, epoch], "seed")


def unseen_rounds(
    encoder,  # noqa: ANN001 - a fitted SANE
    zoo: Zoo,
    config: UnseenConfig = UnseenConfig(),
    seeds: Sequence[int] = range(8),
    epochs: int = 5,
) -> UnseenResult:
    """Sampled (best ``keep``), random-init and prompt networks of ``zoo``'s architecture,
    fine-tuned for ``epochs`` on the zoo's dataset, once per seed."""
    splits = load_dataset(zoo.dataset)
    curves: dict[str, list[np.ndarray]] = {}
    for seed in seeds:
        rows = prompt_rows(zoo, encoder, config.prompts, seed) if config.prompts else None
        sampled, _ = sample_architecture(encoder, zoo, config, splits, seed, rows)
        nets = {
            "sampled": sampled,
            "random": random_networks(zoo.arch(0), config.keep, seed=1000 + seed),
            # the same selection as the samples get: a baseline that is not handicapped
            "random, best by val": best_random(zoo, config, splits, 2000 + seed),
        }
        if rows is not None:
            nets["prompts"] = load_networks(
                zoo.arch(0), zoo, zoo.flat(rows), splits, config.condition_steps
            )
        for kind, group in nets.items():
            curves.setdefault(kind, []).append(finetune_curves(group, splits, epochs).mean(0))
    return UnseenResult(zoo.name, {k: np.stack(v) for k, v in curves.items() if v})
