"""Which settings let a hyper-representation beat W and s(W)? One digits zoo, grouped and plain
splits, every probe score with its 95 % bootstrap interval, and one lever changed at a time.

    python benchmarks/probe_study.py --out runs/probe_study [--quick] [--only NAME ...]
                                     [--seeds K]   # the zoo-size lever: K seeds per cell
    python benchmarks/probe_study.py --out runs/probe_study --table   # the lever table

Each variant's report is saved as ``OUT/<variant>.json`` when done (a rerun skips finished
ones), and the table is printed after every variant: test accuracy (R² and τ), epoch, gen. gap,
and the paired difference of the variant's test-accuracy/epoch/ggap R² to s(W).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from weightspace.encoders import SANE, HyperRep
from weightspace.models.sane import SANEConfig
from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
from weightspace.probe.run import run_probes
from weightspace.reproduce.findings import reconstruction_r2
from weightspace.tokens.splits import PLAIN, SplitConfig
from weightspace.train.trainer import TrainConfig
from weightspace.zoo.create import create_zoo
from weightspace.zoo.presets import preset

SIZES = SANEConfig(d_model=64, heads=4, encoder_layers=2, decoder_layers=2, latent=16, window=64)
KEYS = ("test_acc", "test_acc_tau", "epoch", "ggap")


def variants(epochs: int) -> dict[str, object]:
    """name -> factory(split setting) of an unfitted encoder: one lever changed at a time."""
    base = TrainConfig(epochs=epochs, progress=False)

    def sane(config=SIZES, **train):  # noqa: ANN001, ANN202
        return lambda split: SANE(config=config, train=replace(base, splits=split, **train))

    return {
        "SANE (default)": sane(),
        "SANE, no permutation augmentation": sane(permute=False),
        "SANE, contrastive share 0.5": sane(gamma=0.5),
        "SANE, latent 32": sane(replace(SIZES, latent=32)),
        f"SANE, {3 * epochs} epochs": sane(epochs=3 * epochs),
        "HyperRep (small)": lambda split: HyperRep(
            "small", train=replace(base, splits=split, epochs=2 * epochs)
        ),
        **{
            f"HyperRep (small), {k * epochs} epochs": lambda split, k=k: HyperRep(
                "small", train=replace(base, splits=split, epochs=k * epochs)
            )
            for k in (20, 60)  # the training-length lever
        },
        "SANE, behavioural loss 0.1": sane(behaviour_weight=0.1),
        "SANE, behavioural loss 0.9": sane(behaviour_weight=0.9),
        "SANE, no layer-wise normalization": sane(layer_normalization=False),
    }


def study(zoo, name: str, factory, bootstrap: int, plain: bool = True) -> list[dict]:  # noqa: ANN001
    """Probe W, s(W) and (when ``factory``) the variant's encoder with each pooling, on the
    grouped split (and, with ``plain``, the plain one for the baselines and the default)."""
    baselines = [FlatWeights(), WeightStatistics()]
    both = plain and (factory is None or "default" in name)
    splits = [SplitConfig(), PLAIN] if both else [SplitConfig()]
    out = []
    for split in splits:
        methods = list(baselines)
        encoder_names = []
        reconstruction = {}
        if factory is not None:
            encoder = factory(split).fit(zoo)
            reconstruction = {
                part: reconstruction_r2(encoder, zoo, encoder.split_.rows(zoo, part))
                for part in ("train", "test")
            }
            print(f"reconstruction R² (standardized weights): {reconstruction}")
            poolings = ("mean", "layer", "tokens") if isinstance(encoder, SANE) else (None,)
            for pooling in poolings:
                label = f"{name} [{pooling}]" if pooling else name
                methods.append(EncoderFeatures(encoder, label, pooling))
                encoder_names.append(label)
        report = run_probes(zoo, methods, split, bootstrap=bootstrap)
        print(report.title())
        print(report.markdown())
        entry = report.to_dict()
        entry["reconstruction"] = reconstruction
        entry["differences"] = {
            m: {b: {k: report.difference(m, b, k) for k in KEYS} for b in ("s(W)", "W")}
            for m in encoder_names
        }
        out.append(entry)
    return out


def ablation(out: Path) -> str:
    """The lever table from the saved variants: grouped split, every encoder and pooling, R² of
    test accuracy / epoch / generalization gap, each with its paired difference to s(W)."""
    lines = [
        "| variant [pooling] | test acc | epoch | gen. gap |",
        "|---|---|---|---|",
    ]
    baselines_done = False
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        report = record["reports"][0]  # the grouped split
        scores = report["scores"]
        if not baselines_done:
            for method in ("W", "s(W)"):
                cells = [f"{scores[method][k]:.3f}" for k in ("test_acc", "epoch", "ggap")]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            baselines_done = True
        for method, against in report.get("differences", {}).items():
            cells = []
            for k in ("test_acc", "epoch", "ggap"):
                mean, low, high = against["s(W)"][k]
                cells.append(f"{scores[method][k]:.3f} ({mean:+.2f} [{low:+.2f}, {high:+.2f}])")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(R²; in brackets: difference to s(W), 95 % paired bootstrap)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/probe_study")
    parser.add_argument("--quick", action="store_true", help="a small zoo and short fits")
    parser.add_argument("--only", nargs="+", help="variants to run (default all)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seeds", type=int, help="seeds per grid cell (the zoo-size lever)")
    parser.add_argument("--table", action="store_true", help="print the lever table and stop")
    parser.add_argument("--grouped-only", action="store_true", help="skip the plain split")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(ablation(out))
        return
    out.mkdir(parents=True, exist_ok=True)
    config = preset("digits-demo-quick" if args.quick else "digits-demo")
    if args.seeds:
        config = config.with_changes(name=f"{config.name}-{args.seeds}-seeds", seeds=args.seeds)
    start = time.perf_counter()
    zoo = create_zoo(config, out / "zoo", progress=False)
    print(f"zoo {zoo.name}: {zoo.num_models} models in {time.perf_counter() - start:.0f} s")
    todo = {"baselines": None, **variants(8 if args.quick else 25)}
    for name, factory in todo.items():
        if args.only and name not in args.only and name != "baselines":
            continue
        slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
        path = out / f"{slug}.json"
        if path.exists():
            print(f"\n== {name}: done before ({path})")
            continue
        t0 = time.perf_counter()
        reports = study(zoo, name, factory, args.bootstrap, plain=not args.grouped_only)
        record = {"name": name, "seconds": time.perf_counter() - t0, "reports": reports}
        path.write_text(json.dumps(record, indent=1, default=float))
        print(f"\n== {name} ({record['seconds']:.0f} s)")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
