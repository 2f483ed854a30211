"""Peak memory of the population trainer: checkpoints written as made vs a kept history.

Trains one population shard of ``--models`` CIFAR ResNet-18 networks (11.2 M parameters each)
for ``--epochs`` epochs with a checkpoint every epoch, on a few random 3x32x32 images (the
work per step does not matter here, the weights do), in fresh processes:

- ``streamed``: `train_shard`, as `weightspace zoo create` runs it: each epoch's checkpoints
  go to a shard file the moment they are made;
- ``streamed, 1 epoch``: the same for one epoch (the floor: one checkpoint of the population);
- ``kept``: `Population.train` without a checkpoint callback, holding the whole history, as
  the trainer did before.

Prints the peak RSS of each and ``history/streamed: <ratio>x``; the streamed peak should not
grow with the number of epochs.

    python benchmarks/population_memory.py [--models 4] [--epochs 10] [--work /tmp/pop-mem]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from _fresh import fresh_process

_CHILD = """
import resource, time
import torch
from weightspace.zoo import DatasetConfig, ZooConfig
from weightspace.zoo.create import Shard, train_shard
from weightspace.zoo.datasets import Splits
from weightspace.zoo.population import Population

g = torch.Generator().manual_seed(0)
def split(n):
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
splits = Splits(*split(8), *split(4), *split(4), num_classes=10)
config = ZooConfig(name="resnet-memory", architecture="resnet18", dataset=DatasetConfig("digits"),
                   seeds={models}, epochs={epochs}, batch_size=4, shard_size={models})
specs = config.members(splits.input_shape, splits.num_classes)
t = time.perf_counter()
if {mode!r} == "kept":
    result = Population(specs, splits, 4).train(config.epochs)
    stored = sum(v.numel() * v.element_size() for v in result.weights.values())
else:
    train_shard(config, Shard(0, tuple(specs)), {out!r}, splits)
    stored = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {{peak}} {{time.perf_counter() - t}} {{stored / 2**20}}")
"""


def _run(mode: str, models: int, epochs: int, out: Path) -> tuple[float, float, float]:
    code = _CHILD.format(mode=mode, models=models, epochs=epochs, out=str(out))
    peak, seconds, stored = fresh_process(code)
    return peak, seconds, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", default="/tmp/pop-mem")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.models} x ResNet-18, checkpoint every epoch, {args.epochs} epochs "
        f"({args.epochs + 1} checkpoints per model)"
    )
    floor, _, _ = _run("streamed", args.models, 1, work / "one")
    print(f"streamed, 1 epoch: peak {floor:.0f} MB")
    streamed, seconds, _ = _run("streamed", args.models, args.epochs, work / "all")
    written = sum(p.stat().st_size for p in (work / "all" / "shards").iterdir()) / 2**20
    print(f"streamed: peak {streamed:.0f} MB ({seconds:.0f} s; {written:.0f} MB written)")
    kept, seconds, stored = _run("kept", args.models, args.epochs, work / "kept")
    print(f"kept: peak {kept:.0f} MB ({seconds:.0f} s; history {stored:.0f} MB)")
    print(f"streamed {args.epochs} epochs / 1 epoch: {streamed / floor:.2f}x")
    print(f"history/streamed: {kept / streamed:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
