"""Import a zoo of the Small CNN Zoo's real size and layout in bounded memory.

Writes a synthetic Small CNN Zoo (270,000 checkpoints x 4,970 float32 = 5.4 GB weights.npy,
metrics.csv.gz with the published columns, layout.csv with TensorFlow names, bias before
kernel), imports it in a fresh process and prints that process's throughput and peak RSS:

    import: <checkpoints/s>, peak <MB> MB

With ``--fit``, one epoch of a tiny SANE on the imported zoo follows (also its own process):

    fit: <s> s for 1 epoch of <n> training checkpoints, peak <MB> MB

    python benchmarks/import_scale.py [--rows 270000] [--work /tmp/import-scale] [--fit]
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from _fresh import fresh_process

STEPS = (0, 1, 2, 3, 20, 40, 60, 80, 86)
LAYOUT = [  # (varname, shape) in TensorFlow's alphabetical order
    ("sequential/conv2d/bias:0", (16,)),
    ("sequential/conv2d/kernel:0", (3, 3, 1, 16)),
    ("sequential/conv2d_1/bias:0", (16,)),
    ("sequential/conv2d_1/kernel:0", (3, 3, 16, 16)),
    ("sequential/conv2d_2/bias:0", (16,)),
    ("sequential/conv2d_2/kernel:0", (3, 3, 16, 16)),
    ("sequential/dense/bias:0", (10,)),
    ("sequential/dense/kernel:0", (16, 10)),
]
WIDTH = 4970


def write_source(root: Path, rows: int) -> None:
    root.mkdir(parents=True)
    lines, start = ["varname,start_idx,end_idx,size,shape"], 0
    for name, shape in LAYOUT:
        size = int(np.prod(shape))
        text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        lines.append(f'{name},{start},{start + size},{size},"{text}"')
        start += size
    (root / "layout.csv").write_text("\n".join(lines) + "\n")
    header = np.lib.format.open_memmap(root / "weights.npy", "w+", "<f4", (rows, WIDTH))
    del header  # the header is written; rows follow as plain appends (no mapping in memory)
    rng = np.random.default_rng(0)
    block = rng.normal(0, 0.1, (4096, WIDTH)).astype("<f4")
    offset = (root / "weights.npy").stat().st_size - rows * WIDTH * 4
    with open(root / "weights.npy", "r+b") as handle:
        handle.seek(offset)
        for begin in range(0, rows, len(block)):
            n = min(len(block), rows - begin)
            (block[:n] + np.float32(begin % 7)).tofile(handle)
    models = np.arange(rows) // len(STEPS)
    table = pa.table(
        {
            "config.activation": np.where(models % 2, "relu", "tanh"),
            "config.b_init": ["zeros"] * rows,
            "config.dataset": ["mnist"] * rows,
            "config.dnn_architecture": ["cnn"] * rows,
            "config.dropout": (models % 5) / 10,
            "config.epochs": [86] * rows,
            "config.epochs_between_checkpoints": [20] * rows,
            "config.init_std": 0.01 * (1 + models % 3),
            "config.l2reg": 1e-4 * (1 + models % 4),
            "config.learning_rate": 1e-3 * (1 + models % 6),
            "config.num_layers": [3] * rows,
            "config.num_units": [16] * rows,
            "config.optimizer": np.where(models % 3, "adam", "sgd"),
            "config.random_seed": models + 1000,
            "config.train_fraction": 0.1 * (1 + models % 10),
            "config.w_init": np.where(models % 2, "he_normal", "glorot_uniform"),
            "modeldir": [f"gs://zoo/mnist/run_{m:06d}" for m in models],
            "step": np.tile(STEPS, rows // len(STEPS) + 1)[:rows],
            "test_accuracy": rng.uniform(0.1, 0.99, rows),
            "test_loss": rng.uniform(0.1, 2.3, rows),
            "train_accuracy": rng.uniform(0.1, 0.99, rows),
            "train_loss": rng.uniform(0.1, 2.3, rows),
        }
    )
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    (root / "metrics.csv.gz").write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1))


_CHILD = """
import resource, sys, time
t = time.perf_counter()
{body}
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {{seconds}} {{peak}}")
"""


def child(body: str) -> tuple[float, float]:
    seconds, peak = fresh_process(_CHILD.format(body=body))
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=270_000)
    parser.add_argument("--work", default="/tmp/import-scale")
    parser.add_argument("--fit", action="store_true", help="then fit a tiny SANE for one epoch")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    write_source(work / "source", args.rows)
    size = (work / "source" / "weights.npy").stat().st_size / 1e9
    print(f"wrote {args.rows} checkpoints ({size:.2f} GB) in {time.perf_counter() - t:.0f} s")
    body = (
        "from weightspace.zoo.imports import import_zoo\n"
        f"zoo = import_zoo('smallcnn', {str(work / 'source')!r}, {str(work / 'zoo')!r})\n"
        "assert len(zoo) == {rows}, len(zoo)".replace("{rows}", str(args.rows))
    )
    seconds, peak = child(body)
    print(f"import: {args.rows / seconds:.0f} checkpoints/s, peak {peak:.0f} MB ({seconds:.0f} s)")
    if args.fit:
        body = (
            "from weightspace import SANE, TrainConfig, open_zoo\n"
            f"zoo = open_zoo({str(work / 'zoo')!r}, verify=False)\n"
            "train = TrainConfig(epochs=1, batch_size=64, progress=False, probe_rows=200)\n"
            f"SANE('tiny', train=train, out={str(work / 'sane')!r}).fit(zoo)\n"
        )
        seconds, peak = child(body)
        print(f"fit: {seconds:.0f} s for 1 epoch, peak {peak:.0f} MB")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
