"""`weightspace zoo sparsify | compare`: sparsified twins of a zoo and how they compare."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from weightspace.cli.common import (
    check_device,
    config_flags,
    group,
    input_argument,
    output_arguments,
    start_over,
)
from weightspace.config import config_from_args
from weightspace.errors import ConfigError

OUTPUTS = ("comparison.json", "comparison.md", "twins.html")


def _sparsify(args: argparse.Namespace) -> None:
    import numpy as np

    from weightspace.sparsify import SparsifyConfig, sparsify_zoo

    config = config_from_args(SparsifyConfig, args)
    check_device(config.device)  # before anything is written
    start_over(args, (args.zoo,))
    twin = sparsify_zoo(args.zoo, args.out, config, progress=not args.quiet)
    ok = twin.column("status") == "ok"
    last = twin.column("epoch") == twin.column("epoch").max()
    print(
        f"wrote {len(twin)} twin checkpoints of {len(np.unique(twin.column('original_model_id')))}"
        f" models ({config.method}) to {args.out}"
    )
    key = "target_sparsity" if config.method == "magnitude" else "epoch"
    for value in np.unique(twin.column(key)[ok & last]):
        pick = ok & last & (twin.column(key) == value)
        print(
            f"  {key} {value:g}: sparsity {twin.column('sparsity')[pick].mean():.3f}, "
            f"test_acc {twin.column('test_acc')[pick].mean():.3f} "
            f"(originals {twin.column('original_test_acc')[pick].mean():.3f})"
        )


def _compare(args: argparse.Namespace) -> None:
    from weightspace.sparsify.compare import compare_twins, summary_table
    from weightspace.sparsify.report import FIGURES, twins_section, write_figures
    from weightspace.zoo.storage import atomic_write_bytes

    out = Path(args.out) if args.out else None
    if out is not None:
        taken = [n for n in (*OUTPUTS, *FIGURES) if (out / n).exists()]
        if out.exists() and not out.is_dir():
            raise ConfigError("--out", "a directory", str(out), "Choose another --out")
        if taken and not args.overwrite:
            raise ConfigError(
                "--out",
                "a directory without earlier results",
                f"{out} has {taken[0]}",
                "Choose another --out, or pass --overwrite",
            )
    result = compare_twins(args.zoo, args.twin)
    table = summary_table([result])
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / OUTPUTS[0], (json.dumps(result, indent=1) + "\n").encode())
        atomic_write_bytes(out / OUTPUTS[1], (table + "\n").encode())
        atomic_write_bytes(out / OUTPUTS[2], twins_section([result]).encode())
        write_figures([result], out)
        print(f"wrote {', '.join(OUTPUTS)} and {len(FIGURES)} figures to {out}")


def register(commands: argparse._SubParsersAction) -> None:
    zoo = group(commands, "zoo", "create, import and inspect model zoos")
    sparsify = zoo.add_parser(
        "sparsify",
        help="sparsify every model of a zoo into a twin zoo (magnitude pruning or VD)",
        description="Write a twin zoo: every model pruned by magnitude (one twin per sparsity "
        "level, fine-tuned with the masks fixed) or sparsified by variational dropout (a "
        "checkpoint per epoch). The twin links to its original; rerun to resume.",
    )
    input_argument(sparsify, help="the original zoo directory", old="ZOO")
    output_arguments(sparsify, "the twin zoo directory to write (a partial one is resumed)")
    sparsify.add_argument("--quiet", action="store_true", help="no progress bar")
    config_flags(sparsify, "weightspace.sparsify.config:SparsifyConfig")
    sparsify.set_defaults(run=_sparsify)
    compare = zoo.add_parser(
        "compare", help="accuracy vs sparsity, agreement and correlation of twins and originals"
    )
    input_argument(compare, help="the original zoo", old="ORIGINAL")
    input_argument(compare, "--twin", "a twin zoo written by `zoo sparsify`", old="TWIN")
    output_arguments(
        compare,
        "a directory for comparison.json, the table and figures",
        required=False,
        overwrite="replace earlier results in --out",
    )
    compare.set_defaults(run=_compare)
