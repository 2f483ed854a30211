"""The full probe table of a demo run, on the grouped and the plain split: W, s(W), WeightWatcher,
HyperRep and SANE (each pooling) against every property of the zoo, with 95 % intervals.

    python benchmarks/probe_table.py --demo runs/demo [--bootstrap 1000]

The grouped table reuses the demo's encoders (trained on the grouped split); an encoder is only
probed on the split it was trained on, so the plain table fits the same two encoders again on
the plain split (into ``DEMO/plain/``, reused when run again).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from weightspace.demo import DEMOS, HYPERREP, ZOO
from weightspace.encoders import SANE, HyperRep, load_encoder
from weightspace.probe.features import (
    EncoderFeatures,
    FlatWeights,
    WeightStatistics,
    WeightWatcherFeatures,
)
from weightspace.probe.run import run_probes
from weightspace.reproduce.findings import fitted_encoder
from weightspace.tokens.splits import PLAIN, SplitConfig
from weightspace.zoo.reader import open_zoo


def _plain_encoders(out: Path, config, zoo):  # noqa: ANN001, ANN202
    """The demo's SANE and HyperRep trained on the plain split (fitted once, then reused)."""
    train = replace(config.train, splits=PLAIN, progress=False)
    sane = fitted_encoder(out, "sane", zoo, lambda: SANE(config=config.encoder, train=train))
    hyperrep = fitted_encoder(
        out,
        HYPERREP,
        zoo,
        lambda: HyperRep(config.hyperrep, train=replace(train, behaviour_weight=None)),
    )
    return sane, hyperrep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="runs/demo", help="a full `weightspace demo` run")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    demo = Path(args.demo)
    config = DEMOS["full"]
    zoo = open_zoo(demo / ZOO)
    for split in (SplitConfig(), PLAIN):
        start = time.perf_counter()
        if split == PLAIN:
            sane, hyperrep = _plain_encoders(demo / "plain", config, zoo)
        else:
            sane, hyperrep = load_encoder(demo / "sane"), load_encoder(demo / HYPERREP)
        methods = [FlatWeights(), WeightStatistics(), WeightWatcherFeatures()]
        methods.append(EncoderFeatures(hyperrep, "HyperRep"))
        methods += [EncoderFeatures(sane, f"SANE ({p})", p) for p in ("mean", "layer", "tokens")]
        report = run_probes(zoo, methods, split, bootstrap=args.bootstrap)
        print(report.title())
        print(report.markdown())
        print(f"({time.perf_counter() - start:.0f} s)\n")


if __name__ == "__main__":
    main()
