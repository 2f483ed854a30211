"""Dormand-Prince 5(4) with a step size per trajectory, over a continuously refilled batch.

Every trajectory advances with its own step size and time. One that has synchronised (t >= t_min
and max_j |omega_j| <= tol) or reached t_max leaves the batch, and waiting trajectories take its
place, so the batch stays full while the slow, non-returning trajectories run to t_max. Each row's
arithmetic depends only on that row, so a trajectory's result does not depend on which others
share its batch (resume and distributed runs give identical numbers).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.powergrid.config import SimulationConfig
from weightspace.powergrid.dynamics import GridTensors, LinePlan, column_rhs, grid_lines, line_plan

# Dormand & Prince (1980) RK5(4)7M: stage coefficients, 5th-order weights, error weights
_A = (
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


@dataclass
class TrajectoryResult:
    """Per trajectory, in input order. ``evaluations`` counts right-hand sides x rows."""

    returned: np.ndarray  # (T,) bool: max |omega| < tol at the final time
    survived: np.ndarray  # (T,) bool: max |omega| never above the survival threshold
    t_final: np.ndarray  # (T,)
    max_omega: np.ndarray  # (T,) largest max_j |omega_j| over the accepted steps
    final_state: np.ndarray  # (T, 2N) [theta (wrapped to [-pi, pi)) | omega]
    steps: np.ndarray  # (T,) accepted steps
    evaluations: int


@dataclass
class _Batch:
    """The trajectories being integrated, one column each, columns sorted by grid."""

    rows: torch.Tensor  # (B,) index into the trajectories
    grid: torch.Tensor  # (B,) grid of each column (non-decreasing)
    y: torch.Tensor  # (2N, B)
    k1: torch.Tensor  # (2N, B) derivative at y (first-same-as-last)
    t: torch.Tensor  # (B,)
    dt: torch.Tensor  # (B,)
    peak: torch.Tensor  # (B,)
    steps: torch.Tensor  # (B,)
    live: torch.Tensor  # (B,) False once finished (its result is recorded; dropped later)
    power: torch.Tensor  # (N, B)

    def select(self, keep: torch.Tensor) -> _Batch:
        return _Batch(*(getattr(self, f)[..., keep] for f in self.__dataclass_fields__))

    def extend(self, other: _Batch) -> _Batch:
        fields = self.__dataclass_fields__
        return _Batch(*(torch.cat([getattr(self, f), getattr(other, f)], -1) for f in fields))


def _wrap(y: torch.Tensor, n: int) -> torch.Tensor:
    """Phases to [-pi, pi): the dynamics are 2 pi periodic in every phase."""
    y[:n] = torch.remainder(y[:n] + math.pi, 2 * math.pi) - math.pi
    return y


def _start(grids: GridTensors, lines, grid_index, y0, rows, damping: float, dt0: float) -> _Batch:
    g = grid_index[rows]
    power = grids.power[g].T.contiguous()
    n = power.shape[0]
    y = _wrap(y0[rows].T.contiguous(), n)
    k1 = column_rhs(y, power, line_plan(g, grids, lines, MIN_SEGMENT), damping)
    zeros = torch.zeros(len(rows), dtype=y.dtype, device=y.device)
    peak = y[n:].abs().amax(0)
    steps = torch.zeros(len(rows), dtype=torch.long, device=y.device)
    live = torch.ones(len(rows), dtype=torch.bool, device=y.device)
    return _Batch(rows, g, y, k1, zeros, zeros + dt0, peak, steps, live, power)


def _step(b: _Batch, plan: LinePlan, damping: float, rtol: float, atol: float):
    """One attempted RK5(4) step of every column; returns (accepted, new y, k7, factor).

    The stages live in one (7, 2N, B) buffer, so each stage's combination of the previous
    ones is a single matrix-vector product (one pass over memory) instead of a chain of adds.
    """
    h = b.dt  # (B,): broadcasts along the columns of (2N, B)
    ks = torch.empty((len(_A) + 1, *b.y.shape), dtype=b.y.dtype, device=b.y.device)
    flat = ks.view(len(ks), -1)
    ks[0] = b.k1
    for i, coeffs in enumerate(_A, start=1):
        incr = torch.mv(flat[:i].T, _coefficients(coeffs, b.y)).view(b.y.shape)
        y_stage = torch.addcmul(b.y, h, incr)
        column_rhs(y_stage, b.power, plan, damping, out=ks[i])
    y_new = y_stage  # the last stage is the 5th-order solution (FSAL)
    err = torch.mv(flat.T, _coefficients(_E, b.y)).view(b.y.shape)
    scale = torch.maximum(b.y.abs(), y_new.abs()).mul_(rtol).add_(atol)
    norm = (err.mul_(h).div_(scale)).square_().mean(0).sqrt_()  # (B,)
    accepted = norm <= 1.0
    factor = (0.9 * norm.clamp_min(1e-10) ** -0.2).clamp(0.2, 5.0)
    factor = torch.where(accepted, factor, factor.clamp_max(1.0))
    return accepted, y_new, ks[-1], factor


_COEFFICIENTS: dict = {}


def _coefficients(values: tuple, like: torch.Tensor) -> torch.Tensor:
    key = (values, like.dtype, like.device)
    if key not in _COEFFICIENTS:
        _COEFFICIENTS[key] = torch.tensor(values, dtype=like.dtype, device=like.device)
    return _COEFFICIENTS[key]


def _keep_freed_memory() -> None:
    """Stop glibc from returning every freed large tensor to the OS.

    Each RK stage allocates megabyte tensors; by default glibc serves those by mmap and unmaps
    them on free, so every allocation page-faults its memory in again (measured: 3x slower steps).
    Raising the mmap and trim thresholds keeps the memory in the heap for reuse. Linux/glibc only.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: its maximum, 32 MiB
    libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD


