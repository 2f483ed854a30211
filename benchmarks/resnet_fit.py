"""Fit a hyper-representation on a zoo of CIFAR ResNet-18 checkpoints in bounded memory.

Makes a zoo of 64 CIFAR ResNet-18 networks with `import_modules` (each network is built when
the writer asks for it, so the networks are never all in memory), then in a fresh process fits
a tiny SANE (token size 288, as published for ResNets) for one epoch (the training split
streams from the shards) and embeds every checkpoint, and prints:

    fit: <s> s for 1 epoch; transform: <s> s per checkpoint embedded; peak <MB> MB

    python benchmarks/resnet_fit.py [--models 64] [--batch-size 4] [--work /tmp/resnet-fit]
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from _fresh import fresh_process

from weightspace.zoo import ArchConfig, build_model
from weightspace.zoo.imports import import_modules


class LazyNetworks(Sequence):
    """ResNet-18s made one at a time, on access (seeded by index)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.nn.Module:
        if not 0 <= i < self.n:
            raise IndexError(i)
        torch.manual_seed(i)
        return build_model(ArchConfig("resnet18", (3, 32, 32), 10, activation="relu"))


_CHILD = """
import resource, time
import numpy as np
from dataclasses import replace
from weightspace import SANE, TrainConfig, open_zoo
from weightspace.models.sane import SANE_PRESETS
zoo = open_zoo({zoo!r}, verify=False)
t = time.perf_counter()
train = TrainConfig(epochs=1, batch_size={batch}, progress=False, probe_rows=16)
config = replace(SANE_PRESETS["tiny"], token_size=288)  # the published ResNet token size
encoder = SANE("tiny", config=config, train=train).fit(zoo)
fit = time.perf_counter() - t
t = time.perf_counter()
z = encoder.transform(zoo, batch_size=4)
per = (time.perf_counter() - t) / len(zoo)
assert z.shape[0] == len(zoo) and np.isfinite(z).all()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {{fit}} {{per}} {{peak}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--work", default="/tmp/resnet-fit")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t = time.perf_counter()
    meta = [{"model_id": i, "epoch": 0, "test_acc": 0.1 + i / 1000} for i in range(args.models)]
    zoo = import_modules(LazyNetworks(args.models), meta, work / "zoo", name="resnet18")
    print(f"zoo: {len(zoo)} ResNet-18 checkpoints in {time.perf_counter() - t:.0f} s")
    code = _CHILD.format(zoo=str(work / "zoo"), batch=args.batch_size)
    fit, per, peak = fresh_process(code)
    print(
        f"fit: {fit:.0f} s for 1 epoch; transform: {per:.2f} s per checkpoint embedded; "
        f"peak {peak:.0f} MB"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
