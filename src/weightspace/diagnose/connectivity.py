"""Mode connectivity between two seeds: a trained quadratic Bézier curve (Garipov et al. 2018).

θ(t) = (1−t)²θ₀ + 2t(1−t)θ_c + t²θ₁; only the bend θ_c is trained, with t drawn per batch, so
that the whole curve has low training loss. The training error along the curve then tells
whether the two solutions sit in one connected valley. ``kind="line"`` skips training (θ_c at
the midpoint: the straight line), a cheaper barrier that is a deviation from the published
metric.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.diagnose.config import CurveConfig
from weightspace.diagnose.stack import Stack

INTERIOR = (0.25, 0.5, 0.75)


def bezier(a: torch.Tensor, bend: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The point θ(t) (P,) of the quadratic Bézier curve from a (t=0) to b (t=1)."""
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * bend + t**2 * b


def train_bend(
    stack: Stack,
    a: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    config: CurveConfig,
    seed: int = 0,
) -> torch.Tensor:
    """The bend θ_c (P,) fitted by SGD on the curve's loss at a random t per batch."""
    bend = ((a + b) / 2).clone()
    if config.kind == "line" or config.epochs == 0:
        return bend
    gen = torch.Generator().manual_seed(seed)
    buffers = {k: v[0].clone() for k, v in stack.buffers.items()}
    velocity = torch.zeros_like(bend)
    stack.template.train()
    try:
        for _ in range(config.epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), config.batch_size):
                idx = order[start : start + config.batch_size]
                t = float(torch.rand((), generator=gen))
                bend.requires_grad_(True)
                point = bezier(a, bend, b, t)
                loss = F.cross_entropy(stack.call(point, buffers, x[idx]), y[idx])
                (g,) = torch.autograd.grad(loss, bend)
                with torch.no_grad():
                    velocity = config.momentum * velocity + g
                    bend = bend.detach() - config.lr * velocity
    finally:
        stack.template.eval()
    return bend.detach()


def _has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@torch.no_grad()
def _recalibrate(net: nn.Module, x: torch.Tensor, batch_size: int = 256) -> None:
    """Recompute BatchNorm statistics for weights on the curve (the endpoints' are wrong there)."""
    saved = {}
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            saved[m] = m.momentum
            m.momentum = None  # cumulative average over the whole pass
    net.train()
    for start in range(0, len(x), batch_size):
        net(x[start : start + batch_size])
    for m, momentum in saved.items():
        m.momentum = momentum
    net.eval()


@torch.no_grad()
def curve_errors(
    stack: Stack,
    a: torch.Tensor,
    bend: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    points: tuple[float, ...] = (0.0, *INTERIOR, 1.0),
) -> list[float]:
    """Training error (%) at each point of the curve, BatchNorm recalibrated when present."""
    net = copy.deepcopy(stack.template)
    batchnorm = _has_batchnorm(net)
    errors = []
    for t in points:
        torch.nn.utils.vector_to_parameters(bezier(a, bend, b, t), net.parameters())
        if batchnorm:
            _recalibrate(net, x)
        net.eval()
        wrong = sum(
            int((net(x[i : i + 512]).argmax(-1) != y[i : i + 512]).sum())
            for i in range(0, len(x), 512)
        )
        errors.append(100.0 * wrong / len(x))
    return errors


def connectivity_scores(errors: list[float]) -> tuple[float, float]:
    """(mode_connectivity, mode_connectivity_peak) from errors at t = 0, .25, .5, .75, 1.

    peak = −max interior error; mode_connectivity = mean endpoint error minus the interior
    error that deviates most from that mean (negative: a barrier, positive: a valley).
    """
    ends = (errors[0] + errors[-1]) / 2
    inner = errors[1:-1]
    furthest = max(inner, key=lambda e: abs(e - ends))
    return ends - furthest, -max(inner)


def mode_connectivity(
    stack: Stack,
    a: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    config: CurveConfig,
    seed: int = 0,
) -> tuple[float, float]:
    """(mode_connectivity, mode_connectivity_peak) between models a and b (flat, (P,))."""
    bend = train_bend(stack, a, b, x, y, config, seed)
    return connectivity_scores(curve_errors(stack, a, bend, b, x, y))
