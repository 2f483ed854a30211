"""`weightspace probe`: linear probes of every zoo property, per feature method, with intervals."""

from __future__ import annotations

import argparse
from pathlib import Path

from weightspace.cli.common import POOLINGS, output_arguments
from weightspace.errors import ConfigError

SPLIT_KINDS = ("grouped", "plain")
# what --out DIR receives (the plot: one zoo only); --json/--csv/--plot FILE are the old spelling
OUTPUTS = {"json": "probes.json", "csv": "probes.csv", "plot": "predicted.png"}


def _outputs(args: argparse.Namespace, several: bool) -> None:
    """Set ``args.json``, ``args.csv`` and ``args.plot`` to the files to write: those in --out
    DIR (several zoos: the JSON only), or the old per-file flags (with a note)."""
    import sys

    old = [flag for flag in OUTPUTS if getattr(args, flag)]
    if old and args.out:
        raise ConfigError(f"--{old[0]}", "--out DIR alone (it holds every output)", args.out)
    for flag in old:
        print(f"note: --{flag} FILE is the old spelling; use --out DIR", file=sys.stderr)
    if args.out:
        for flag, name in OUTPUTS.items():
            if flag == "json" or not several:
                setattr(args, flag, str(Path(args.out) / name))


def split_setting(kind: str, seed: int = 0, group_by: list[str] | None = None):  # noqa: ANN201
    """The SplitConfig of a --split choice: grouped (by --group-by, default seed and init) or
    plain (by model id)."""
    from weightspace.tokens.splits import SIBLINGS, SplitConfig

    factors = tuple(group_by) if group_by else SIBLINGS
    return SplitConfig(seed=seed, group_by=factors if kind == "grouped" else ())


def _probe(args: argparse.Namespace) -> None:
    from weightspace.encoders import check_pooling, load_encoder
    from weightspace.probe.features import (
        EncoderFeatures,
        FlatWeights,
        WeightStatistics,
        WeightWatcherFeatures,
    )
    from weightspace.probe.run import probe_splits, run_probes

    # -- checked before any probing (issue 15): outputs that would destroy a file, options
    # that do not combine
    from weightspace.zoo.park import is_park
    from weightspace.zoo.storage import atomic_write_bytes, check_output_file

    _outputs(args, several=len(args.zoo) > 1 or bool(args.held_out) or is_park(args.zoo[0]))
    for flag in OUTPUTS:
        if getattr(args, flag):
            inputs = (*args.zoo, *(args.model or []))
            shown = "--out" if args.out else f"--{flag}"
            check_output_file(getattr(args, flag), shown, args.overwrite, inputs)
    if args.split_seed < 0:  # numpy's generators refuse negative seeds
        raise ConfigError("--split-seed", "an integer >= 0", args.split_seed)
    from weightspace.cli.encoders import open_zoos

    zoos, suggested = open_zoos(args.zoo)
    if len(zoos) > 1 or args.held_out:
        return _probe_across(args, zoos, suggested)
    zoo = zoos[0]
    zoo.check_epochs(args.zoo_epochs, "--zoo-epochs")
    # -- end of the issue-15 checks
    methods = [FlatWeights(), WeightStatistics()]
    if args.weightwatcher:
        methods.append(WeightWatcherFeatures())
    for path in args.model or []:
        encoder = load_encoder(path)
        for pooling in args.pooling or [None]:
            check_pooling(encoder, pooling)  # issue 15: before probing, not after
            label = f"{encoder.kind} ({Path(path).name}{', ' + pooling if pooling else ''})"
            methods.append(EncoderFeatures(encoder, label, pooling))
    options = {"epochs": args.zoo_epochs, "bootstrap": args.bootstrap, "repeats": args.repeats}
    if args.split:
        settings = [split_setting(k, args.split_seed, args.group_by) for k in args.split]
        reports = probe_splits(zoo, methods, settings, **options)
    else:  # the encoders' own split, or the default grouped one
        reports = [run_probes(zoo, methods, **options)]
    for report in reports:
        print(report.title())
        print(report.markdown())
        print()
    first = reports[0]
    if args.json:
        text = "[" + ",\n".join(r.to_json() for r in reports) + "]"
        atomic_write_bytes(Path(args.json), text.encode())
    if args.csv:
        text = first.to_csv() + "".join(r.to_csv().split("\n", 1)[1] for r in reports[1:])
        atomic_write_bytes(Path(args.csv), text.encode())
    if args.plot:
        first.plot(args.plot)


