"""`weightspace graphs diagnose | longrange | probe`: Dirac–Bianconi GNNs and weight graphs."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from weightspace.cli.common import config_flags, defer, group, output_arguments
from weightspace.config import config_from_args
from weightspace.errors import ConfigError


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    for path in paths:
        if path.exists() and not overwrite:
            raise ConfigError("--out", "a path that does not exist yet", str(path),
                              fix="Pick another --out or pass --overwrite")  # fmt: skip


def _diagnose(args: argparse.Namespace) -> None:
    from weightspace.graphs.figures import DiagnoseConfig, run_diagnostics

    config = config_from_args(DiagnoseConfig, args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", "a directory", str(out))
    names = ("energy.png", "impulse.png", "diagnostics.json")
    _refuse_existing([out / n for n in names], args.overwrite)
    summary = run_diagnostics(config, out)
    for name, values in summary["energy"].items():
        print(f"{name}: Dirichlet energy {values[0]:.3g} after step 1, {values[-1]:.3g} at the end")
    print(f"wrote {', '.join(names)} to {out}")


def _longrange(args: argparse.Namespace) -> None:
    from weightspace.graphs.longrange import LongRangeConfig, run_long_range
    from weightspace.storage import check_output_file
    from weightspace.zoo.storage import atomic_write_json

    config = config_from_args(LongRangeConfig, args)
    out = Path(args.out)
    check_output_file(out, args.out_flag, args.overwrite)
    results = run_long_range(config, log=lambda _: None, progress=not args.quiet)
    print("| k | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for k in config.distances:
        print(f"| {k} | " + " | ".join(f"{results[m][k]:.3f}" for m in results) + " |")
    atomic_write_json(out, {"config": asdict(config), "accuracy": results})
    print(f"wrote {out}")


def _probe(args: argparse.Namespace) -> None:
    from weightspace.encoders import load_encoder
    from weightspace.graphs.weight_probe import WeightGraphConfig, WeightGraphFeatures
    from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
    from weightspace.probe.run import run_probes
    from weightspace.storage import check_output_file
    from weightspace.zoo import open_zoo
    from weightspace.zoo.storage import atomic_write_bytes

    base = config_from_args(WeightGraphConfig, args)
    if args.out:
        check_output_file(args.out, args.out_flag, args.overwrite, (args.zoo,))
    zoo = open_zoo(args.zoo)
    methods = [FlatWeights(), WeightStatistics()]
    for path in args.encoder or []:
        encoder = load_encoder(path)
        methods.append(EncoderFeatures(encoder, f"{encoder.kind} ({Path(path).name})"))
    for model in args.graph_models:
        config = config_from_args(WeightGraphConfig, args, base=base, model=model)
        methods.append(WeightGraphFeatures(config))
    report = run_probes(zoo, methods, epochs=args.zoo_epochs)
    print(report.markdown())
    if args.out:
        atomic_write_bytes(Path(args.out), report.to_json().encode())
        print(f"wrote {args.out}")


def _graph_models_flag(probe: argparse.ArgumentParser) -> None:
    from weightspace.graphs.config import GRAPH_MODEL_NAMES

    probe.add_argument(
        "--graph-models", nargs="+", choices=GRAPH_MODEL_NAMES, default=["dbgnn", "mpnn"]
    )


def register(commands: argparse._SubParsersAction) -> None:
    sub = group(commands, "graphs", "Dirac–Bianconi graph networks and weight graphs")
    diagnose = sub.add_parser(
        "diagnose", help="Dirichlet energy per step and impulse spread, DBGNN vs GCN (PNG)"
    )
    output_arguments(diagnose, "directory for the figures", overwrite="replace existing figures")
    config_flags(diagnose, "weightspace.graphs.config:DiagnoseConfig")
    diagnose.set_defaults(run=_diagnose)

    longrange = sub.add_parser(
        "longrange", help="accuracy vs hop distance k: DBGNN vs an MPNN of equal depth"
    )
    output_arguments(longrange, "a directory for the accuracies", file="longrange.json")
    longrange.add_argument("--quiet", action="store_true", help="no progress bar")
    config_flags(longrange, "weightspace.graphs.config:LongRangeConfig")
    longrange.set_defaults(run=_longrange)

    probe = sub.add_parser(
        "probe", help="the probe table (W, s(W), encoders) with weight-graph networks added"
    )
    probe.add_argument("--zoo", required=True)
    probe.add_argument("--encoder", nargs="+", help="encoder directories written by `fit`")
    defer(probe, _graph_models_flag)  # the network names: read once the command is chosen
    probe.add_argument("--zoo-epochs", type=int, nargs="+", help="probe only these checkpoints")
    output_arguments(
        probe, "also write the scores in a directory", file="probes.json", required=False
    )
    config_flags(probe, "weightspace.graphs.config:WeightGraphConfig", skip=("model",))
    probe.set_defaults(run=_probe)
