"""`weightspace demo | report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from weightspace.cli.common import check_device, output_arguments, start_over


def _demo(args: argparse.Namespace) -> None:
    check_device(args.device)  # before anything is written
    from weightspace.demo import DEMOS, REPORT, run_demo, summary

    config = DEMOS["quick" if args.quick else "full"]
    _check_out(Path(args.out))
    start_over(args, ours=lambda _: True)  # _check_out found a demo run (or nothing) there
    results = run_demo(args.out, config, progress=not args.quiet, device=args.device)
    print(summary(results))
    print(f"open {Path(args.out) / REPORT}")


def _check_out(out: Path) -> None:
    """``out`` is new, empty, or a demo run directory to resume: a folder of other files (say a
    ``report.html`` of the user's) is refused before minutes of work, not overwritten after."""
    from weightspace.demo import EMBEDDINGS, ENCODER, HYPERREP, RESULTS, SAMPLES, ZOO
    from weightspace.errors import ConfigError
    from weightspace.report.html import REPORT
    from weightspace.zoo.storage import check_output_dir

    check_output_dir(out, "--out")
    names = {p.name for p in out.iterdir()} if out.is_dir() else set()
    ours = {ZOO, ENCODER, HYPERREP, SAMPLES, EMBEDDINGS, REPORT, RESULTS}
    # besides its outputs, a killed run leaves only hidden temporaries and work folders
    other = sorted(n for n in names - ours if not n.endswith((".tmp", ".importing")))
    if other or (names and ZOO not in names):
        shown = ", ".join(other or sorted(names))
        raise ConfigError(
            "--out",
            "a new or empty directory, or a demo run directory to resume",
            str(out),
            f"It holds files the demo would overwrite or that are not the demo's ({shown}): "
            "choose another --out",
        )


def _report(args: argparse.Namespace) -> None:
    from weightspace.report import build_report

    print(f"wrote {build_report(args.run_dir)}")


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="zoo -> SANE -> probes -> samples -> report.html, on the digits"
    )
    output_arguments(
        demo, "run directory (resumed if partial)", required=False, default="runs/demo"
    )
    demo.add_argument("--quick", action="store_true", help="a smaller run (about 65 s on 2 cores)")
    demo.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)
    report = commands.add_parser("report", help="rebuild report.html of a demo run directory")
    report.add_argument("run_dir")
    report.set_defaults(run=_report)
