"""Dormand-Prince 5(4) with a step size per trajectory, over a continuously refilled batch.

Every trajectory advances with its own step size and time. One that has synchronised (see
`StopRule`: by the published rule, t >= t_min and max_j |omega_j| <= tol at an accepted step) or
reached t_max leaves the batch, and waiting trajectories take its place, so the batch stays
full while the slow, non-returning trajectories run to t_max. Each row's arithmetic depends
only on that row in exact arithmetic, but not bit for bit: with another batch size or batch
company a row can round differently (measured: one trajectory of grid (1, 2), node 0, draw 44
took 5,430 accepted steps in a batch of 50 and 5,418 in batches of 7, ending at max|omega| 4.7
and 6.9), and a chaotic transient near a basin boundary amplifies that into another outcome.
Over short horizons the results agree (tests: batch sizes 6 and 2,048 to t = 15). Resume and
distributed runs give identical numbers because a shard always holds the same trajectories.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.errors import ConfigError, check_choice
from weightspace.powergrid.config import STOP_NAMES, SimulationConfig
from weightspace.powergrid.dynamics import GridTensors, swing_rhs

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


@dataclass(frozen=True)
class StopRule:
    """When a trajectory may end before t_max.

    ``published`` (Nauck et al. 2022, 2023): at the first accepted step with t >= t_min and
    max_j |omega_j| <= tol. That can end a trajectory at a turning point, where every frequency
    passes near zero at once while the phases are still far from the fixed point (measured: 1 of
    10,000 perturbations of 20-node grids, a slow returner counted returned at t = 494 that is
    still above the tolerance at t_max = 500). ``dwell``, the default: the condition must hold
    at every accepted step over a window of ``dwell`` time units (5) before the trajectory
    stops; it gives that perturbation its t_max label. ``phase``: besides the published condition,
    every line's phase difference theta_s - theta_t must lie within ``phase`` rad (0.1) of its
    value at the grid's stable fixed point, so a trajectory that is calm near a saddle or at a
    turning point far from the fixed point runs on (one that settles at another fixed point
    runs to t_max and is labelled there). ``none``: every trajectory runs to t_max.
    """

    dwell: float = 0.0  # time the sync condition must hold without a break
    early: bool = True  # False: no early stop at all
    phase: float | None = None  # largest line phase deviation from the fixed point (rad)

    def __post_init__(self) -> None:
        if not self.dwell >= 0 or math.isinf(self.dwell):
            raise ConfigError("stop dwell", "a finite time >= 0", self.dwell)
        if self.phase is not None and not 0 < self.phase < math.pi:
            raise ConfigError("stop phase", "an angle in (0, pi) rad", self.phase)


STOP_RULES = {
    "published": StopRule(),
    "dwell": StopRule(dwell=5.0),
    "phase": StopRule(phase=0.1),
    "none": StopRule(early=False),
}


DEFAULT_STOP = SimulationConfig().stop  # datasets record their rule in SimulationConfig.stop
assert set(STOP_RULES) == set(STOP_NAMES)


def stop_rule(stop: str | StopRule | None, config: SimulationConfig | None = None) -> StopRule:
    """A `StopRule` from a name of `STOP_RULES` (or the rule itself); ``None``: the ``stop``
    setting of ``config`` where it has one, else `DEFAULT_STOP`."""
    if stop is None:
        stop = getattr(config, "stop", None) or DEFAULT_STOP
    if isinstance(stop, StopRule):
        return stop
    check_choice("stop", stop, tuple(STOP_RULES))
    return STOP_RULES[stop]


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
    rows: torch.Tensor  # (B,) index into the trajectories
    y: torch.Tensor  # (B, 2N)
    k1: torch.Tensor  # (B, 2N) derivative at y (first-same-as-last)
    t: torch.Tensor  # (B,)
    dt: torch.Tensor  # (B,)
    peak: torch.Tensor  # (B,)
    steps: torch.Tensor  # (B,)
    since: torch.Tensor  # (B,) time the sync condition has held since (inf: it does not hold)
    power: torch.Tensor  # (B, N)
    src: torch.Tensor  # (B, E)
    dst: torch.Tensor  # (B, E)
    weight: torch.Tensor  # (B, E)
    line_ref: torch.Tensor  # (B, E) theta*_src - theta*_dst at the fixed point (0 on padding)

    def select(self, keep: torch.Tensor) -> _Batch:
        return _Batch(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    def extend(self, other: _Batch) -> _Batch:
        return _Batch(
            *(torch.cat([getattr(self, f), getattr(other, f)]) for f in self.__dataclass_fields__)
        )


def _wrap(y: torch.Tensor, n: int) -> torch.Tensor:
    """Phases to [-pi, pi): the dynamics are 2 pi periodic in every phase."""
    y[:, :n] = torch.remainder(y[:, :n] + math.pi, 2 * math.pi) - math.pi
    return y


def _start(grids: GridTensors, grid_index, y0, rows, damping: float, dt0: float) -> _Batch:
    g = grid_index[rows]
    power, src, dst, weight = grids.power[g], grids.src[g], grids.dst[g], grids.weight[g]
    y = _wrap(y0[rows].clone(), power.shape[1])
    k1 = swing_rhs(y, power, src, dst, weight, damping)
    n = power.shape[1]
    zeros = torch.zeros(len(rows), dtype=y.dtype, device=y.device)
    peak = y[:, n:].abs().amax(1)
    steps = torch.zeros(len(rows), dtype=torch.long, device=y.device)
    since = zeros + math.inf
    ref = grids.theta[g]
    line_ref = ref.gather(1, src) - ref.gather(1, dst)
    return _Batch(
        rows, y, k1, zeros, zeros + dt0, peak, steps, since, power, src, dst, weight, line_ref
    )


def _step(b: _Batch, damping: float, rtol: float, atol: float):
    """One attempted RK5(4) step of every row; returns (accepted, new y, k7)."""
    f = lambda y: swing_rhs(y, b.power, b.src, b.dst, b.weight, damping)  # noqa: E731
    h = b.dt[:, None]
    ks = [b.k1]
    for coeffs in _A:
        incr = ks[0] * coeffs[0]
        for c, k in zip(coeffs[1:], ks[1:], strict=True):
            if c:
                incr.add_(k, alpha=c)
        y_stage = torch.addcmul(b.y, h, incr)
        ks.append(f(y_stage))
    y_new = y_stage  # the last stage is the 5th-order solution (FSAL)
    err = ks[0] * _E[0]
    for c, k in zip(_E[1:], ks[1:], strict=True):
        if c:
            err.add_(k, alpha=c)
    scale = torch.maximum(b.y.abs(), y_new.abs()).mul_(rtol).add_(atol)
    norm = (err.mul_(h).div_(scale)).square_().mean(1).sqrt_()  # (B,)
    accepted = norm <= 1.0
    factor = (0.9 * norm.clamp_min(1e-10) ** -0.2).clamp(0.2, 5.0)
    factor = torch.where(accepted, factor, factor.clamp_max(1.0))
    return accepted, y_new, ks[-1], factor


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


def integrate(
    grids: GridTensors,
    grid_index: torch.Tensor,
    y0: torch.Tensor,
    config: SimulationConfig,
    progress: Callable[[int], None] | None = None,
    stop: str | StopRule | None = None,
) -> TrajectoryResult:
    """Integrate trajectories ``y0`` (T, 2N) of grids ``grid_index`` (T,) until they stop.

    A trajectory stops at t_max, or before by ``stop`` (a `StopRule` or a name of `STOP_RULES`;
    ``published``: once t >= t_min and max |omega| <= sync_tolerance). ``None``: the config's
    ``stop`` setting where it has one, else `DEFAULT_STOP` (``dwell``).
    Runs on ``config.threads`` CPU threads: the tensors are small, and OpenMP barriers stall
    badly on a busy machine (measured 12x slower with 2 threads on 2 shared cores).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _integrate(grids, grid_index, y0, config, progress, stop_rule(stop, config))
    finally:
        torch.set_num_threads(threads)


