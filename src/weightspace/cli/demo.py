"""`weightspace demo | report`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _demo(args: argparse.Namespace) -> None:
    from weightspace.demo import DEMOS, REPORT, run_demo, summary

    config = DEMOS["quick" if args.quick else "full"]
    results = run_demo(args.out, config, progress=not args.quiet, device=args.device)
    print(summary(results))
    print(f"open {Path(args.out) / REPORT}")


def _report(args: argparse.Namespace) -> None:
    from weightspace.report import build_report

    print(f"wrote {build_report(args.run_dir)}")


def register(commands: argparse._SubParsersAction) -> None:
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
