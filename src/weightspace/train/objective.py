"""The training objective: L = gamma * contrastive + (1 - gamma) * structure, where structure is
the reconstruction loss, or beta * reconstruction + (1 - beta) * behaviour with both divided by
their first-batch values (Schürholt et al. 2021, 2022, 2024; Meynent et al. 2025)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from weightspace.models.losses import BehaviourLoss, ReconstructionLoss, nt_xent
from weightspace.tokens.tokenizers import TokenBatch
from weightspace.train.distributed import reduction_device


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` over data-parallel workers, keeping gradients (identity when alone)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    # deprecated in favour of private functional collectives, whose backward needs a
    # reduce-scatter that gloo lacks; this one sums gradients with all-to-all on any backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x))


def mean_over_workers(value: float) -> float:
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=reduction_device())
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


@dataclass
class Objective:
    reconstruction: ReconstructionLoss
    num_tokens: int  # tokens per whole model, for the window scale of the reconstruction loss
    gamma: float = 0.05
    temperature: float = 0.1
    behaviour: BehaviourLoss | None = None
    beta: float = 0.1
    first: dict[str, float] = field(default_factory=dict)  # first-batch values, for resuming

    def __call__(
        self,
        model: nn.Module,
        views: tuple[TokenBatch, TokenBatch],
        group: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``target``: the original networks' outputs on the queries (behavioural loss only)."""
        a, b = views
        tokens = torch.cat([a.tokens, b.tokens])  # (2B, K, T)
        positions = torch.cat([a.positions, b.positions])
        mask = torch.cat([a.mask, b.mask])
        pad_a, pad_b = a.padding(), b.padding()  # pooled batches: models shorter than the window
        padding = None if pad_a is None else torch.cat([pad_a, pad_b])
        extra = () if padding is None else (padding,)  # HyperRep reads whole, unpadded models
        _, recon, projection = model(tokens, positions, *extra)
        rec = self.reconstruction(recon, tokens, mask, positions, self.num_tokens)
        n = len(a)
        con = nt_xent(gather(projection[:n]), gather(projection[n:]), self.temperature)
        parts = {"reconstruction": rec.item(), "contrastive": con.item()}
        structure = rec
        if self.behaviour is not None:
            beh = self.behaviour(recon[:n], target, group)
            parts["behaviour"] = beh.item()
            if not self.first:
                self.first = {
                    "reconstruction": mean_over_workers(rec.item()),
                    "behaviour": mean_over_workers(beh.item()),
                }
            structure = (
                self.beta * rec / self.first["reconstruction"]
                + (1 - self.beta) * beh / self.first["behaviour"]
            )
        loss = self.gamma * con + (1 - self.gamma) * structure
        parts["loss"] = loss.item()
        return loss, parts
