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
from weightspace.zoo.names import OPTIMIZERS


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
        grad = grad.addcmul(params, self.weight_decay)  # L2 decay, as torch.optim does
        if bool(active.all()):  # the usual case: every model moves, all updates in place
            params.sub_(self._adam_(grad) if self.kind == "adam" else self._sgd_(grad))
            return
        keep = active.view(-1, 1)
        saved = [params.clone(), self.exp_avg.clone()]
        saved += [] if self.exp_avg_sq is None else [self.exp_avg_sq.clone()]
        params.sub_(self._adam_(grad) if self.kind == "adam" else self._sgd_(grad))
        state = [params, self.exp_avg] + ([] if self.exp_avg_sq is None else [self.exp_avg_sq])
        for now, before in zip(state, saved, strict=True):  # frozen models keep their state
            torch.where(keep, now, before, out=now)

    def _sgd_(self, grad: torch.Tensor) -> torch.Tensor:
        # torch.optim.SGD seeds the buffer with the first gradient; 0 * m + g is the same
        buf = self.exp_avg.mul_(self.settings.momentum).add_(grad)
        return buf * self.lr

    def _adam_(self, grad: torch.Tensor) -> torch.Tensor:
        beta1, beta2 = self.settings.betas
        m = self.exp_avg.lerp_(grad, 1 - beta1)
        v = self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias1 = 1 - beta1**self.steps
        bias2_sqrt = math.sqrt(1 - beta2**self.steps)
        denom = v.sqrt().div_(bias2_sqrt).add_(self.settings.eps)
        return torch.div(m, denom).mul_(self.lr / bias1)
