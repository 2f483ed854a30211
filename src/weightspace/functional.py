"""The functional population core: N networks of one structure as one flat (N, P) parameter
tensor plus stacked buffers, called all at once with ``torch.func``.

Every room that treats a population of networks as data runs on these pieces: the zoo's
population trainer (`weightspace.zoo.population`), the landscape metrics of the model
diagnosis (`weightspace.diagnose`), checkpoint evaluation (`weightspace.zoo.evaluate`), the
sparsified twins' predictions and per-model reference (`weightspace.sparsify`) and the
behavioural loss (`weightspace.models.losses`).

- `ParamLayout`: the order, shapes and sizes of a network's parameters in a flat vector;
  ``flatten`` / ``unflatten`` between ``{name: (..., *shape)}`` and ``(..., P)``.
- `stacked_logits`: the outputs (N, B, K) of N networks from stacked state tensors, on one
  shared batch or on a batch per network, chunked over images.
- `loss_and_correct`: summed cross-entropy and correct counts (N,) from such outputs.
- `FlatModels`: a template, the flat parameters and buffers, with logits, scores, one model's
  call (for `torch.func.grad`/`jvp`), sub-populations and state dicts.

Buffers (BatchNorm statistics, dropout keys) travel stacked beside the parameters and are
passed to ``functional_call`` with them, so a network with buffers works the same in every
room.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap


@dataclass(frozen=True)
class ParamLayout:
    """Where each named parameter sits in a flat vector: ``names`` in order, their ``shapes``
    and ``sizes`` (elements).

    Example:
        >>> layout = ParamLayout.of(net)
        >>> flat = layout.flatten(dict(net.named_parameters()))  # (P,)
        >>> layout.unflatten(flat)["0.weight"].shape == net[0].weight.shape
        True
    """

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]

    @classmethod
    def of(cls, module: nn.Module) -> ParamLayout:
        """The layout of ``module.named_parameters()`` (a meta-device module works too)."""
        named = list(module.named_parameters())
        return cls(tuple(k for k, _ in named), tuple(p.shape for _, p in named))

    @property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def size(self) -> int:
        """P, the length of the flat vector."""
        return sum(self.sizes)

    def flatten(self, named: Mapping[str, torch.Tensor], lead: int = 0) -> torch.Tensor:
        """``{name: (*lead dims, *shape)}`` -> ``(*lead dims, P)``; ``lead`` leading dims
        (0: one network, 1: a stack of them). Keys that are not parameters are ignored."""
        first = named[self.names[0]]
        batch = first.shape[:lead]
        return torch.cat([named[k].reshape(*batch, -1) for k in self.names], -1)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(..., P)`` -> ``{name: (..., *shape)}`` (views of ``flat``, differentiable)."""
        lead = flat.shape[:-1]
        chunks = torch.split(flat, self.sizes, dim=-1)
        return {
            k: c.reshape(*lead, *s) for k, c, s in zip(self.names, chunks, self.shapes, strict=True)
        }


def stacked_logits(
    template: nn.Module,
    state: Mapping[str, torch.Tensor] | tuple[Mapping[str, torch.Tensor], ...],
    x: torch.Tensor,
    shared: bool = True,
    chunk: int | None = None,
    randomness: str = "error",
) -> torch.Tensor:
    """Outputs (N, B, K) of N networks shaped like ``template``, whose stacked tensors
    ``state`` (``{name: (N, *shape)}``, or a (parameters, buffers) pair of such dicts) replace
    the template's. ``x`` is one batch (B, ...) for all networks with ``shared``, else a batch
    per network (N, B, ...). ``chunk`` images at a time (None: all at once)."""
    call = vmap(
        lambda s, xb: functional_call(template, s, (xb,)),
        in_dims=(0, None if shared else 0),
        randomness=randomness,
    )
    width = x.shape[0 if shared else 1]
    if chunk is None or chunk >= width:
        return call(state, x)
    parts = [
        call(state, x[i : i + chunk] if shared else x[:, i : i + chunk])
        for i in range(0, width, chunk)
    ]
    return torch.cat(parts, 1)


