"""The Small CNN Zoo (Unterthiner et al. 2020, "Predicting Neural Network Accuracy from Weights").

    weights.npy       (checkpoints, 4970) float32: one flat row per checkpoint
    metrics.csv.gz    one row per checkpoint: config.* columns (activation, w_init, dropout,
                      learning_rate, l2reg, optimizer, random_seed, train_fraction, ...),
                      ``modeldir`` (the run), ``step`` (the *epoch*: 0, 1, 2, 3, 20, ..., 86),
                      test/train accuracy and loss
                      (variant: ``all_metrics.csv`` whose first column is the checkpoint path,
                      ``.../<run id>/<file>-<step>``)
    layout.csv        varname, start_idx, end_idx, size, shape of every TensorFlow variable in
                      the flat row, in TensorFlow's alphabetical order: each bias before its
                      kernel (``sequential/conv2d/bias:0`` [0, 16), ``.../kernel:0`` [16, 160))

Kernels are TensorFlow-shaped (conv (kh, kw, in, out), dense (in, out)) and become PyTorch's
(out, in, kh, kw) / (out, in); each layer's tensors are put in PyTorch order (weight, bias,
running statistics). The rows are read in chunks from the file, never mapped or loaded whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import torch

from weightspace.errors import FileFormatError
from weightspace.zoo.architectures import ARCHITECTURES
from weightspace.zoo.imports.common import (
    FACTORS,
    METRICS,
    ImportOptions,
    factor_value,
    integral,
    with_architecture,
)
from weightspace.zoo.imports.writer import Checkpoint

CHUNK = 2048  # checkpoints read from weights.npy at a time
# TensorFlow leaf name -> PyTorch name and its place within a layer
LEAVES = {
    "kernel": ("weight", 0),
    "gamma": ("weight", 0),
    "bias": ("bias", 1),
    "beta": ("bias", 1),
    "moving_mean": ("running_mean", 2),
    "moving_variance": ("running_var", 3),
}


def read_smallcnn(root: Path, options: ImportOptions):  # noqa: ANN201
    """(checkpoints streamed in file order, registry architecture or None)."""
    rows, width, header = _npy(root / "weights.npy")
    metrics, metrics_path = _metrics_table(root)
    if metrics.num_rows != rows:
        raise FileFormatError(
            metrics_path,
            f"{metrics.num_rows} rows for {rows} rows of weights.npy",
            "Use the files of one zoo",
        )
    layout = _layout(_read_csv(root / "layout.csv"), width, root / "layout.csv")
    model_ids, epochs = _identify(metrics, metrics_path)
    stream = _checkpoints(root / "weights.npy", header, width, metrics, layout, model_ids, epochs)
    names = ("smallcnn", *(n for n in ARCHITECTURES if n not in ("smallcnn", "resnet18")))
    return with_architecture(stream, options, names)


def _npy(path: Path) -> tuple[int, int, int]:
    """(rows, row width, header bytes) of a 2-D little-endian float32 .npy file."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                version, np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(handle)
            header = handle.tell()
    except (OSError, ValueError) as err:
        raise FileFormatError(
            path,
            f"refused or unreadable ({err})",
            "weights.npy must be a plain float array (pickles are refused)",
        ) from None
    if dtype.hasobject:
        raise FileFormatError(
            path,
            "holds Python objects (a pickle)",
            "weights.npy must be a plain float32 array; pickles are refused and never loaded",
        )
    if len(shape) != 2 or fortran or dtype != np.dtype("<f4"):
        raise FileFormatError(path, f"expected a 2-D float32 array, got {dtype} {shape}")
    return shape[0], shape[1], header


def _metrics_table(root: Path) -> tuple[pa.Table, Path]:
    for name in ("metrics.csv.gz", "metrics.csv", "all_metrics.csv.gz", "all_metrics.csv"):
        if (root / name).is_file():
            return _read_csv(root / name), root / name
    raise FileFormatError(root / "metrics.csv.gz", "missing", "The Small CNN Zoo ships this file")


def _read_csv(path: Path) -> pa.Table:
    if not path.is_file():
        raise FileFormatError(path, "missing", "The Small CNN Zoo ships this file")
    try:
        return pacsv.read_csv(path)
    except (pa.ArrowException, OSError, EOFError) as err:
        raise FileFormatError(path, f"unreadable CSV ({err})") from None