def _probe_across(args: argparse.Namespace, zoos: list, suggested: list[str]) -> None:
    """Several zoos (or a park): one probe of test accuracy across architectures, scored on the
    seen zoos' test splits and on the held-out zoos (``--held-out``, else ``suggested``)."""
    from weightspace.encoders import check_pooling, load_encoder
    from weightspace.probe.across import CrossArchWeightWatcher
    from weightspace.probe.features import CrossArchStatistics
    from weightspace.reproduce.across import SANEFeatures, park_parts, probe_markdown, probe_table
    from weightspace.zoo.storage import atomic_write_bytes

    for flag in ("csv", "plot"):
        if getattr(args, flag):
            raise ConfigError(f"--{flag}", "one zoo (several zoos print one table)", flag)
    held = list(args.held_out or suggested)  # a park names its suggested held-out members
    names = [z.name for z in zoos]
    for name in held:
        if name not in names:
            raise ConfigError("--held-out", f"names of the given zoos ({', '.join(names)})", name)
    seen = [z for z in zoos if z.name not in held]
    unseen = [z for z in zoos if z.name in held]
    if not seen:
        raise ConfigError("--held-out", "at least one zoo left to fit the probes on", held)
    methods = [CrossArchStatistics()]
    encoders = [load_encoder(p) for p in args.model or []]
    for path, encoder in zip(args.model or [], encoders, strict=True):
        pool = getattr(encoder, "pool_", None)
        if pool is None:
            raise ConfigError("--model", "an encoder fitted on several zoos", path)
        for zoo in unseen:  # an "unseen" score of a zoo the encoder was fitted on is not one
            if zoo.content_sha256 in pool.hashes:
                raise ConfigError(
                    "--held-out",
                    f"zoos the encoder {path} never saw in training",
                    zoo.name,
                    "Fit it without them (`fit` leaves a park's held-out members out)",
                )
    if args.weightwatcher:
        methods.append(CrossArchWeightWatcher())
    for path, encoder in zip(args.model or [], encoders, strict=True):
        for pooling in args.pooling or ["moments"]:
            check_pooling(encoder, pooling)
            methods.append(SANEFeatures(encoder, f"SANE ({Path(path).name}, {pooling})", pooling))
    parts = park_parts(encoders[0] if encoders else None, seen, unseen, args.zoo_epochs)
    table = probe_table(methods, parts, max(args.bootstrap, 1), log=lambda _: None)
    text = probe_markdown(table, len(zoos))
    print(text)
    if args.json:
        import json

        rows = {
            name: {"seen": row.seen, "unseen": row.unseen, "units": row.units}
            for name, row in table.items()
        }
        atomic_write_bytes(Path(args.json), json.dumps(rows, indent=1).encode())


def register(commands: argparse._SubParsersAction) -> None:
    probe = commands.add_parser("probe", help="linear probes of every zoo property, per method")
    probe.add_argument(
        "--zoo",
        required=True,
        action="append",
        help="a zoo; give it again (or a park) to probe test accuracy across architectures",
    )
    probe.add_argument(
        "--held-out",
        nargs="+",
        help="several zoos: names of zoos never used to fit (default: a park's held-out ones)",
    )
    probe.add_argument("--model", nargs="+", help="encoder directories written by `fit`")
    probe.add_argument("--weightwatcher", action="store_true", help="add WeightWatcher features")
    probe.add_argument("--zoo-epochs", type=int, nargs="+", help="probe only these checkpoints")
    probe.add_argument(
        "--pooling",
        nargs="+",
        choices=POOLINGS,
        help="SANE poolings to probe (default: the model's own)",
    )
    probe.add_argument(
        "--split",
        nargs="+",
        choices=SPLIT_KINDS,
        help="one table per split: grouped (models sharing seed and init together) and/or "
        "plain (by model); an encoder is probed only on the split it was trained on "
        "(default: the encoders' split, else grouped)",
    )
    probe.add_argument("--split-seed", type=int, default=0, help="seed of --split")
    probe.add_argument("--group-by", nargs="+", help="factors of a grouped split (seed init)")
    probe.add_argument(
        "--bootstrap", type=int, default=1000, help="resamples of test models (0: no intervals)"
    )
    probe.add_argument("--repeats", type=int, default=1, help="k split seeds: mean ± std")
    output_arguments(
        probe,
        "also write probes.json (a report per split), probes.csv (a row per method x target) "
        "and predicted.png (predicted vs true test accuracy) in this directory",
        required=False,
        overwrite="replace those files in --out",
    )
    for flag in OUTPUTS:  # the old spelling, one file each
        probe.add_argument(f"--{flag}", metavar="FILE", help=argparse.SUPPRESS)
    probe.set_defaults(run=_probe)