def loss_and_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy and number of correct top-1 predictions (N,) of outputs
    ``logits`` (N, B, K) against labels ``y`` (B,) shared by all networks or (N, B)."""
    n, b, k = logits.shape
    labels = y.expand(n, b) if y.dim() == 1 else y
    loss = F.cross_entropy(logits.reshape(n * b, k).float(), labels.reshape(-1), reduction="none")
    return loss.view(n, b).sum(1), (logits.argmax(-1) == labels).sum(1)


class FlatModels:
    """N networks sharing ``template``'s structure: ``flat`` (N, P) parameters in the order of
    ``layout`` and ``buffers`` ``{name: (N, *shape)}``.

    Example:
        >>> models = FlatModels.from_state_dicts(net, [net_a.state_dict(), net_b.state_dict()])
        >>> logits = models.logits(x)  # (N, B, K)
        >>> loss, accuracy = models.evaluate(x, y)  # (N,), (N,)
    """

    def __init__(
        self, template: nn.Module, flat: torch.Tensor, buffers: dict[str, torch.Tensor]
    ) -> None:
        self.template = template
        self.layout = ParamLayout.of(template)
        self.flat = flat  # (N, P)
        self.buffers = buffers  # {name: (N, *shape)}

    @classmethod
    def from_state_dicts(
        cls, template: nn.Module, states: list[Mapping[str, torch.Tensor]]
    ) -> FlatModels:
        """The networks of ``states`` (state dicts of ``template``'s structure)."""
        layout = ParamLayout.of(template)
        flat = torch.stack([layout.flatten(s).float() for s in states])  # (N, P)
        names = [k for k, _ in template.named_buffers()]
        buffers = {k: torch.stack([s[k] for s in states]) for k in names if k in states[0]}
        return cls(template, flat, buffers)

    def __len__(self) -> int:
        return self.flat.shape[0]

    @property
    def names(self) -> tuple[str, ...]:
        return self.layout.names

    @property
    def sizes(self) -> list[int]:
        return self.layout.sizes

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """(..., P) -> {name: (..., *shape)}."""
        return self.layout.unflatten(flat)

    def call(self, flat: torch.Tensor, buffers: Mapping[str, torch.Tensor], x: torch.Tensor):  # noqa: ANN201
        """One network's outputs (B, K) from its flat parameters (P,) and its buffers: the
        function to hand to ``torch.func.grad``, ``jvp`` or ``vmap``."""
        return functional_call(self.template, (self.unflatten(flat), buffers), (x,))

    def loss_fn(self, x: torch.Tensor, y: torch.Tensor) -> Callable:
        """``f(flat (P,), buffers) -> mean cross-entropy`` of one network on one fixed batch."""

        def loss(flat: torch.Tensor, buffers: Mapping[str, torch.Tensor]) -> torch.Tensor:
            return F.cross_entropy(self.call(flat, buffers, x), y)

        return loss

    def logits(
        self,
        x: torch.Tensor,
        flat: torch.Tensor | None = None,
        shared: bool = True,
        chunk: int | None = 512,
    ) -> torch.Tensor:
        """Outputs (N, B, K) on one batch x (B, ...) for all (``shared``) or one batch per
        network (N, B, ...); ``flat`` replaces the stored parameters (e.g. to differentiate)."""
        flat = self.flat if flat is None else flat
        state = (self.unflatten(flat), self.buffers)
        return stacked_logits(self.template, state, x, shared, chunk)

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, chunk: int = 512
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy and accuracy (N,) of every network on a shared split (x, y),
        ``chunk`` images at a time, in eval mode."""
        self.template.eval()
        loss = torch.zeros(len(self), device=self.flat.device)
        correct = torch.zeros(len(self), device=self.flat.device)
        for start in range(0, len(x), chunk):
            logits = self.logits(x[start : start + chunk], chunk=None)
            part_loss, part_correct = loss_and_correct(logits, y[start : start + chunk])
            loss += part_loss
            correct += part_correct
        return loss / len(x), correct / len(x)

    def select(self, rows: list[int] | torch.Tensor) -> FlatModels:
        """The sub-population of some networks (the same template)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        return FlatModels(
            self.template, self.flat[rows], {k: v[rows] for k, v in self.buffers.items()}
        )

    def state_dicts(self, persistent: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The current weights as stacked state-dict tensors (N, *shape): the parameters and
        the ``persistent`` buffers (default: all buffers)."""
        out = {k: v.detach().clone() for k, v in self.unflatten(self.flat).items()}
        keep = self.buffers if persistent is None else persistent
        out.update({k: self.buffers[k].clone() for k in keep})
        return out