_MALLOC_TUNED = False
# a grid with this many columns in the batch gets its own segment (shared line index)
MIN_SEGMENT = 256


def integrate(
    grids: GridTensors,
    grid_index: torch.Tensor,
    y0: torch.Tensor,
    config: SimulationConfig,
    progress: Callable[[int], None] | None = None,
) -> TrajectoryResult:
    """Integrate trajectories ``y0`` (T, 2N) of grids ``grid_index`` (T,) until they stop.

    A trajectory stops once t >= t_min and max |omega| <= sync_tolerance, or at t_max.
    Runs on ``config.threads`` CPU threads: the tensors are small, and OpenMP barriers stall
    badly on a busy machine (measured 12x slower with 2 threads on 2 shared cores).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _integrate(grids, grid_index, y0, config, progress)
    finally:
        torch.set_num_threads(threads)


def _integrate(grids, grid_index, y0, config, progress) -> TrajectoryResult:
    total, n = y0.shape[0], y0.shape[1] // 2
    device = y0.device
    if device.type == "cpu":
        _keep_freed_memory()
    lines = grid_lines(grids)
    # queue in grid order: every batch is then sorted by grid (finished columns leave in
    # order, new ones are appended), so each grid's columns form one segment
    queue = torch.argsort(grid_index.cpu(), stable=True).to(device)
    out_state = torch.empty_like(y0)
    out_t = torch.empty(total, dtype=y0.dtype, device=device)
    out_peak, out_steps = torch.empty_like(out_t), torch.empty(total, dtype=torch.long)
    evaluations, queued, finished = 0, 0, 0
    batch: _Batch | None = None
    plan = LinePlan([], None)
    while finished < total:
        space = config.batch_size - (0 if batch is None else len(batch.rows))
        if queued < total and (batch is None or space >= config.batch_size // 8):
            rows = queue[queued : queued + space]
            new = _start(grids, lines, grid_index, y0, rows, config.damping, 0.01)
            batch = new if batch is None else batch.extend(new)
            plan = line_plan(batch.grid, grids, lines, MIN_SEGMENT)
            queued += len(rows)
            evaluations += len(rows)
        assert batch is not None
        accepted, y_new, k7, factor = _step(batch, plan, config.damping, config.rtol, config.atol)
        evaluations += 6 * len(batch.rows)
        batch.y = torch.where(accepted, _wrap(y_new, n), batch.y)
        batch.k1 = torch.where(accepted, k7, batch.k1)
        batch.t = torch.where(accepted, batch.t + batch.dt, batch.t)
        batch.steps += accepted
        omega_max = batch.y[n:].abs().amax(0)
        batch.peak = torch.maximum(batch.peak, omega_max)
        batch.dt = torch.minimum(batch.dt * factor, config.t_max - batch.t)
        done = batch.live & accepted
        done &= ((batch.t >= config.t_min) & (omega_max <= config.sync_tolerance)) | (
            batch.t >= config.t_max * (1 - 1e-12)
        )
        count = int(done.sum())
        if count:
            rows = batch.rows[done]
            out_state[rows], out_t[rows] = batch.y[:, done].T, batch.t[done]
            out_peak[rows], out_steps[rows] = batch.peak[done], batch.steps[done].cpu()
            batch.live &= ~done
            finished += count
            if progress is not None:
                progress(count)
        # finished columns keep stepping (harmlessly) until 1/32 of the batch is
        # finished: dropping columns copies the whole batch, so not every step
        dead = len(batch.rows) - int(batch.live.sum()) if count else 0
        if count and (dead * 32 >= len(batch.rows) or finished == total):
            batch = batch.select(batch.live)
            plan = line_plan(batch.grid, grids, lines, MIN_SEGMENT)
    state = out_state.cpu().numpy()
    final_omega = np.abs(state[:, n:]).max(1)
    peak = out_peak.cpu().numpy()
    return TrajectoryResult(
        returned=final_omega < config.sync_tolerance,
        survived=peak <= config.survival_threshold,
        t_final=out_t.cpu().numpy(),
        max_omega=peak,
        final_state=state,
        steps=out_steps.numpy(),
        evaluations=evaluations,
    )
