"""Optimizer updates on a whole population at once.

Parameters of N models live in one flat tensor (N, P); learning rate and weight decay are
per-model columns (N, 1). The updates follow `torch.optim.Adam` and `torch.optim.SGD`
(momentum, L2 weight decay added to the gradient) step for step, so a model trained in a
population matches the same model trained alone with `torch.optim`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from weightspace.errors import check_choice

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class OptimizerSettings:
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9  # SGD momentum of the published zoos


class PopulationOptimizer:
    """Adam or SGD with momentum over a (N, P) parameter tensor; one fused update per step.

    ``active`` (N,) bool masks models that must not move (diverged models stay frozen).
    """

    def __init__(
        self,
        kind: str,
        params: torch.Tensor,
        lr: torch.Tensor,
        weight_decay: torch.Tensor,
        settings: OptimizerSettings = OptimizerSettings(),
    ) -> None:
        check_choice("optimizer", kind, OPTIMIZERS)
        self.kind = kind
        self.lr = lr.view(-1, 1).to(params)  # (N, 1)
        self.weight_decay = weight_decay.view(-1, 1).to(params)  # (N, 1)
        self.settings = settings
        self.steps = 0
        self.exp_avg = torch.zeros_like(params)  # Adam m, or the SGD momentum buffer
        self.exp_avg_sq = torch.zeros_like(params) if kind == "adam" else None

    @torch.no_grad()
    def step(self, params: torch.Tensor, grad: torch.Tensor, active: torch.Tensor) -> None:
        """Update ``params`` (N, P) in place from ``grad`` (N, P) for the ``active`` models."""
        self.steps += 1
        keep = active.view(-1, 1)
        grad = grad.addcmul(params, self.weight_decay)  # L2 decay, as torch.optim does
        if self.kind == "adam":
            update = self._adam(grad, keep)
        else:
            momentum = self.settings.momentum
            # torch.optim.SGD seeds the buffer with the first gradient; 0 * m + g is the same
            buf = torch.where(keep, self.exp_avg * momentum + grad, self.exp_avg)
            self.exp_avg = buf
            update = buf * self.lr
        params.copy_(torch.where(keep, params - update, params))

    def _adam(self, grad: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        beta1, beta2 = self.settings.betas
        m = torch.where(keep, torch.lerp(self.exp_avg, grad, 1 - beta1), self.exp_avg)
        v = torch.where(keep, self.exp_avg_sq * beta2 + (1 - beta2) * grad * grad, self.exp_avg_sq)
        self.exp_avg, self.exp_avg_sq = m, v
        bias1 = 1 - beta1**self.steps
        bias2_sqrt = math.sqrt(1 - beta2**self.steps)
        denom = v.sqrt() / bias2_sqrt + self.settings.eps
        return (self.lr / bias1) * m / denom
