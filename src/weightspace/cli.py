"""The ``weightspace`` command line.

weightspace zoo create (--preset NAME | --config FILE) --out DIR [--backend ray] [--device cuda]
weightspace zoo info DIR
weightspace zoo import --from modelzoos|smallcnn|folder PATH --out DIR
weightspace zoo presets
weightspace fit --zoo DIR --model sane|hyperrep [--preset NAME] --out DIR
weightspace embed --model DIR --zoo DIR --out FILE.parquet
weightspace sample --model DIR --zoo DIR [--n 50] [--method kde30] --out DIR
weightspace probe --zoo DIR [--model DIR ...] [--json FILE] [--csv FILE] [--plot FILE.png]
weightspace demo [--out DIR] [--quick]
weightspace report RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from weightspace.errors import ConfigError, WeightspaceError, check_choice


def _zoo_create(args: argparse.Namespace) -> None:
    from weightspace.zoo import ZooConfig, create_zoo, preset

    if (args.preset is None) == (args.config is None):
        raise WeightspaceError("zoo create: give exactly one of --preset NAME or --config FILE")
    config = preset(args.preset) if args.preset else ZooConfig.from_file(args.config)
    if args.data_root is not None:
        config = replace(config, dataset=replace(config.dataset, root=args.data_root))
    zoo = create_zoo(
        config, args.out, backend=args.backend, device=args.device, progress=not args.quiet
    )
    print(f"wrote {zoo.num_models} models, {len(zoo)} checkpoints to {args.out}")


def describe_zoo(zoo) -> str:
    """A plain-text summary: counts, status, and the test-accuracy distribution per epoch."""
    m = zoo.manifest
    columns = zoo.table.column_names
    epoch, status, models = zoo.column("epoch"), zoo.column("status"), zoo.column("model_id")
    arch = (m["architecture"]["config"] or {}).get("name", "an unregistered network")
    dataset = (m["dataset"] or {}).get("config", {}).get("name", "unknown data")
    source = f", imported from {m['source']['format']}" if m.get("source") else ""
    lines = [
        f"zoo {m['name']}: {zoo.num_models} models, {len(zoo)} checkpoints, "
        f"{arch} ({m['architecture']['num_parameters']} parameters) on {dataset}{source}",
        "status: "
        + ", ".join(
            f"{s} {len(np.unique(models[status == s]))} models, {(status == s).sum()} checkpoints"
            for s in sorted(set(status))
        ),
    ]
    if "problem" in columns and (status == "bad").any():
        problems = zoo.column("problem")[status == "bad"]
        rows = np.flatnonzero(status == "bad")
        lines.append("bad checkpoints (row: problem):")
        lines += [f"  {r}: {p}" for r, p in zip(rows[:10], problems[:10], strict=False)]
        if len(rows) > 10:
            lines.append(f"  ... and {len(rows) - 10} more")
    if "test_acc" in columns:
        acc = zoo.column("test_acc").astype(float)
        lines += ["", "epoch  checkpoints  test_acc  min    q25    median q75    max"]
        for e in np.unique(epoch):
            a = acc[(epoch == e) & np.isfinite(acc)]
            if len(a) == 0:
                continue
            q = np.quantile(a, [0.0, 0.25, 0.5, 0.75, 1.0])
            row = f"{e:5d}  {len(a):11d}  {a.mean():8.3f}  "
            lines.append(row + " ".join(f"{v:.3f}" for v in q))
    if "evaluation" in m:
        e = m["evaluation"]
        lines += [
            "",
            f"samples by {e['config']['method']} around {len(e['anchors']['rows'])} anchors "
            f"(anchor test_acc {e['anchors']['test_acc_mean']:.3f}): zero-shot test_acc "
            f"{e['zero_shot_test_acc']['mean']:.3f} ± {e['zero_shot_test_acc']['std']:.3f}, "
            f"novelty {e['novelty']['mean']:.3f} (min {e['novelty']['min']:.3f})",
        ]
    varying = [
        c
        for c in ("activation", "dropout", "init", "optimizer", "lr", "weight_decay")
        if c in columns and len(set(zoo.column(c).tolist())) > 1
    ]
    if varying:
        lines.append("")
        lines.append(
            "varying factors: "
            + ", ".join(f"{c} {sorted(set(zoo.column(c).tolist()))}" for c in varying)
        )
    return "\n".join(lines)


def _zoo_info(args: argparse.Namespace) -> None:
    from weightspace.zoo import open_zoo

    print(describe_zoo(open_zoo(args.dir, verify=not args.no_verify)))


def _zoo_import(args: argparse.Namespace) -> None:
    from weightspace.zoo.imports import import_zoo

    zoo = import_zoo(args.source, args.path, args.out)
    bad = int((zoo.column("status") == "bad").sum())
    print(
        f"imported {zoo.num_models} models, {len(zoo)} checkpoints to {args.out}"
        + (f" ({bad} bad checkpoints: see `weightspace zoo info {args.out}`)" if bad else "")
    )


def _zoo_presets(args: argparse.Namespace) -> None:
    from weightspace.zoo import PRESETS

    print(f"{'preset':26s} {'architecture':13s} {'dataset':14s} {'models':>7s} {'epochs':>6s}")
    for name, config in sorted(PRESETS.items()):
        n = _count(config)
        print(
            f"{name:26s} {config.architecture:13s} {config.dataset.name:14s} "
            f"{n:7d} {config.epochs:6d}"
        )


def _count(config) -> int:
    from weightspace.zoo.config import FACTORS

    total = config.seeds
    for name in FACTORS:
        total *= len(getattr(config, name).grid())
    return total


def _fit(args: argparse.Namespace) -> None:
    from weightspace.models.encoder import ENCODERS
    from weightspace.train.distributed import init_from_env
    from weightspace.train.trainer import TrainConfig, world

    init_from_env()
    changes = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "behaviour": args.behaviour,
        "zoo_epochs": args.zoo_epochs,
        "device": args.device,
        "seed": args.seed,
    }
    train = TrainConfig(
        progress=not args.quiet, **{k: v for k, v in changes.items() if v is not None}
    )
    kind = ENCODERS[args.model]
    config = None
    if args.pooling is not None:
        if args.model != "sane":
            raise ConfigError("--pooling", "only with --model sane", args.model)
        check_choice("--preset", args.preset, tuple(kind.presets))
        config = replace(kind.presets[args.preset], pooling=args.pooling)
    encoder = kind(args.preset, config=config, train=train, out=args.out).fit(args.zoo)
    if world()[0] == 0:
        last = encoder.history_[-1]
        summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch")
        print(f"trained {args.model} ({args.preset}) for {last['epoch']} epochs: {summary}")
        print(f"wrote {args.out}")


def _embed(args: argparse.Namespace) -> None:
    from weightspace.models.encoder import load_encoder, write_embeddings
    from weightspace.zoo import open_zoo

    encoder = load_encoder(args.model)
    zoo = open_zoo(args.zoo)
    embeddings = encoder.transform(zoo, pooling=args.pooling)  # (n, d)
    write_embeddings(Path(args.out), zoo, embeddings)
    print(f"wrote {len(zoo)} embeddings of {embeddings.shape[1]} dimensions to {args.out}")


def _probe(args: argparse.Namespace) -> None:
    from weightspace.models.encoder import load_encoder
    from weightspace.probe.features import (
        EncoderFeatures,
        FlatWeights,
        WeightStatistics,
        WeightWatcherFeatures,
    )
    from weightspace.probe.run import run_probes
    from weightspace.zoo import open_zoo

    zoo = open_zoo(args.zoo)
    methods = [FlatWeights(), WeightStatistics()]
    if args.weightwatcher:
        methods.append(WeightWatcherFeatures())
    for path in args.model or []:
        encoder = load_encoder(path)
        for pooling in args.pooling or [None]:
            label = f"{encoder.kind} ({Path(path).name}{', ' + pooling if pooling else ''})"
            methods.append(EncoderFeatures(encoder, label, pooling))
    report = run_probes(zoo, methods, epochs=args.zoo_epochs)
    print(report.markdown())
    from weightspace.zoo.storage import atomic_write_bytes

    for path, text in ((args.json, report.to_json()), (args.csv, report.to_csv())):
        if path:
            atomic_write_bytes(Path(path), text.encode())
    if args.plot:
        report.plot(args.plot)


def _sample(args: argparse.Namespace) -> None:
    from weightspace.generate.run import SampleConfig, sample_zoo
    from weightspace.models.encoder import load_encoder
    from weightspace.zoo import open_zoo

    config = SampleConfig(args.method, args.n, args.seed)
    zoo = sample_zoo(load_encoder(args.model), open_zoo(args.zoo), args.out, config)
    print(describe_zoo(zoo))


def _demo(args: argparse.Namespace) -> None:
    from weightspace.demo import DEMOS, REPORT, run_demo, summary

    config = DEMOS["quick" if args.quick else "full"]
    results = run_demo(args.out, config, progress=not args.quiet, device=args.device)
    print(summary(results))
    print(f"open {Path(args.out) / REPORT}")


def _report(args: argparse.Namespace) -> None:
    from weightspace.report import build_report

    print(f"wrote {build_report(args.run_dir)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weightspace", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    zoo = commands.add_parser("zoo", help="create and inspect model zoos").add_subparsers(
        dest="zoo_command", required=True
    )
    create = zoo.add_parser("create", help="train a zoo (resumes a partial directory)")
    create.add_argument("--preset", help="a preset name (see `weightspace zoo presets`)")
    create.add_argument("--config", help="a .json or .toml zoo config")
    create.add_argument("--out", required=True, help="the zoo directory to write")
    create.add_argument("--backend", default="inprocess", choices=("inprocess", "ray"))
    create.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    create.add_argument("--data-root", help="folder of the dataset files (mnist, cifar10, svhn)")
    create.add_argument("--quiet", action="store_true", help="no progress bar")
    create.set_defaults(run=_zoo_create)
    info = zoo.add_parser("info", help="counts, status and accuracy per epoch of a zoo")
    info.add_argument("dir")
    info.add_argument("--no-verify", action="store_true", help="skip the sha256 checks")
    info.set_defaults(run=_zoo_info)
    imports = zoo.add_parser("import", help="import a zoo from modelzoos.cc, Small CNN Zoo, ...")
    imports.add_argument(
        "--from", dest="source", required=True, choices=("modelzoos", "smallcnn", "folder")
    )
    imports.add_argument("path", help="the folder of the zoo to import")
    imports.add_argument("--out", required=True, help="the zoo directory to write")
    imports.set_defaults(run=_zoo_import)
    presets = zoo.add_parser("presets", help="list the zoo presets")
    presets.set_defaults(run=_zoo_presets)

    fit = commands.add_parser("fit", help="train a hyper-representation on a zoo")
    fit.add_argument("--zoo", required=True, help="the zoo directory")
    fit.add_argument("--model", default="sane", choices=("sane", "hyperrep"))
    fit.add_argument("--preset", default="small", help="model size: tiny, small, ...")
    fit.add_argument("--out", required=True, help="run directory (resumed if it has a checkpoint)")
    fit.add_argument("--epochs", type=int)
    fit.add_argument("--batch-size", type=int)
    fit.add_argument("--lr", type=float)
    fit.add_argument("--behaviour", type=float, help="beta of the behavioural loss (default off)")
    fit.add_argument("--zoo-epochs", type=int, nargs="+", help="use only these checkpoints")
    fit.add_argument("--device", help="cpu, cuda or auto (default)")
    fit.add_argument("--seed", type=int)
    fit.add_argument(
        "--pooling",
        choices=("mean", "layer", "tokens"),
        help="SANE: how `embed` pools token latents (default mean)",
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(run=_fit)
    embed = commands.add_parser("embed", help="embed every checkpoint of a zoo")
    embed.add_argument("--model", required=True, help="a directory written by `fit`")
    embed.add_argument("--zoo", required=True)
    embed.add_argument("--out", required=True, help="a .parquet file")
    embed.add_argument(
        "--pooling",
        choices=("mean", "layer", "tokens"),
        help="how SANE pools token latents (default: the model's own)",
    )
    embed.set_defaults(run=_embed)
    sample = commands.add_parser("sample", help="generate new networks from a trained encoder")
    sample.add_argument("--model", required=True, help="an encoder directory written by `fit`")
    sample.add_argument("--zoo", required=True, help="the zoo it was trained on (the anchors)")
    sample.add_argument("--n", type=int, default=50, help="how many networks")
    sample.add_argument(
        "--method", default="kde30", help="kde, kde-joint, kde-dim or neighbour + top-k %% (kde30)"
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", required=True, help="the zoo directory to write")
    sample.set_defaults(run=_sample)
    probe = commands.add_parser("probe", help="linear probes of every zoo property, per method")
    probe.add_argument("--zoo", required=True)
    probe.add_argument("--model", nargs="+", help="encoder directories written by `fit`")
    probe.add_argument("--weightwatcher", action="store_true", help="add WeightWatcher features")
    probe.add_argument("--zoo-epochs", type=int, nargs="+", help="probe only these checkpoints")
    probe.add_argument(
        "--pooling",
        nargs="+",
        choices=("mean", "layer", "tokens"),
        help="SANE poolings to probe (default: the model's own)",
    )
    probe.add_argument("--json", help="write {method: {target: score}}")
    probe.add_argument("--csv", help="write the table as CSV")
    probe.add_argument("--plot", help="write predicted vs true test accuracy (PNG)")
    probe.set_defaults(run=_probe)
    demo = commands.add_parser(
        "demo", help="zoo -> SANE -> probes -> samples -> report.html, on the digits"
    )
    demo.add_argument("--out", default="runs/demo", help="run directory (resumed if partial)")
    demo.add_argument("--quick", action="store_true", help="a smaller run (about 65 s on 2 cores)")
    demo.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)
    report = commands.add_parser("report", help="rebuild report.html of a demo run directory")
    report.add_argument("run_dir")
    report.set_defaults(run=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except WeightspaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
