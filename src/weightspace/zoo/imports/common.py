"""What every importer shares: metric and factor names, and matching a registry network."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence

import torch

from weightspace.errors import ConfigError
from weightspace.zoo.architectures import ARCHITECTURES, ArchConfig
from weightspace.zoo.datasets import task_shape
from weightspace.zoo.imports.load import load_state_dict
from weightspace.zoo.imports.options import (  # noqa: F401 (LIST_ENTRIES: re-exported)
    LIST_ENTRIES,
    ImportOptions,
)
from weightspace.zoo.imports.writer import Checkpoint, match_architecture, renamer

SIZES = (28, 32, 8, 4, 16, 64)
ACTIVATIONS = {"leakyrelu": "leaky_relu", "leaky_relu": "leaky_relu"}
METRICS = {
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
FACTORS = {
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
    "config.random_seed": "seed",
    "config.train_fraction": "train_fraction",
}
# real-valued columns: a CSV writes 0.0 as "0", which must not come back as an integer column
FLOAT_FIELDS = {"dropout", "lr", "weight_decay", "train_fraction", *METRICS.values()}


def factor_value(key: str, value: object) -> object:
    """A factor as stored: activation names normalized, real-valued ones as floats (even when
    the file wrote them as integers), anything non-scalar as JSON text."""
    if FACTORS.get(key) == "activation" and isinstance(value, str):
        return ACTIVATIONS.get(value.lower(), value.lower())
    target = FACTORS.get(key) or METRICS.get(key)
    if target in FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return json.dumps(value)


def integral(value: object, what: str) -> int:
    """An epoch or id that must be a whole number (2.7 is refused, never truncated)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(what, "a whole number", value) from None
    if not number.is_integer():
        raise ConfigError(what, "a whole number", value, "Fix the value in the file")
    return int(number)


def candidates(
    state: dict[str, torch.Tensor], options: ImportOptions, names: Sequence[str] = ()
) -> list[ArchConfig]:
    """Registry architectures worth trying for ``state``: input sizes x channels, its classes.
    With a dataset given, its input shape and class count are the only ones tried."""
    if options.arch is not None:
        names = (options.arch,)
    task = options.dataset_config()
    if task is not None:
        shape, classes = task_shape(task)
        return [ArchConfig(name, shape, classes) for name in names or ARCHITECTURES]
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
        for size in SIZES
    ]


def with_architecture(
    checkpoints: Iterable[Checkpoint], options: ImportOptions, names: Sequence[str] = ()
) -> tuple[Iterator[Checkpoint], ArchConfig | None]:
    """Peek at the first readable checkpoint; when it matches a registry network, every
    checkpoint is renamed to that network's keys as it is read. ``--arch`` must match."""
    stream = iter(checkpoints)
    head: list[Checkpoint] = []
    first = None
    for ckpt in stream:
        head.append(ckpt)
        first, _ = ckpt.read()
        if first is not None:
            break
    match = match_architecture(first, candidates(first, options, names)) if first else None
    if match is None and options.arch is not None and first is not None:
        shapes = [tuple(v.shape) for v in first.values()][:4]
        raise ConfigError(
            "--arch",
            f"a network whose weights fit these checkpoints (first shapes {shapes})",
            options.arch,
            "Leave --arch out to keep the imported network as it is, or use --module",
        )
    arch = None
    if match is not None:
        arch, keys, by_name = match
        rename = renamer(keys, by_name)
        head = [_renamed(c, rename) for c in head]
        stream = (_renamed(c, rename) for c in stream)
    return itertools.chain(head, stream), arch


def _renamed(ckpt: Checkpoint, rename) -> Checkpoint:  # noqa: ANN001
    ckpt.rename = rename
    return ckpt


def lazy_load(path, strip_prefix: str = "", entry: int | None = None):  # noqa: ANN001, ANN201
    """A loader for `Checkpoint.load`: the file's state dict (its ``entry``-th, for a file
    holding a list of them), or (None, problem)."""
    from weightspace.errors import FileFormatError

    def load() -> tuple[dict[str, torch.Tensor] | None, str]:
        try:
            state = load_state_dict(path, entry)
        except FileFormatError as err:
            return None, str(err)
        if strip_prefix:
            state = {k.removeprefix(strip_prefix): v for k, v in state.items()}
        return state, ""

    return load
