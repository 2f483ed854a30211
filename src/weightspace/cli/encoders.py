"""`weightspace fit | embed | sample`: hyper-representations and what they are for (`probe`
is in `weightspace.cli.probe`)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from weightspace.cli.common import (
    POOLINGS,
    check_device,
    config_flags,
    output_arguments,
    start_over,
)
from weightspace.cli.zoo import describe_zoo
from weightspace.errors import ConfigError, check_choice


def _fit(args: argparse.Namespace) -> None:
    from weightspace.config import config_from_args
    from weightspace.encoders import ENCODERS
    from weightspace.train.config import TrainConfig
    from weightspace.train.distributed import init_from_env
    from weightspace.train.trainer import world

    fixed = {"progress": not args.quiet}
    if args.split_seed is not None and args.split_seed < 0:
        raise ConfigError("--split-seed", "an integer >= 0", args.split_seed)
    if args.split is not None:  # the split is saved with the encoder; probes and samples reuse it
        from weightspace.cli.probe import split_setting

        fixed["splits"] = split_setting(args.split, args.split_seed or 0)
    train = config_from_args(TrainConfig, args, **fixed)
    check_device(train.device)  # before anything is written
    kind = ENCODERS[args.model]
    check_choice("--preset", args.preset, tuple(kind.presets))
    config = None
    changes = {k: getattr(args, k) for k in ("pooling", "positions") if getattr(args, k)}
    if changes:
        if args.model != "sane":
            flag = "--" + next(iter(changes))
            raise ConfigError(flag, "only with --model sane", args.model)
        config = replace(kind.presets[args.preset], **changes)
    zoos, _ = open_zoos(args.zoo, held_out=args.include_held_out)
    start_over(args, tuple(args.zoo))
    init_from_env()
    encoder = kind(args.preset, config=config, train=train, out=args.out).fit(
        zoos if len(zoos) > 1 else zoos[0]
    )
    if world()[0] == 0:
        last = encoder.history_[-1]
        summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch")
        print(f"trained {args.model} ({args.preset}) for {last['epoch']} epochs: {summary}")
        print(f"wrote {args.out}")


def open_zoos(values: list[str], held_out: bool = True) -> tuple[list, list[str]]:
    """The zoos of ``--zoo`` given once or more, each opened (and verified) once, and the
    names a park suggests holding out; a park stands for its members (all of them, or with
    ``held_out=False`` all but its suggested held-out ones)."""
    from weightspace.zoo import open_zoo
    from weightspace.zoo.park import is_park, open_park

    zoos, held = [], []
    for value in values:
        if is_park(value):
            park = open_park(value)
            held += list(park.held_out)
            zoos += [m.zoo for m in park.members if held_out or m.name not in park.held_out]
        else:
            zoos.append(open_zoo(value))
    return zoos, held


def _embed(args: argparse.Namespace) -> None:
    import numpy as np

    from weightspace.encoders import check_pooling, load_encoder, write_embeddings
    from weightspace.zoo.storage import check_output_file

    out = check_output_file(args.out, args.out_flag, args.overwrite, (*args.zoo, args.model))
    encoder = load_encoder(args.model)
    check_pooling(encoder, args.pooling)
    zoos, _ = open_zoos(args.zoo)
    embeddings = np.concatenate([encoder.transform(z, pooling=args.pooling) for z in zoos])
    write_embeddings(out, zoos if len(zoos) > 1 else zoos[0], embeddings)
    where = f" of {len(zoos)} zoos" if len(zoos) > 1 else ""
    print(f"wrote {len(embeddings)} embeddings{where}, {embeddings.shape[1]} dimensions, to {out}")


def _sample(args: argparse.Namespace) -> None:
    from weightspace.encoders import load_encoder
    from weightspace.generate.run import SampleConfig, sample_zoo
    from weightspace.zoo import open_zoo
    from weightspace.zoo.storage import check_output_dir

    if args.seed < 0:  # numpy's generators refuse negative seeds
        raise ConfigError("--seed", "an integer >= 0", args.seed)
    config = SampleConfig(args.method, args.n, args.seed)
    check_output_dir(args.out, "--out")
    for source in (args.zoo, args.model):
        if Path(args.out).absolute().resolve().is_relative_to(Path(source).absolute().resolve()):
            raise ConfigError("--out", f"a directory outside the input {source}", args.out)
    start_over(args, (args.zoo, args.model))
    zoo = sample_zoo(load_encoder(args.model), open_zoo(args.zoo), args.out, config)
    print(describe_zoo(zoo))


def register(commands: argparse._SubParsersAction) -> None:
    fit = commands.add_parser("fit", help="train a hyper-representation on a zoo")
    fit.add_argument(
        "--zoo",
        required=True,
        action="append",
        help="the zoo directory; give it again (or a park) to fit one SANE on several zoos",
    )
    fit.add_argument("--model", default="sane", choices=("sane", "hyperrep"))
    fit.add_argument("--preset", default="small", help="model size: tiny, small, ...")
    output_arguments(fit, "run directory (resumed if it has a checkpoint)")
    fit.add_argument(
        "--pooling",
        choices=POOLINGS,
        help="SANE: how `embed` pools token latents (default mean)",
    )
    fit.add_argument(
        "--include-held-out",
        action="store_true",
        help="a park: fit on its suggested held-out members too (by default they are left "
        "out, so `probe` can score architectures never seen in training)",
    )
    fit.add_argument(
        "--positions",
        choices=("learned", "sinusoidal"),
        help="SANE: position embeddings (default: learned for one zoo, as published; "
        "sinusoidal for several, which index networks larger than any in training)",
    )
    fit.add_argument(
        "--split",
        choices=("grouped", "plain"),
        help="train/val/test split of models (default grouped: models sharing seed and init "
        "stay together)",
    )
    fit.add_argument("--split-seed", type=int, help="seed of the split (default 0)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    config_flags(fit, "weightspace.train.config:TrainConfig", skip=("progress",))
    fit.set_defaults(run=_fit)
    embed = commands.add_parser("embed", help="embed every checkpoint of a zoo")
    embed.add_argument("--model", required=True, help="a directory written by `fit`")
    embed.add_argument(
        "--zoo",
        required=True,
        action="append",
        help="a zoo; give it again (or a park) for one table of several zoos, with their names",
    )
    output_arguments(embed, "a directory for the embeddings", file="embeddings.parquet")
    embed.add_argument(
        "--pooling",
        choices=POOLINGS,
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
    output_arguments(sample, "the zoo directory to write")
    sample.set_defaults(run=_sample)
