"""Many models of one architecture as one flat (N, P) parameter tensor, called with torch.func.

Every landscape metric is a function of a flat parameter vector; `Stack` is the package's
`weightspace.functional.FlatModels` in eval mode, with the error in percent that the
diagnosis reads, so that one `vmap` evaluates, differentiates or Hessian-multiplies all N
models at once.
"""

from __future__ import annotations

import torch
from torch import nn

from weightspace.functional import FlatModels


class Stack(FlatModels):
    """N models sharing ``template``'s structure (in eval mode): ``flat`` (N, P) parameters,
    stacked buffers.

    Example:
        >>> stack = Stack.from_state_dicts(net, [net_a.state_dict(), net_b.state_dict()])
        >>> logits = stack.logits(x)  # (N, B, K)
    """

    def __init__(
        self, template: nn.Module, flat: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> None:
        super().__init__(template.eval(), flat, buffers)

    @torch.no_grad()
    def loss_and_error(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy (N,) and error in percent (N,) of every model on (x, y)."""
        loss, accuracy = self.evaluate(x, y)
        return loss, (1.0 - accuracy) * 100.0

    def select(self, rows: list[int] | torch.Tensor) -> Stack:
        """The sub-stack of some models."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return Stack(self.template, self.flat[rows], {k: v[rows] for k, v in self.buffers.items()})
