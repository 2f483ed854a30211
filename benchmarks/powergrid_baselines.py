"""Every SNBS baseline in one run: R^2 in-distribution (20-node test grids) and size transfer
(trained on 20-node grids, scored on every 100-node grid), with a table and a bar plot.

Every model is fitted on ``--seeds`` training seeds (default 3); printed and written: the mean over
seeds, with a 95 % bootstrap interval over seeds from 8 seeds on (fewer: the seed count, no
interval), and every seed's result (``per_seed``, ``test_units``, ``unit`` = "seed").

    python benchmarks/powergrid_baselines.py --data /work/data/powergrid/grids20 \
        --transfer /work/data/powergrid/grids100 --epochs 100 --out results/powergrid

Published reference points (Nauck et al. 2022/2023 and a third-party size-transfer study):
ARMA about 74-77 % R^2 in-distribution (7,000 training grids, M = 10,000); 20 -> 100:
TAG 66 %, ARMA 67 %, GCN 58 %, GraphSAGE 49 %, MLP on measures 46 %.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from weightspace.powergrid import (
    BASELINES,
    GridTrainConfig,
    compare_baselines,
    comparison_table,
    open_grid_dataset,
)

PUBLISHED = {"arma": ("74-77", "67"), "tag": ("", "66"), "gcn": ("", "58"), "sage": ("", "49")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--transfer", required=True)
    parser.add_argument("--models", nargs="+", default=list(BASELINES), choices=BASELINES)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="results/powergrid")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per model")
    parser.add_argument("--layers", type=int, help="depth of every model (DBGNN default: 4)")
    parser.add_argument("--steps", type=int, help="DBGNN Dirac steps per layer (default 12)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source, target = open_grid_dataset(args.data), open_grid_dataset(args.transfer)
    splits = source.splits()
    tests = {"in_distribution": splits["test"], "transfer": target.data_list()}
    config = GridTrainConfig(epochs=args.epochs)
    if args.layers is not None:
        config = GridTrainConfig(epochs=args.epochs, layers=args.layers)
    results = {}
    for name in args.models:
        results |= compare_baselines(
            [name], splits["train"], splits["valid"], tests, config, args.seeds, None,
            args.layers, args.steps,
        )  # fmt: skip
        r = results[name]
        print(
            f"{name:9s} R2 in-dist {r['in_distribution']['r2']:.3f}  "
            f"transfer {r['transfer']['r2']:.3f}  (mean of {args.seeds} seeds, "
            f"{r['fit']['seconds']:.0f} s)",
            flush=True,
        )
    c, t = source.config, target.config
    print(
        f"\ntrain {len(splits['train'])} / valid {len(splits['valid'])} / test "
        f"{len(splits['test'])} grids of {c['grid']['nodes']} nodes, M = "
        f"{c['simulation']['perturbations']}; transfer: {len(target)} grids of "
        f"{t['grid']['nodes']} nodes, M = {t['simulation']['perturbations']}"
    )
    print(
        f"{'model':9s} {'R2 in-dist':>10s} {'<0.1':>6s} {'R2 20->100':>10s} {'<0.1':>6s}"
        f" {'published':>14s}"
    )
    for name, r in results.items():
        pub = "/".join(x or "-" for x in PUBLISHED.get(name, ("", "")))
        ind, tra = r["in_distribution"], r["transfer"]
        print(
            f"{name:9s} {ind['r2']:10.3f} {ind['within_0.1']:6.3f}"
            f" {tra['r2']:10.3f} {tra['within_0.1']:6.3f} {pub:>14s}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(comparison_table(results, list(tests)))
    (out / "baselines.json").write_text(json.dumps(results, indent=2))
    _plot(results, out / "baselines.png")
    print(f"wrote {out / 'baselines.json'} and {out / 'baselines.png'}")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for offset, key in ((-0.2, "in_distribution"), (0.2, "transfer")):
        values = [results[n][key]["r2"] for n in names]
        ax.bar([i + offset for i in range(len(names))], values, width=0.4, label=key)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("R^2 over test nodes")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
