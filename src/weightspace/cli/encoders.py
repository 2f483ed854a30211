"""`weightspace fit | embed | probe | sample`: hyper-representations and what they are for."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from weightspace.cli.zoo import describe_zoo
from weightspace.errors import ConfigError, check_choice


def _fit(args: argparse.Namespace) -> None:
    from weightspace.encoders import ENCODERS
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
    from weightspace.encoders import load_encoder, write_embeddings
    from weightspace.zoo import open_zoo

    encoder = load_encoder(args.model)
    zoo = open_zoo(args.zoo)
    embeddings = encoder.transform(zoo, pooling=args.pooling)  # (n, d)
    write_embeddings(Path(args.out), zoo, embeddings)
    print(f"wrote {len(zoo)} embeddings of {embeddings.shape[1]} dimensions to {args.out}")


def _probe(args: argparse.Namespace) -> None:
    from weightspace.encoders import load_encoder
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
    from weightspace.encoders import load_encoder
    from weightspace.generate.run import SampleConfig, sample_zoo
    from weightspace.zoo import open_zoo

    config = SampleConfig(args.method, args.n, args.seed)
    zoo = sample_zoo(load_encoder(args.model), open_zoo(args.zoo), args.out, config)
    print(describe_zoo(zoo))


def register(commands: argparse._SubParsersAction) -> None:
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
