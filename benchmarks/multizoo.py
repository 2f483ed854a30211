"""One SANE across architectures: probes on a heterogeneous park and networks of architectures
it never saw.

    python benchmarks/multizoo.py --park runs/digits-park [--epochs 30] [--seeds 8]

The park (``weightspace zoo create --preset digits-park --out runs/digits-park``, built here
when missing) holds one sub-zoo per architecture. Its held-out members (a deeper CNN, a wider
CNN, an MLP) are never seen in training, by SANE or by any probe. One SANE is fitted on the
training splits of all the other members at once (each keeps its own grouped split).

Printed:

1. The probe table of test accuracy (R²): probes fitted on the seen members' training splits,
   alpha chosen on their validation splits, scored on their test splits ("seen") and on every
   checkpoint of the held-out architectures ("unseen"). Intervals resample sibling groups
   (seed and init) of each zoo: the independent units. The weight-graph encoders are trained
   on the probed target (supervised, marked ‡).
2. The unseen-architecture table: per held-out architecture, the kept samples, random
   initializations and the prompt models, zero-shot and after 1 and 5 fine-tuning epochs, mean
   over seeds; the difference sampled - random at 1 epoch, paired by seed.
3. Cost per token of the park fit against a fit on one of its architectures (same settings,
   fitted back to back; ``--cost-only`` prints this alone).
4. The summary line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from weightspace.generate.unseen import UnseenConfig, unseen_rounds
from weightspace.probe.across import CrossArchWeightWatcher
from weightspace.probe.features import CrossArchStatistics
from weightspace.reproduce.across import (
    SANEFeatures,
    difference,
    fit_park_sane,
    park_parts,
    probe_markdown,
    probe_table,
    unseen_markdown,
)
from weightspace.stats import verdict


def open_or_create_park(path: Path):  # noqa: ANN201
    from weightspace.zoo.park import create_park, is_park, open_park
    from weightspace.zoo.presets import park_preset

    if not is_park(path):
        start = time.perf_counter()
        create_park(park_preset("digits-park"), path)
        print(f"park created in {time.perf_counter() - start:.0f} s")
    return open_park(path)


def baselines(args: argparse.Namespace) -> list:
    methods = [CrossArchStatistics()]  # the padded StatNN cannot read a deeper network
    if not args.skip_ww:
        methods.append(CrossArchWeightWatcher())
    if not args.skip_graphs:
        from weightspace.graphs.weight_probe import WeightGraphConfig, WeightGraphFeatures

        for model in ("dbgnn", "mpnn"):
            config = WeightGraphConfig(model=model, targets=("test_acc",), epochs=args.graph_epochs)
            methods.append(WeightGraphFeatures(config))
    return methods


def cost_per_token(seen: list, changes: dict, epochs: int = 3) -> float:
    """Fit the park's SANE and one of its architectures' for ``epochs`` each, back to back
    with the same settings (fresh, nothing cached), and print tokens/s of both and the ratio."""
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, zoos in (("park", seen), (f"one architecture ({seen[0].name})", seen[:1])):
            encoder = fit_park_sane(zoos, Path(tmp) / name, epochs, log=lambda _: None, **changes)
            rates[name] = np.mean([h["tokens_per_s"] for h in encoder.history_[1:]])
    park, one = rates.values()
    print(
        f"\ncost per token ({epochs} epochs each, back to back, first epoch left out): park fit "
        f"{park:.0f} tokens/s, {list(rates)[1]} {one:.0f} tokens/s: the park costs "
        f"{one / park:.2f}x per token"
    )
    return one / park


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--park", type=Path, default=Path("runs/digits-park"))
    parser.add_argument("--out", type=Path, default=None, help="default: PARK/../multizoo")
    parser.add_argument("--epochs", type=int, default=30, help="SANE training epochs")
    parser.add_argument("--seeds", type=int, default=8, help="unseen-architecture rounds")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--normalization", default="zoo", choices=("batch", "zoo"))
    parser.add_argument("--canonical", action="store_true", help="canonical channel order")
    parser.add_argument("--skip-graphs", action="store_true", help="no weight-graph encoders")
    parser.add_argument("--skip-ww", action="store_true", help="no WeightWatcher")
    parser.add_argument("--graph-epochs", type=int, default=40)
    parser.add_argument(
        "--zoo-epochs", type=int, nargs="+", default=[1, 2, 4, 8], help="checkpoints used"
    )
    parser.add_argument("--cost-only", action="store_true", help="only the cost per token")
    args = parser.parse_args()
    torch.manual_seed(0)
    park = open_or_create_park(args.park)
    out = args.out or args.park.parent / f"{args.park.name}-multizoo"
    held = set(park.held_out)
    seen = [m.zoo for m in park.members if m.name not in held]
    unseen = [m.zoo for m in park.members if m.name in held]
    print(
        f"park: {park.num_models} models, {len(park.members)} architectures "
        f"({len(unseen)} held out: {', '.join(sorted(held))})"
    )

    changes = {
        "pool_normalization": args.normalization,
        "canonical": args.canonical,
        "zoo_epochs": tuple(args.zoo_epochs),
    }
    if args.cost_only:
        cost_per_token(seen, changes)
        return
    tag = f"sane-{args.normalization}{'-canonical' if args.canonical else ''}-{args.epochs}"
    start = time.perf_counter()
    encoder = fit_park_sane(seen, out / tag, args.epochs, **changes)
    rate = np.mean([h["tokens_per_s"] for h in encoder.history_])
    print(f"SANE fit ({tag}): {time.perf_counter() - start:.0f} s, {rate:.0f} tokens/s")

    parts = park_parts(encoder, seen, unseen)
    methods = [  # moments pooling first: chosen on a pilot park of other zoos
        SANEFeatures(encoder, "SANE (one for all), moments pooling", "moments"),
        *baselines(args),
        SANEFeatures(encoder, "SANE (one for all), mean pooling", "mean"),
        SANEFeatures(encoder, "SANE (one for all), ends pooling", "ends"),
    ]
    table = probe_table(methods, parts, args.bootstrap)
    print("\n" + probe_markdown(table, len(park.members)))
    sane, stats = methods[0].name, methods[1].name
    diff, low, high = difference(table, sane, stats)
    print(
        f"\nSANE - s(W) on seen architectures: {diff:+.3f} [{low:+.3f}, {high:+.3f}] "
        f"({verdict(low, high)})"
    )

    results = [unseen_rounds(encoder, z, UnseenConfig(), range(args.seeds), 5) for z in unseen]
    text, wins = unseen_markdown(results, args.seeds)
    print("\n" + text)

    cost_per_token(seen, changes)
    s, w = table[sane], table[stats]
    print(
        f"multizoo: SANE {s.seen[0]:.3f} [{s.seen[1]:.3f}, {s.seen[2]:.3f}] vs s(W) "
        f"{w.seen[0]:.3f} [{w.seen[1]:.3f}, {w.seen[2]:.3f}]; unseen architectures SANE "
        f"{s.unseen[0]:.3f}; sampled+1 epoch beats random on {wins} of {len(unseen)} "
        "unseen architectures"
    )


if __name__ == "__main__":
    main()
