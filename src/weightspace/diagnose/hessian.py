"""Hessian trace (Hutchinson) and top eigenvalue (power iteration) from Hessian-vector products.

Both work on N models at once: one ``vmap`` of a forward-over-reverse Hessian-vector product
multiplies every model's Hessian by its own vector. Random vectors come from one generator per
model, so a model gets the same estimate alone or in any batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, jvp, vmap

from weightspace.diagnose.stack import Stack


def batched_hvp(stack: Stack, x: torch.Tensor, y: torch.Tensor) -> Callable:
    """``hvp(v (n, P), rows (n,)) -> H_i v_i (n, P)``: the training-loss Hessian on (x, y) of
    each model in ``rows`` times its vector; models that have converged are left out."""
    loss = stack.loss_fn(x, y)

    def one(flat: torch.Tensor, buffers: dict, v: torch.Tensor) -> torch.Tensor:
        return jvp(lambda p: grad(loss)(p, buffers), (flat,), (v,))[1]

    many = vmap(one, in_dims=(0, 0, 0))

    def hvp(v: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        buffers = {k: b[rows] for k, b in stack.buffers.items()}
        return many(stack.flat[rows], buffers, v)

    return hvp


def _generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def _draw(gens: list[torch.Generator], size: int, kind: str) -> torch.Tensor:
    if kind == "rademacher":
        rows = [torch.randint(0, 2, (size,), generator=g).float() * 2 - 1 for g in gens]
    else:
        rows = [torch.randn(size, generator=g) for g in gens]
    return torch.stack(rows)  # (N, P)


def hutchinson_trace(
    hvp: Callable,
    n_models: int,
    size: int,
    seeds: list[int],
    max_iter: int = 100,
    tol: float = 1e-3,
) -> torch.Tensor:
    """tr(H) (N,) as the running mean of vᵀHv over Rademacher v.

    A model stops once its running mean changes by less than ``tol`` relative to itself
    (PyHessian's rule); later products of the batch no longer enter its estimate.
    """
    gens = _generators(seeds)
    total = torch.zeros(n_models, dtype=torch.float64)
    count = torch.zeros(n_models, dtype=torch.float64)
    done = torch.zeros(n_models, dtype=torch.bool)
    for _ in range(max_iter):
        rows = torch.nonzero(~done).flatten()
        v = _draw([gens[i] for i in rows], size, "rademacher")  # (n, P)
        quad = (hvp(v, rows) * v).sum(1).double()  # (n,)
        before = total[rows] / count[rows].clamp(min=1)
        total[rows] += quad
        count[rows] += 1
        after = total[rows] / count[rows]
        converged = (count[rows] > 1) & ((after - before).abs() / (after.abs() + 1e-6) < tol)
        done[rows] = converged
        if bool(done.all()):
            break
    return (total / count).float()


def top_eigenvalue(
    hvp: Callable,
    n_models: int,
    size: int,
    seeds: list[int],
    max_iter: int = 100,
    tol: float = 1e-3,
) -> torch.Tensor:
    """The dominant Hessian eigenvalue (N,) by power iteration (Rayleigh quotient vᵀHv)."""
    gens = _generators(seeds)
    v = _draw(gens, size, "normal")
    v = v / v.norm(dim=1, keepdim=True)  # (N, P)
    value = torch.zeros(n_models)
    done = torch.zeros(n_models, dtype=torch.bool)
    for step in range(max_iter):
        rows = torch.nonzero(~done).flatten()
        hv = hvp(v[rows], rows)  # (n, P)
        new = (hv * v[rows]).sum(1)
        old = value[rows]
        value[rows] = new
        done[rows] = (step > 0) & ((new - old).abs() / (old.abs() + 1e-6) < tol)
        if bool(done.all()):
            break
        v[rows] = hv / hv.norm(dim=1, keepdim=True).clamp(min=1e-30)
    return value


def hessian_metrics(
    stack: Stack,
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: list[int],
    max_iter: int = 100,
    tol: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(trace (N,), top eigenvalue (N,)) of every model's training loss on the batch (x, y)."""
    hvp = batched_hvp(stack, x, y)
    n, size = stack.flat.shape
    trace = hutchinson_trace(hvp, n, size, seeds, max_iter, tol)
    eigen = top_eigenvalue(hvp, n, size, [s + 1 for s in seeds], max_iter, tol)
    return trace, eigen
