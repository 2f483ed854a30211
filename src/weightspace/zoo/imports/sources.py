"""Import the zoos that exist into our format, streaming, resumable.

- ``modelzoos``: the Model Zoos dataset (modelzoos.cc), Ray Tune trial folders.
- ``smallcnn``: the Small CNN Zoo (Unterthiner et al. 2020): weights.npy, metrics.csv.gz,
  layout.csv.
- ``folder``: state dicts (plain or wrapped, e.g. PyTorch Lightning ``.ckpt``) listed in a
  ``metadata.csv``.
- `import_modules`: a list of ``nn.Module`` objects with a metadata table, from Python.

Checkpoints whose architecture matches a registry one get its key names, so ``zoo.model(row)``
works; any other network keeps its keys and gets a spec inferred from its state dict (and can be
given a network later with `attach`). ``ImportOptions.dataset`` attaches the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from torch import nn

from weightspace.errors import ConfigError, FileFormatError, WeightspaceError, check_choice
from weightspace.zoo.imports import folder
from weightspace.zoo.imports.common import ImportOptions, with_architecture
from weightspace.zoo.imports.modelzoos import read_modelzoos
from weightspace.zoo.imports.options import FORMATS
from weightspace.zoo.imports.smallcnn import read_smallcnn
from weightspace.zoo.imports.writer import Checkpoint, write_zoo
from weightspace.zoo.layers import ACTIVATIONS
from weightspace.zoo.reader import Zoo


def import_zoo(
    source: str,
    path: str | Path,
    out: str | Path,
    options: ImportOptions | None = None,
    shard_size: int = 256,
) -> Zoo | list[Zoo]:
    """Import the zoo at ``path`` (layout ``source``, one of `FORMATS`) into ``out``.

    Returns the zoo, or with ``options.split_by_architecture`` one zoo per architecture found,
    written to ``out/arch-1``, ``out/arch-2``, ...

    Example:
        >>> zoo = import_zoo("smallcnn", "~/data/small-cnn-zoo/mnist", "runs/smallcnn-mnist",
        ...                  ImportOptions(dataset="mnist", data_root="~/data/mnist"))
    """
    check_choice("--from", source, FORMATS)
    options = options or ImportOptions()
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileFormatError(path, "not a directory", f"Point to the {source} zoo's folder")
    task = options.dataset_config()
    dataset = None if task is None else task.to_dict()
    info = {"format": source, "path": str(path.resolve()), "strip_prefix": options.strip_prefix}
    if source == "folder":
        return _import_folder(path, Path(out), options, info, dataset, shard_size)
    reader = read_modelzoos if source == "modelzoos" else read_smallcnn
    rows, arch = reader(path, options)
    return write_zoo(
        out,
        rows,
        name=path.name,
        source=info,
        arch=arch,
        dataset=dataset,
        shard_size=shard_size,
    )


def _import_folder(path, out, options, info, dataset, shard_size):  # noqa: ANN001, ANN202
    rows = folder.expand_lists(folder.folder_rows(path), path, options)
    groups = folder.group_by_architecture(rows, options)
    if len(groups) > 1 and not options.split_by_architecture:
        raise WeightspaceError(
            f"{path}: the checkpoints hold {len(groups)} different networks "
            f"({folder.describe_groups(groups, path)}). Import them as one zoo each with "
            "--split-by-architecture, or list one network's files in metadata.csv"
        )
    if not options.split_by_architecture:
        stream, arch = with_architecture(folder.checkpoints(rows, options), options)
        return write_zoo(
            out,
            stream,
            name=path.name,
            source=info,
            arch=arch,
            dataset=dataset,
            shard_size=shard_size,
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("--out", "a new or empty directory", str(out), "Choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    zoos = []
    for i, group in enumerate(groups):
        stream, arch = with_architecture(folder.checkpoints(group, options), options)
        zoos.append(
            write_zoo(
                out / f"arch-{i + 1}",
                stream,
                name=f"{path.name}-arch-{i + 1}",
                source={**info, "group": i + 1},
                arch=arch,
                dataset=dataset,
                shard_size=shard_size,
            )
        )
    return zoos


def _activation_of(module: nn.Module) -> str | None:
    """The name of the first registry activation a module uses (shapes cannot tell it)."""
    for layer in module.modules():
        for name, kind in ACTIVATIONS.items():
            if type(layer) is kind:
                return name
    return None


def import_modules(
    modules: Sequence[nn.Module],
    metadata: Sequence[dict] | pa.Table | None,
    out: str | Path,
    name: str = "modules",
    options: ImportOptions | None = None,
) -> Zoo:
    """A zoo from networks in memory; ``metadata[i]`` (a dict or table row) describes module i
    and may give ``model_id`` and ``epoch``. The weights are copied one module at a time."""
    records = metadata.to_pylist() if isinstance(metadata, pa.Table) else list(metadata or [])
    if records and len(records) != len(modules):
        raise ConfigError("metadata", f"{len(modules)} rows, one per module", len(records))
    if not modules:
        raise WeightspaceError("import_modules: no modules given")
    options = options or ImportOptions()

    def rows():  # noqa: ANN202
        for i, module in enumerate(modules):
            entry = dict(records[i]) if records else {}
            model_id = int(entry.pop("model_id", i))
            epoch = int(entry.pop("epoch", 0))
            entry.setdefault("activation", _activation_of(module))
            yield Checkpoint(model_id, epoch, values=entry, load=_copier(module))

    stream, arch = with_architecture(rows(), options)
    task = options.dataset_config()
    source = {"format": "modules", "name": name, "count": len(modules)}
    return write_zoo(
        out,
        stream,
        name=name,
        source=source,
        arch=arch,
        dataset=None if task is None else task.to_dict(),
    )


def _copier(module: nn.Module):  # noqa: ANN202
    def load():  # noqa: ANN202
        return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}, ""

    return load


__all__ = ["FORMATS", "import_modules", "import_zoo"]
