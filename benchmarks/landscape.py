"""Landscape metrics of N models: batched with torch.func vs a per-model loop, in one run.

Trains a small digits zoo of cnn-w models (N seeds of one configuration), then computes the
Hessian trace and top eigenvalue (fixed batch of 200 training samples) and the seeds' CKA both
ways, checks that the two agree, and prints the time per model and ``speedup: <ratio>x``.
Then times mode connectivity per seed pair: the trained Bézier curve and the straight line.

    python benchmarks/landscape.py [--models 16] [--width 8] [--hessian-iters 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from weightspace.diagnose import MetricsConfig, Stack
from weightspace.diagnose.cka import mixup_inputs, seed_cka
from weightspace.diagnose.connectivity import CurveConfig, mode_connectivity
from weightspace.diagnose.grid import DiagnosisGridConfig
from weightspace.diagnose.metrics import final_rows, model_metrics
from weightspace.zoo import build_model, create_zoo, load_dataset


def _timed(fn):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--hessian-iters", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=2, help="seed pairs timed for connectivity")
    args = parser.parse_args()
    grid = DiagnosisGridConfig(seeds=args.models, epochs=3)
    with tempfile.TemporaryDirectory() as tmp:
        zoo = create_zoo(grid.cell_config(args.width, 32, 1.0), tmp, progress=False)
        rows = final_rows(zoo)
        splits = load_dataset(zoo.config.dataset)
        stack = Stack.from_state_dicts(build_model(zoo.arch(int(rows[0]))), zoo.state_dicts(rows))
    n = len(stack)
    ids = list(range(n))
    print(
        f"{n} x cnn-w (width {args.width}, {stack.flat.shape[1]} parameters) on digits, "
        f"{torch.get_num_threads()} threads, Hessian <= {args.hessian_iters} iterations"
    )
    timings = {}
    results = {}
    for batched in (True, False):
        config = MetricsConfig(hessian_iters=args.hessian_iters, batched=batched)
        results[batched], timings[batched] = _timed(
            lambda config=config: model_metrics(stack, splits, config, ids)
        )
    for key in ("trace", "eigenvalue"):
        diff = np.abs(results[True][key] - results[False][key]) / np.abs(results[False][key])
        print(f"  {key:<10} batched vs loop: max relative difference {diff.max():.1e}")
    speedup = timings[False] / timings[True]
    print(
        f"Hessian + losses: batched {timings[True] / n:.3f} s/model, "
        f"loop {timings[False] / n:.3f} s/model, speedup: {speedup:.1f}x"
    )

    x = mixup_inputs(splits.train_x[:200], 0)
    pairs = [[i, i + 1] for i in range(0, n - 1, 2)]
    batched_cka, t_batched = _timed(lambda: seed_cka(stack, pairs, x))
    loop_cka, t_loop = _timed(lambda: [seed_cka(stack.select(p), [[0, 1]], x)[0] for p in pairs])
    print(f"CKA of {len(pairs)} seed pairs: batched {t_batched / n * 1e3:.2f} ms/model, loop "
          f"{t_loop / n * 1e3:.2f} ms/model, speedup: {t_loop / t_batched:.1f}x, max difference "
          f"{np.abs(np.array(batched_cka) - np.array(loop_cka)).max():.1e}")  # fmt: skip

    for kind in ("bezier", "line"):
        curve = CurveConfig(kind=kind)
        scores, seconds = _timed(lambda curve=curve: [
            mode_connectivity(stack, stack.flat[a], stack.flat[b], splits.train_x,
                              splits.train_y, curve) for a, b in pairs[: args.pairs]
        ])  # fmt: skip
        peaks = ", ".join(f"{peak:.1f}" for _, peak in scores)
        print(f"mode connectivity ({kind}, {curve.epochs if kind == 'bezier' else 0} epochs): "
              f"{seconds / len(scores):.2f} s per pair; peaks {peaks}")  # fmt: skip


if __name__ == "__main__":
    main()
