"""Give an imported zoo what it lacks: its task and a network that can run its weights."""

from __future__ import annotations

from pathlib import Path

import torch

from weightspace.config import from_mapping
from weightspace.errors import ConfigError
from weightspace.spec import spec_from_module
from weightspace.zoo.architectures import ArchConfig, build_model, build_module
from weightspace.zoo.datasets import DatasetConfig, task_shape
from weightspace.zoo.imports.common import ImportOptions
from weightspace.zoo.imports.writer import architecture_entry, renamed_spec
from weightspace.zoo.layers import ACTIVATIONS
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import MANIFEST, atomic_write_json


def attach(
    path: str | Path,
    *,
    dataset: str | None = None,
    data_root: str | None = None,
    arch: str | None = None,
    module: str | None = None,
    module_path: str | None = None,
    activation: str | None = None,
    **task_options: object,
) -> Zoo:
    """Record the zoo's task (``dataset``) and/or network (a registry ``arch`` or a user
    ``module`` ``package.module:Class``) in its manifest; the weights are not touched.

    The network must hold exactly the zoo's tensors (shapes in state-dict order); its spec
    (permutation groups) replaces the one inferred at import. ``task_options`` (``transform``,
    ``mean``, ``std``, ``grayscale``) describe the networks' input, as in `ImportOptions`. A
    task whose input shape or class count does not fit the zoo's network is refused.

        >>> attach("runs/imported", dataset="mnist", data_root="~/data/mnist", arch="cnn-s")
    """
    if arch is not None and module is not None:
        raise ConfigError("--module", "either --arch or --module, not both", module)
    zoo = open_zoo(path)
    manifest = dict(zoo.manifest)
    options = ImportOptions(dataset=dataset, data_root=data_root, arch=arch, **task_options)
    task = options.dataset_config()
    if task is not None:
        _check_fits(zoo, task, arch is None and module is None)
        manifest["dataset"] = {"config": task.to_dict()}
    stored = (manifest.get("dataset") or {}).get("config")
    if arch is not None or module is not None:
        if stored is None:
            raise ConfigError(
                "--dataset",
                "the task too (the network's input comes from it)",
                None,
                "Add --dataset NAME",
            )
        shape, classes = task_shape(from_mapping(DatasetConfig, stored, "manifest dataset"))
        manifest["architecture"] = _architecture(
            zoo, arch, (module, module_path), activation, shape, classes
        )
    atomic_write_json(Path(path) / MANIFEST, manifest)
    return open_zoo(path)


def _check_fits(zoo: Zoo, task: DatasetConfig, keep_network: bool) -> None:
    """Refuse a task the zoo's registry network cannot take: other input shape or classes."""
    config = zoo.manifest["architecture"].get("config") or {}
    if not keep_network or "input_shape" not in config:
        return  # the network is chosen with the task (--arch), or only known from its weights
    shape, classes = task_shape(task)
    theirs = (tuple(config["input_shape"]), int(config["num_classes"]))
    if (shape, classes) != theirs:
        raise ConfigError(
            "--dataset",
            f"a task of the network's input {theirs[0]} and {theirs[1]} classes",
            f"{task.name}: input {shape}, {classes} classes",
            "Attach the task the networks were trained on (--grayscale for a one-channel "
            "network on colour images)",
        )


def _architecture(zoo: Zoo, arch, user, activation, shape, classes) -> dict:  # noqa: ANN001
    module, module_path = user
    if activation is None and arch is not None and "activation" not in zoo.table.column_names:
        raise ConfigError(
            "--activation",
            f"the networks' activation (one of {', '.join(ACTIVATIONS)})",
            None,
            "The weights cannot tell it; add --activation NAME",
        )
    config = None
    if arch is not None:
        config = ArchConfig(arch, shape, classes, activation=activation or "relu")
        with torch.device("meta"):
            reference = build_model(config).state_dict()
    else:
        net = build_module(module, module_path)
        reference = net.state_dict()
    template = {
        k: torch.empty(zoo.shapes[k], dtype=getattr(torch, zoo.dtypes[k].removeprefix("torch.")))
        for k in zoo.keys
    }
    ours = [tuple(v.shape) for v in template.values()]
    theirs = [tuple(v.shape) for v in reference.values()]
    if ours != theirs:
        flag = "--arch" if arch is not None else "--module"
        raise ConfigError(
            flag,
            f"a network with the zoo's {len(ours)} tensors of shapes {ours[:3]}...",
            f"{arch or module} with {len(theirs)} tensors of shapes {theirs[:3]}...",
            "Pick the network the checkpoints were trained with" + _grayscale_hint(shape, ours),
        )
    entry = architecture_entry(template, config)
    if module is not None:
        entry["config"] = {"module": module}
        if module_path is not None:  # shown by `zoo info`; never used to find code by itself
            entry["config"]["module_path"] = str(Path(module_path).resolve())
        traced = spec_from_module(net, shape)
        names = dict(zip((t.key for t in traced.tensors), zoo.keys, strict=False))
        entry["spec"] = renamed_spec(traced.to_dict(), names)
    return entry


def _grayscale_hint(shape: tuple, ours: list[tuple]) -> str:
    """A hint when a one-channel network meets a colour task (the Small CNN Zoo's -GS zoos)."""
    first = next((t for t in ours if len(t) == 4), None)  # the first conv kernel (out, in, k, k)
    if shape[0] > 1 and first is not None and first[1] == 1:
        return "; for a one-channel network on a colour task add --grayscale (channel mean)"
    return ""
