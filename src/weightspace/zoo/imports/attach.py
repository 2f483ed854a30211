"""Give an imported zoo what it lacks: its task and a network that can run its weights."""

from __future__ import annotations

from pathlib import Path

import torch

from weightspace.errors import ConfigError
from weightspace.spec import spec_from_module
from weightspace.zoo.architectures import ArchConfig, build_model, build_module
from weightspace.zoo.imports.common import TASKS, ImportOptions
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
    activation: str | None = None,
) -> Zoo:
    """Record the zoo's task (``dataset``) and/or network (a registry ``arch`` or a user
    ``module`` ``package.module:Class``) in its manifest; the weights are not touched.

    The network must hold exactly the zoo's tensors (shapes in state-dict order); its spec
    (permutation groups) replaces the one inferred at import.

        >>> attach("runs/imported", dataset="mnist", data_root="~/data/mnist", arch="cnn-s")
    """
    if arch is not None and module is not None:
        raise ConfigError("--module", "either --arch or --module, not both", module)
    zoo = open_zoo(path)
    manifest = dict(zoo.manifest)
    options = ImportOptions(dataset=dataset, data_root=data_root, arch=arch)
    task = options.dataset_config()
    if task is not None:
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
        shape, classes = TASKS[stored["name"]]
        manifest["architecture"] = _architecture(zoo, arch, module, activation, shape, classes)
    atomic_write_json(Path(path) / MANIFEST, manifest)
    return open_zoo(path)


def _architecture(zoo: Zoo, arch, module, activation, shape, classes) -> dict:  # noqa: ANN001
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
        net = build_module(module)
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
            "Pick the network the checkpoints were trained with",
        )
    entry = architecture_entry(template, config)
    if module is not None:
        entry["config"] = {"module": module}
        traced = spec_from_module(net, shape)
        names = dict(zip((t.key for t in traced.tensors), zoo.keys, strict=False))
        entry["spec"] = renamed_spec(traced.to_dict(), names)
    return entry
