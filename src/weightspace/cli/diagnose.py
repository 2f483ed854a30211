"""`weightspace diagnose grid | metrics | fit | evaluate | model` (MD tree, Zhou et al. 2024)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from weightspace.cli.common import (
    config_flags,
    defer,
    group,
    input_argument,
    output_arguments,
    start_over,
)
from weightspace.config import config_from_args


def _grid(args: argparse.Namespace) -> None:
    from weightspace.diagnose import DiagnosisGridConfig, grid_preset, train_grid

    base = grid_preset(args.preset) if args.preset else None
    config = config_from_args(DiagnosisGridConfig, args, base=base)
    start_over(args)
    cells = train_grid(config, args.out, progress=not args.quiet)
    print(f"wrote {len(cells)} cells of {config.seeds} seeds to {args.out}")


def _metrics(args: argparse.Namespace) -> None:
    from weightspace.diagnose import MetricsConfig, compute_metrics

    config = config_from_args(MetricsConfig, args)
    table = compute_metrics(args.zoo, args.out, config, args.overwrite, progress=not args.quiet)
    print(f"wrote {len(table['bs'])} configurations to {args.out}")


def _fit(args: argparse.Namespace) -> None:
    from weightspace.diagnose import read_metrics
    from weightspace.diagnose.protocols import EvaluateConfig, md_tree, usable
    from weightspace.zoo.storage import check_output_file

    check_output_file(args.out, args.out_flag, args.overwrite, (args.train,))  # not its input
    config = EvaluateConfig(
        question=args.question, search=args.search, bounds=args.bounds, passes=args.passes
    )
    table = usable(read_metrics(metrics_table(args.train)), config)
    tree = md_tree(config).fit(table)
    tree.save(args.out)
    features = [t.feature for t in tree.shape.thresholds]
    print(f"fitted on {len(table['bs'])} rows, training accuracy {100 * tree.score(table):.1f} %")
    for name, value in zip(features, tree.thresholds_, strict=True):
        print(f"  {name} <= {value:.4g}")
    print(f"wrote {args.out}")


def _evaluate(args: argparse.Namespace) -> None:
    from weightspace.diagnose import EvaluateConfig, evaluate, format_results, read_metrics
    from weightspace.diagnose.protocols import case_config, format_paper_table, paper_table

    base = case_config(args.case) if args.case else None  # flags override the case's settings
    config = config_from_args(EvaluateConfig, args, base=base)
    if args.out:  # before the work: an existing file or one of the inputs is never replaced
        from weightspace.zoo.storage import check_output_file

        check_output_file(args.out, args.out_flag, args.overwrite, (args.train, args.test))
    train, test = read_metrics(metrics_table(args.train)), read_metrics(metrics_table(args.test))
    if args.paper_table:
        results = paper_table(train, test, config)
        print(format_paper_table(results))
    else:
        results = evaluate(train, test, config)
        print(format_results(results, config))
    if args.out:
        from weightspace.zoo.storage import atomic_write_json

        atomic_write_json(Path(args.out), {"config": config.__dict__, "results": results})
        print(f"wrote {args.out}")


METRICS, TREE = "metrics.parquet", "tree.json"  # what `metrics` and `fit` write in --out DIR


def in_folder(path: str, name: str) -> str:
    """An input given as the --out DIR of the command that wrote it stands for DIR/``name``."""
    return str(Path(path) / name) if Path(path).is_dir() else path


def metrics_table(path: str) -> str:
    return in_folder(path, METRICS)


SHOWN = ("train_error", "test_error", "hessian_t", "hessian_e", "mode_connectivity",
         "mode_connectivity_peak", "CKA")  # fmt: skip


def _model(args: argparse.Namespace) -> None:
    from weightspace.diagnose import MDTree, MetricsConfig, diagnose_zoo

    config = config_from_args(MetricsConfig, args)  # settings first: a misspelt key fails fast
    tree = MDTree.load(in_folder(args.tree, TREE))
    for row, label, path in diagnose_zoo(args.zoo, tree, config):
        print(f"{row['zoo']} (width {row['width']}, batch {row['bs']}, data {row['data']}/10, "
              f"{row['n_seeds']} seeds): {tree.shape.label} = {label}")  # fmt: skip
        for line in path:
            print(f"  {line}")
        shown = {k: row[k] for k in SHOWN}
        print("  metrics: " + json.dumps({k: round(float(v), 4) for k, v in shown.items()}))


def _preset_flag(grid: argparse.ArgumentParser) -> None:
    from weightspace.diagnose.config import GRID_PRESETS

    grid.add_argument("--preset", choices=tuple(GRID_PRESETS), help="a named grid")


def _question_flag(fit: argparse.ArgumentParser) -> None:
    from weightspace.diagnose.config import SHAPES

    fit.add_argument("--question", choices=tuple(SHAPES), default="temperature")


def register(commands: argparse._SubParsersAction) -> None:
    sub = group(commands, "diagnose", "why a model fell short: loss-landscape metrics, MD tree")
    grid = sub.add_parser("grid", help="train a width x batch x data grid (one zoo per cell)")
    defer(grid, _preset_flag)  # the preset names: read once the command is chosen
    output_arguments(grid, "grid directory (resumed if partial)")
    grid.add_argument("--quiet", action="store_true")
    config_flags(grid, "weightspace.diagnose:DiagnosisGridConfig")
    grid.set_defaults(run=_grid)

    metrics = sub.add_parser("metrics", help="landscape metrics of every configuration")
    input_argument(metrics, help="a zoo directory or a grid directory", old="ZOO")
    output_arguments(metrics, "a directory for the metrics table", file=METRICS)
    metrics.add_argument("--quiet", action="store_true")
    config_flags(metrics, "weightspace.diagnose:MetricsConfig")
    metrics.set_defaults(run=_metrics)

    fit = sub.add_parser("fit", help="fit an MD tree's thresholds; writes tree.json")
    fit.add_argument(
        "--train", required=True, help="metrics table (.parquet, published .csv, or a DIR of it)"
    )
    defer(fit, _question_flag)
    fit.add_argument(
        "--search",
        choices=("bounded", "scan"),
        default="bounded",
        help="bounded scalar minimisation (published) or an exact scan",
    )
    fit.add_argument("--bounds", choices=("published", "data"), default="published")
    fit.add_argument("--passes", type=int, default=1, help="fits of each threshold in turn")
    output_arguments(fit, "a directory for the fitted tree", file=TREE)
    fit.set_defaults(run=_fit)

    ev = sub.add_parser("evaluate", help="MD tree vs baseline trees under a transfer protocol")
    ev.add_argument("--train", required=True, help="table to fit on (.parquet or .csv)")
    ev.add_argument("--test", required=True, help="table to score on (.parquet or .csv)")
    output_arguments(
        ev, "also write the results in a directory", file="evaluation.json", required=False,
        old="--json",
    )  # fmt: skip
    ev.add_argument(
        "--case",
        metavar="NAME",
        help="one of the paper's cases: random-configs, data-le-5k, params-le-0.011M, "
        "random-data-fractions (flags given too override its settings)",
    )
    ev.add_argument(
        "--paper-table",
        action="store_true",
        help="run the paper's five cases and print them beside its published accuracies",
    )
    config_flags(ev, "weightspace.diagnose:EvaluateConfig")
    ev.set_defaults(run=_evaluate)

    model = sub.add_parser("model", help="diagnose the configuration(s) of a zoo with a tree")
    input_argument(model, help="a zoo directory holding >= 2 seeds of a configuration", old="ZOO")
    model.add_argument("--tree", required=True, help="tree.json from `diagnose fit` (or its DIR)")
    config_flags(model, "weightspace.diagnose:MetricsConfig")
    model.set_defaults(run=_model)