def _synchronised(b: _Batch, accepted, omega_max, config, rule: StopRule) -> torch.Tensor:
    """Rows whose stop rule holds after this step; updates ``b.since``."""
    if not rule.early:
        return torch.zeros_like(accepted)
    holds = (b.t >= config.t_min) & (omega_max <= config.sync_tolerance)
    if rule.phase is not None:
        n = b.power.shape[1]
        theta = b.y[:, :n]
        drift = theta.gather(1, b.src) - theta.gather(1, b.dst) - b.line_ref
        drift = torch.remainder(drift + math.pi, 2 * math.pi) - math.pi
        holds &= drift.abs().amax(1) <= rule.phase
    since = torch.where(holds, torch.minimum(b.since, b.t), math.inf)
    b.since = torch.where(accepted, since, b.since)
    return holds & (b.t - b.since >= rule.dwell)


def _integrate(grids, grid_index, y0, config, progress, rule: StopRule) -> TrajectoryResult:
    total, n = y0.shape[0], y0.shape[1] // 2
    device = y0.device
    if device.type == "cpu":
        _keep_freed_memory()
    out_state = torch.empty_like(y0)
    out_t = torch.empty(total, dtype=y0.dtype, device=device)
    out_peak, out_steps = torch.empty_like(out_t), torch.empty(total, dtype=torch.long)
    evaluations, queued = 0, 0
    batch: _Batch | None = None
    while queued < total or (batch is not None and len(batch.rows)):
        space = config.batch_size - (0 if batch is None else len(batch.rows))
        if queued < total and (batch is None or space >= config.batch_size // 8):
            rows = torch.arange(queued, min(total, queued + space), device=device)
            new = _start(grids, grid_index, y0, rows, config.damping, 0.01)
            batch = new if batch is None else batch.extend(new)
            queued += len(rows)
            evaluations += len(rows)
        assert batch is not None
        accepted, y_new, k7, factor = _step(batch, config.damping, config.rtol, config.atol)
        evaluations += 6 * len(batch.rows)
        a = accepted[:, None]
        batch.y = torch.where(a, _wrap(y_new, n), batch.y)
        batch.k1 = torch.where(a, k7, batch.k1)
        batch.t = torch.where(accepted, batch.t + batch.dt, batch.t)
        batch.steps += accepted
        omega_max = batch.y[:, n:].abs().amax(1)
        batch.peak = torch.maximum(batch.peak, omega_max)
        batch.dt = torch.minimum(batch.dt * factor, config.t_max - batch.t)
        done = accepted & (
            _synchronised(batch, accepted, omega_max, config, rule)
            | (batch.t >= config.t_max * (1 - 1e-12))
        )
        if bool(done.any()):
            rows = batch.rows[done]
            out_state[rows], out_t[rows] = batch.y[done], batch.t[done]
            out_peak[rows], out_steps[rows] = batch.peak[done], batch.steps[done].cpu()
            batch = batch.select(~done)
            if progress is not None:
                progress(len(rows))
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
