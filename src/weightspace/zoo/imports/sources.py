"""Importers for the zoos that exist, each turning a layout on disk into `Checkpoint` rows.

- ``modelzoos``: the Model Zoos dataset (modelzoos.cc): one Ray Tune trial folder per model with
  ``params.json``, ``result.json`` (a JSON line per epoch) and ``checkpoint_000025/checkpoints``
  (older zoos: ``checkpoint_25``) holding ``torch.save(state_dict)``.
- ``smallcnn``: the Small CNN Zoo (Unterthiner et al. 2020): ``weights.npy`` (a flat row per
  checkpoint), ``metrics.csv`` or ``metrics.csv.gz`` (a row per checkpoint) and ``layout.csv``
  (``varname, start_idx, end_idx, shape`` of each TensorFlow variable in the flat row).
- ``folder``: ``*.safetensors`` / ``*.pt`` state dicts with a ``metadata.csv`` whose ``file``
  column names them (optional ``model_id`` and ``epoch``; other columns become metadata).
- `import_modules`: a list of ``nn.Module`` objects with a metadata table, from Python.

Checkpoints whose architecture matches a registry one get its key names, so ``zoo.model(row)``
works; any other network keeps its keys and gets a spec inferred from its state dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import torch
from torch import nn

from weightspace.errors import ConfigError, FileFormatError, WeightspaceError, check_choice
from weightspace.zoo.architectures import ARCHITECTURES, ArchConfig
from weightspace.zoo.imports.load import load_state_dict
from weightspace.zoo.imports.writer import Checkpoint, match_architecture, renamed, write_zoo
from weightspace.zoo.layers import ACTIVATIONS
from weightspace.zoo.reader import Zoo

FORMATS = ("modelzoos", "smallcnn", "folder")
_SIZES = (28, 32, 8, 4, 16, 64)
_ACTIVATIONS = {"leakyrelu": "leaky_relu", "leaky_relu": "leaky_relu"}
_METRICS = {
    "test_acc": "test_acc",
    "test_accuracy": "test_acc",
    "train_acc": "train_acc",
    "train_accuracy": "train_acc",
    "val_acc": "val_acc",
    "validation_accuracy": "val_acc",
    "test_loss": "test_loss",
    "train_loss": "train_loss",
    "val_loss": "val_loss",
    "ggap": "ggap",
}
_FACTORS = {
    "model::nlin": "activation",
    "config.activation": "activation",
    "model::dropout": "dropout",
    "config.dropout": "dropout",
    "model::init_type": "init",
    "config.w_init": "init",
    "optim::optimizer": "optimizer",
    "config.optimizer": "optimizer",
    "optim::lr": "lr",
    "config.learning_rate": "lr",
    "optim::wd": "weight_decay",
    "config.l2reg": "weight_decay",
    "seed": "seed",
    "config.train_fraction": "train_fraction",
}


def _candidates(state: dict[str, torch.Tensor], names: Sequence[str] = ()) -> list[ArchConfig]:
    """Registry architectures worth trying for ``state``: input sizes x channels, its classes."""
    # the output layer's width is one of the tensors' leading sizes (the last one, unless the
    # file kept no order, as safetensors files do)
    leading = [int(v.shape[0]) for v in reversed(state.values()) if v.dim() >= 1]
    classes = [c for c in dict.fromkeys(leading) if c >= 2][:8] or [10]
    names = list(names) or [n for n in ARCHITECTURES if n != "resnet18" or len(state) > 100]
    return [
        ArchConfig(name, (channels, size, size), n_classes)
        for n_classes in classes
        for name in names
        for channels in (1, 3)
        for size in _SIZES
    ]


def _with_architecture(
    checkpoints: list[Checkpoint], names: Sequence[str] = ()
) -> tuple[list[Checkpoint], ArchConfig | None]:
    """Rename every state by position when the first readable one matches a registry network."""
    first = next((c.state for c in checkpoints if c.state is not None), None)
    match = match_architecture(first, _candidates(first, names)) if first else None
    if match is None:
        return checkpoints, None
    arch, keys, by_name = match
    for c in checkpoints:
        fits = set(c.state or ()) == set(keys) if by_name else len(c.state or ()) == len(keys)
        if fits:
            c.state = renamed(c.state, keys, by_name)
    return checkpoints, arch


def _load(path: Path) -> tuple[dict[str, torch.Tensor] | None, str]:
    try:
        return load_state_dict(path), ""
    except FileFormatError as err:
        return None, str(err)


# ---- modelzoos.cc -------------------------------------------------------------------------
_CHECKPOINT = re.compile(r"checkpoint_0*(\d+)$")
_TYPES = {"CNN": ("cnn-s",), "CNN2": ("cnn-l",), "CNN3": ("cnn-l",), "MLP": ("mlp",)}


def read_modelzoos(root: Path) -> tuple[list[Checkpoint], ArchConfig | None]:
    trials = sorted({p.parent for p in root.rglob("params.json")})
    if not trials:
        raise FileFormatError(
            root,
            "no trial folder with a params.json found",
            "Point to the folder that holds the Ray Tune trial folders",
        )
    rows: list[Checkpoint] = []
    kinds = set()
    for model_id, trial in enumerate(trials):
        params, problem = _read_params(trial / "params.json")
        kinds.add(params.get("model::type"))
        factors = {_FACTORS[k]: _factor(k, v) for k, v in params.items() if k in _FACTORS}
        results = _read_results(trial / "result.json")
        found = False
        for entry in sorted(trial.iterdir()):
            match = _CHECKPOINT.match(entry.name)
            if not match:
                continue
            found = True
            epoch = int(match.group(1))
            file = entry / "checkpoints" if entry.is_dir() else entry
            state, error = _load(file)
            values = {**factors, **results.get(epoch, {})}
            rows.append(Checkpoint(model_id, epoch, state, values, problem or error))
        if not found:
            rows.append(Checkpoint(model_id, 0, None, factors, f"{trial.name}: no checkpoint"))
    names = _TYPES.get(next(iter(kinds)), ()) if len(kinds) == 1 else ()
    return _with_architecture(rows, names)


def _read_params(path: Path) -> tuple[dict, str]:
    try:
        params = json.loads(path.read_text())
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
        return params, ""
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return {}, f"{path}: unreadable params.json ({err})"


def _factor(key: str, value: object) -> object:
    if _FACTORS[key] == "activation" and isinstance(value, str):
        return _ACTIVATIONS.get(value.lower(), value.lower())
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return json.dumps(value)


def _read_results(path: Path) -> dict[int, dict]:
    """{epoch: metrics} from Ray Tune's result.json (one JSON object per line)."""
    results: dict[int, dict] = {}
    if not path.is_file():
        return results
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            epoch = int(entry["training_iteration"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of an interrupted run
        results[epoch] = {
            name: float(entry[k])
            for k, name in _METRICS.items()
            if isinstance(entry.get(k), (int, float))
        }
    return results


# ---- Small CNN Zoo ------------------------------------------------------------------------
def read_smallcnn(root: Path) -> tuple[list[Checkpoint], ArchConfig | None]:
    weights = _load_npy(root / "weights.npy")
    metrics = _read_csv(root, ("metrics.csv", "metrics.csv.gz"))
    layout = _read_csv(root, ("layout.csv",))
    if len(metrics) != len(weights):
        raise FileFormatError(
            root / "metrics.csv",
            f"{len(metrics)} rows for {len(weights)} rows of weights.npy",
            "Use the files of one zoo",
        )
    slices = _layout(layout, weights.shape[1], root / "layout.csv")
    columns = {name: metrics.column(name).to_pylist() for name in metrics.column_names}
    model_ids = _model_ids(columns)
    epochs = _epochs(columns, model_ids)
    rows = []
    for i in range(len(weights)):
        flat = torch.from_numpy(np.array(weights[i], dtype=np.float32))
        state = {key: convert(flat[start:end]) for key, start, end, convert in slices}
        values = {}
        for name, column in columns.items():
            target = _METRICS.get(name) or _FACTORS.get(name)
            if target and target not in ("model_id", "epoch"):
                values[target] = column[i]
        rows.append(Checkpoint(model_ids[i], epochs[i], state, values))
    return rows, None


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise FileFormatError(
            path,
            f"refused or unreadable ({err})",
            "weights.npy must be a plain float array (pickles are refused)",
        ) from None
    if array.ndim != 2 or array.dtype.kind != "f":
        raise FileFormatError(path, f"expected a 2-D float array, got {array.dtype} {array.shape}")
    return array


def _read_csv(root: Path, names: Sequence[str]) -> pa.Table:
    for name in names:
        if (root / name).is_file():
            try:
                return pacsv.read_csv(root / name)
            except (pa.ArrowException, OSError) as err:
                raise FileFormatError(root / name, f"unreadable CSV ({err})") from None
    raise FileFormatError(root / names[0], "missing", "The Small CNN Zoo ships this file")


def _layout(layout: pa.Table, width: int, path: Path) -> list:
    for column in ("varname", "start_idx", "end_idx", "shape"):
        if column not in layout.column_names:
            raise FileFormatError(path, f"missing column {column!r}")
    out = []
    for row in layout.to_pylist():
        shape = tuple(int(v) for v in re.findall(r"\d+", str(row["shape"])))
        start, end = int(row["start_idx"]), int(row["end_idx"])
        if end - start != int(np.prod(shape)) or not 0 <= start < end <= width:
            raise FileFormatError(
                path,
                f"{row['varname']}: slice {start}:{end} does not fit "
                f"shape {shape} in rows of {width} values",
            )
        layer, _, leaf = str(row["varname"]).rpartition("/")
        kind = "bias" if leaf.startswith("bias") else "weight"
        key = f"{layer.replace('/', '.') or 'layer'}.{kind}"
        out.append((key, start, end, _converter(shape)))
    return sorted(out, key=lambda item: item[1])


def _converter(shape: tuple[int, ...]):  # noqa: ANN202
    """TensorFlow layout -> PyTorch: conv (kh, kw, in, out) -> (out, in, kh, kw); dense (in, out)
    -> (out, in)."""
    if len(shape) == 4:
        return lambda v: v.view(shape).permute(3, 2, 0, 1).contiguous()
    if len(shape) == 2:
        return lambda v: v.view(shape).T.contiguous()
    return lambda v: v.view(shape).clone()


def _model_ids(columns: dict[str, list]) -> list[int]:
    for name in ("model_id", "modelindex", "model_index"):
        if name in columns:
            return [int(v) for v in columns[name]]
    keys = [
        tuple(columns[c][i] for c in sorted(columns) if c.startswith("config."))
        for i in range(len(next(iter(columns.values()))))
    ]
    index: dict[tuple, int] = {}
    return [index.setdefault(k, len(index)) for k in keys]


def _epochs(columns: dict[str, list], model_ids: list[int]) -> list[int]:
    for name in ("epoch", "step", "global_step"):
        if name in columns:
            return [int(v) for v in columns[name]]
    counts: dict[int, int] = {}  # no epoch column: number each model's rows in file order
    epochs = []
    for m in model_ids:
        epochs.append(counts.get(m, 0))
        counts[m] = epochs[-1] + 1
    return epochs


# ---- a folder of state dicts --------------------------------------------------------------
def read_folder(root: Path) -> tuple[list[Checkpoint], ArchConfig | None]:
    meta_path = root / "metadata.csv"
    if not meta_path.is_file():
        raise FileFormatError(
            meta_path,
            "missing",
            "Write a metadata.csv with a 'file' column "
            "naming each checkpoint (optional: model_id, epoch, metrics)",
        )
    table = _read_csv(root, ("metadata.csv",))
    if "file" not in table.column_names:
        raise FileFormatError(meta_path, "missing column 'file'")
    rows = []
    for i, entry in enumerate(table.to_pylist()):
        path = root / str(entry.pop("file"))
        model_id = int(entry.pop("model_id", None) if entry.get("model_id") is not None else i)
        epoch = int(entry.pop("epoch", None) if entry.get("epoch") is not None else 0)
        values = {_METRICS.get(k, k): v for k, v in entry.items()}
        state, problem = _load(path) if path.is_file() else (None, f"{path}: file missing")
        rows.append(Checkpoint(model_id, epoch, state, values, problem))
    return _with_architecture(rows)


def _activation_of(module: nn.Module) -> str | None:
    """The name of the first registry activation a module uses (shapes cannot tell it)."""
    for layer in module.modules():
        for name, kind in ACTIVATIONS.items():
            if type(layer) is kind:
                return name
    return None


READERS = {"modelzoos": read_modelzoos, "smallcnn": read_smallcnn, "folder": read_folder}


def import_zoo(source: str, path: str | Path, out: str | Path, shard_size: int = 256) -> Zoo:
    """Import the zoo at ``path`` (layout ``source``, one of `FORMATS`) into ``out``.

    Example:
        >>> zoo = import_zoo("modelzoos", "~/data/mnist_hyp_fixed", "runs/mnist-hyp")
    """
    check_choice("--from", source, FORMATS)
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileFormatError(path, "not a directory", f"Point to the {source} zoo's folder")
    rows, arch = READERS[source](path)
    info = {"format": source, "path": str(path)}
    return write_zoo(out, rows, name=path.name, source=info, arch=arch, shard_size=shard_size)


def import_modules(
    modules: Sequence[nn.Module],
    metadata: Sequence[dict] | pa.Table | None,
    out: str | Path,
    name: str = "modules",
) -> Zoo:
    """A zoo from networks in memory; ``metadata[i]`` (a dict or table row) describes module i
    and may give ``model_id`` and ``epoch``."""
    records = metadata.to_pylist() if isinstance(metadata, pa.Table) else list(metadata or [])
    if records and len(records) != len(modules):
        raise ConfigError("metadata", f"{len(modules)} rows, one per module", len(records))
    if not modules:
        raise WeightspaceError("import_modules: no modules given")
    rows = []
    for i, module in enumerate(modules):
        entry = dict(records[i]) if records else {}
        model_id = int(entry.pop("model_id", i))
        epoch = int(entry.pop("epoch", 0))
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        entry.setdefault("activation", _activation_of(module))
        rows.append(Checkpoint(model_id, epoch, state, entry))
    rows, arch = _with_architecture(rows)
    return write_zoo(out, rows, name=name, source={"format": "modules"}, arch=arch)
