"""Many models of one architecture as one flat (N, P) parameter tensor, called with torch.func.

Every landscape metric is a function of a flat parameter vector; `Stack` turns a network and the
weights of N models into that form so that one `vmap` evaluates, differentiates or
Hessian-multiplies all N models at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap


class Stack:
    """N models sharing ``template``'s structure: ``flat`` (N, P) parameters, stacked buffers.

    Example:
        >>> stack = Stack.from_state_dicts(net, [net_a.state_dict(), net_b.state_dict()])
        >>> logits = stack.logits(x)  # (N, B, K)
    """

    def __init__(
        self, template: nn.Module, flat: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> None:
        self.template = template.eval()
        self.names = [name for name, _ in template.named_parameters()]
        self.shapes = [p.shape for _, p in template.named_parameters()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.flat = flat  # (N, P)
        self.buffers = buffers  # {name: (N, *shape)}

    @classmethod
    def from_state_dicts(cls, template: nn.Module, states: list[dict[str, torch.Tensor]]) -> Stack:
        names = [name for name, _ in template.named_parameters()]
        flat = torch.stack(
            [torch.cat([s[k].reshape(-1).float() for k in names]) for s in states]
        )  # (N, P)
        buffer_names = [name for name, _ in template.named_buffers()]
        buffers = {k: torch.stack([s[k] for s in states]) for k in buffer_names if k in states[0]}
        return cls(template, flat, buffers)

    def __len__(self) -> int:
        return self.flat.shape[0]

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """(..., P) -> {name: (..., *shape)}."""
        lead = flat.shape[:-1]
        chunks = torch.split(flat, self.sizes, dim=-1)
        return {
            k: c.reshape(*lead, *s) for k, c, s in zip(self.names, chunks, self.shapes, strict=True)
        }

    def call(self, flat: torch.Tensor, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        """One model's logits (B, K) from its flat parameters (P,)."""
        return functional_call(self.template, (self.unflatten(flat), buffers), (x,))

    def loss_fn(self, x: torch.Tensor, y: torch.Tensor) -> Callable:
        """``f(flat (P,), buffers) -> mean cross-entropy`` on one fixed batch."""

        def loss(flat: torch.Tensor, buffers: dict) -> torch.Tensor:
            return F.cross_entropy(self.call(flat, buffers, x), y)

        return loss

    @torch.no_grad()
    def logits(self, x: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        """Logits (N, B, K) of every model on shared inputs x (B, C, H, W)."""
        forward = vmap(self.call, in_dims=(0, 0, None))
        parts = [
            forward(self.flat, self.buffers, x[i : i + chunk]) for i in range(0, len(x), chunk)
        ]
        return torch.cat(parts, 1)

    @torch.no_grad()
    def loss_and_error(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy (N,) and error in percent (N,) of every model on (x, y)."""
        logits = self.logits(x)  # (N, B, K)
        n, b, k = logits.shape
        loss = F.cross_entropy(logits.reshape(n * b, k), y.repeat(n), reduction="none")
        error = (logits.argmax(-1) != y).float().mean(1) * 100.0
        return loss.view(n, b).mean(1), error

    def select(self, rows: list[int] | torch.Tensor) -> Stack:
        """The sub-stack of some models."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return Stack(self.template, self.flat[rows], {k: v[rows] for k, v in self.buffers.items()})
