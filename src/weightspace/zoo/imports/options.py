"""What the user tells an importer beyond the files (`ImportOptions`: the task and the
network) and the layouts read and written: light (standard library and the zoo's config
modules only), so ``zoo import --help`` and ``zoo export --help`` import no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from weightspace.errors import ConfigError, check_choice
from weightspace.zoo.config import DatasetConfig
from weightspace.zoo.names import ARCHITECTURE_NAMES, DATASET_NAMES, FILE_DATASETS, USER_DATASETS

FORMATS = ("modelzoos", "smallcnn", "folder")  # what `import_zoo` reads
EXPORT_FORMATS = ("modelzoos", "smallcnn")  # what `export_zoo` writes
LIST_ENTRIES = ("models", "epochs")  # what the entries of a list-of-state-dicts file are
_TASKS = ", ".join(DATASET_NAMES)


@dataclass(frozen=True)
class ImportOptions:
    """What the user tells an importer beyond the files: the task and the network."""

    dataset: str | None = field(
        default=None, metadata={"help": "the task the networks were trained on: " + _TASKS}
    )
    data_root: str | None = field(
        default=None,
        metadata={
            "help": "that dataset's files (a folder for mnist, cifar10, svhn, imagefolder; the "
            "file for npz); stored as an absolute path"
        },
    )
    transform: str = field(
        default="standardize",
        metadata={
            "help": "the networks' input: standardize (training statistics), unit "
            "([0, 1] pixels) or meanstd (--mean/--std)"
        },
    )
    mean: tuple[float, ...] = field(default=(), metadata={"help": "per-channel input mean"})
    std: tuple[float, ...] = field(default=(), metadata={"help": "per-channel input std"})
    grayscale: bool = field(
        default=False,
        metadata={"help": "average the colour channels (CIFAR10-GS, SVHN-GS of the Small CNN Zoo)"},
    )
    arch: str | None = field(
        default=None,
        metadata={"help": "a registry network the weights fit (default: found from the weights)"},
    )
    strip_prefix: str = field(
        default="",
        metadata={"help": "removed from every key, e.g. a LightningModule's attribute 'model.'"},
    )
    split_by_architecture: bool = field(
        default=False, metadata={"help": "folder: one zoo per architecture found, in OUT/arch-N"}
    )
    list_entries: str = field(
        default="models",
        metadata={
            "help": "folder: a file holding a list of state dicts gives one model per entry "
            "(models), or its row's checkpoints at epochs 0, 1, ... (epochs)"
        },
    )

    def dataset_config(self) -> DatasetConfig | None:
        if self.dataset is None:
            return None
        if self.dataset not in DATASET_NAMES:
            raise ConfigError("--dataset", f"one of {', '.join(DATASET_NAMES)}", self.dataset)
        # absolute: the zoo is used from other folders than the one it was attached in
        root = None if self.data_root is None else str(Path(self.data_root).expanduser().resolve())
        try:
            return DatasetConfig(
                name=self.dataset,
                root=root,
                transform=self.transform,
                mean=self.mean,
                std=self.std,
                grayscale=self.grayscale,
            )
        except ConfigError as err:
            if err.field != "dataset.root":
                raise
            files = FILE_DATASETS.get(self.dataset) or USER_DATASETS[self.dataset]
            raise ConfigError(
                "--data-root", f"the {self.dataset} files", None, f"Add --data-root with {files}"
            ) from None

    def __post_init__(self) -> None:
        check_choice("list_entries", self.list_entries, LIST_ENTRIES)
        if self.arch is not None and self.arch not in ARCHITECTURE_NAMES:
            raise ConfigError(
                "--arch",
                f"one of {', '.join(ARCHITECTURE_NAMES)}",
                self.arch,
                "Or leave it out: a network is matched from its weights when it can be",
            )
        if self.dataset is not None:
            self.dataset_config()  # validates the name (and root) now, before any work