def _layout(layout: pa.Table, width: int, path: Path) -> list[tuple[str, int, int, Callable]]:
    """[(PyTorch key, start, end, converter)] in PyTorch state-dict order."""
    for column in ("varname", "start_idx", "end_idx", "shape"):
        if column not in layout.column_names:
            raise FileFormatError(path, f"missing column {column!r}")
    entries, layers, spans = {}, [], []
    for row in layout.to_pylist():
        shape = tuple(int(v) for v in re.findall(r"\d+", str(row["shape"])))
        start, end = int(row["start_idx"]), int(row["end_idx"])
        name = str(row["varname"])
        if end - start != int(np.prod(shape)) or not 0 <= start < end <= width:
            raise FileFormatError(
                path, f"{name}: slice {start}:{end} does not fit shape {shape} in {width} values"
            )
        layer, _, leaf = name.rpartition("/")
        leaf = leaf.split(":")[0]
        torch_name, place = LEAVES.get(leaf, (leaf, 4))
        key = f"{layer.replace('/', '.') or 'layer'}.{torch_name}"
        if key in entries:
            raise FileFormatError(
                path, f"{name} and {entries[key][0]} both map to {key}", "Fix the variable names"
            )
        if layer not in layers:
            layers.append(layer)
        entries[key] = (name, layers.index(layer), place, start, end, _converter(shape))
        spans.append((start, end, name))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise FileFormatError(path, f"{first} and {second} overlap", "Fix the indices")
    ordered = sorted(entries.items(), key=lambda item: (item[1][1], item[1][2]))
    return [(key, start, end, conv) for key, (_, _, _, start, end, conv) in ordered]


def _converter(shape: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    """TensorFlow layout -> PyTorch: conv (kh, kw, in, out) -> (out, in, kh, kw); dense (in, out)
    -> (out, in)."""
    if len(shape) == 4:
        return lambda v: v.view(shape).permute(3, 2, 0, 1).contiguous()
    if len(shape) == 2:
        return lambda v: v.view(shape).T.contiguous()
    return lambda v: v.view(shape).clone()


def _identify(metrics: pa.Table, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Model id and epoch of every row: ``modeldir`` (or the path column's run id) and
    ``step``; without them, the config columns and the row order within a model."""
    names = metrics.column_names
    runs = None
    if "model_id" in names:  # written by our own export
        runs = metrics.column("model_id").to_pylist()
    elif "modeldir" in names:
        runs = metrics.column("modeldir").to_pylist()
    elif names and _is_path_column(metrics.column(names[0])):
        paths = [str(p) for p in metrics.column(names[0]).to_pylist()]
        runs = [p.rstrip("/").split("/")[-2] if "/" in p else p for p in paths]
    if runs is None:
        configs = [c for c in names if c.startswith("config.")]
        runs = list(zip(*(metrics.column(c).to_pylist() for c in configs), strict=True))
    index: dict[object, int] = {}
    if "model_id" in names:
        model_ids = np.array([integral(r, f"{path}: model_id") for r in runs], dtype=np.int64)
    else:
        model_ids = np.array([index.setdefault(r, len(index)) for r in runs], dtype=np.int64)
    for name in ("step", "epoch"):
        if name in names:
            values = metrics.column(name).to_pylist()
            epochs = [
                integral(v, f"{path}: column {name!r}, row {i}") for i, v in enumerate(values)
            ]
            return model_ids, np.array(epochs, dtype=np.int64)
    if names and _is_path_column(metrics.column(names[0])):
        ends = [str(p).rsplit("-", 1)[-1] for p in metrics.column(names[0]).to_pylist()]
        return model_ids, np.array([integral(e, f"{path}: checkpoint step") for e in ends])
    counts: dict[int, int] = {}  # no epoch column: number each model's rows in file order
    epochs = []
    for m in model_ids.tolist():
        epochs.append(counts.get(m, 0))
        counts[m] = epochs[-1] + 1
    return model_ids, np.array(epochs, dtype=np.int64)


def _is_path_column(column: pa.ChunkedArray) -> bool:
    return pa.types.is_string(column.type) and "/" in str(column[0].as_py() or "")


def _values(metrics: pa.Table) -> tuple[list[str], list[str]]:
    """(source columns, stored names): metrics and factors by our names, other config.* as is."""
    sources, targets = [], []
    for name in metrics.column_names:
        target = METRICS.get(name) or FACTORS.get(name)
        if target is None and name.startswith("config."):
            target = name.removeprefix("config.")
        if name == "modeldir":  # the run each row came from: kept, and written back on export
            target = "modeldir"
        if target and target not in targets and target not in ("model_id", "epoch"):
            sources.append(name)
            targets.append(target)
    return sources, targets


def _checkpoints(path, header, width, metrics, layout, model_ids, epochs) -> Iterator[Checkpoint]:  # noqa: ANN001
    sources, targets = _values(metrics)
    rows = metrics.num_rows
    with open(path, "rb") as handle:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            handle.seek(header + start * width * 4)
            block = np.fromfile(handle, dtype="<f4", count=n * width)
            if block.size != n * width:
                raise FileFormatError(path, "shorter than its header says", "Download it again")
            block = torch.from_numpy(block.reshape(n, width))
            chunk = metrics.slice(start, n).select(sources).to_pylist()
            for i in range(n):
                values = {
                    t: factor_value(s, chunk[i][s]) for s, t in zip(sources, targets, strict=True)
                }
                yield Checkpoint(
                    int(model_ids[start + i]),
                    int(epochs[start + i]),
                    values=values,
                    load=_row_loader(block[i], layout),
                )


def _row_loader(flat: torch.Tensor, layout: list) -> Callable:  # noqa: ANN001
    def load() -> tuple[dict[str, torch.Tensor], str]:
        return {key: convert(flat[start:end]) for key, start, end, convert in layout}, ""

    return load
