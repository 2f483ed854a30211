"""The training config of hyper-representations, and what a resumed run must match.

Light (no torch, numpy or safetensors at import): ``fit --help`` reads the flags of
`TrainConfig`; the device check and the checkpoint's file names load where they are used.
"""

from __future__ import annotations

import functools
import json
import math
import re
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from weightspace.config import coerce, from_mapping
from weightspace.errors import ConfigError, check_choice
from weightspace.tokens.config import SplitConfig
from weightspace.zoo.storage import read_json

if TYPE_CHECKING:
    import torch

# how the layers of several zoos are normalized (`weightspace.train.pool`)
NORMALIZATIONS = ("batch", "zoo")


def _help(text: str) -> dict:
    return {"help": text}


DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """How a hyper-representation is trained (defaults suit small CPU zoos).

    The structure loss is the reconstruction loss, or with ``behaviour_weight`` w the mix
    (1 - w) * reconstruction + w * behaviour (each divided by its first-batch value).
    """

    epochs: int = field(default=20, metadata=_help("training epochs"))
    batch_size: int = field(default=32, metadata=_help("checkpoints per step"))
    lr: float = field(default=1e-3, metadata=_help("peak learning rate of AdamW + OneCycle"))
    weight_decay: float = field(default=0.01, metadata=_help("AdamW decay of weight matrices"))
    warmup: float = field(default=0.3, metadata=_help("OneCycle warm-up share of the steps"))
    grad_clip: float = field(default=1.0, metadata=_help("gradient norm clip"))
    gamma: float = field(default=0.05, metadata=_help("contrastive share of the loss"))
    temperature: float = field(default=0.1, metadata=_help("NT-Xent temperature"))
    behaviour_weight: float | None = field(
        default=None,
        metadata=_help(
            "share of the behavioural loss in the structure loss, 0..1 (the rest is "
            "reconstruction); needs a preset that decodes whole models; default off"
        ),
    )
    behaviour_temperature: float | None = field(
        default=None, metadata=_help("behavioural loss: KL at this temperature (default: MSE)")
    )
    queries: int = field(default=256, metadata=_help("behavioural loss: query images"))
    permute: bool = field(default=True, metadata=_help("permutation augmentation"))
    layer_normalization: bool = field(
        default=True,
        metadata=_help(
            "standardize each layer's weights and normalize the reconstruction loss per layer "
            "(2022); off: raw weights and plain MSE, as the 2021 autoencoder"
        ),
    )
    noise: float = field(default=0.1, metadata=_help("multiplicative noise sigma (0 = off)"))
    erase: float = field(default=0.0, metadata=_help("token erase probability (0 = off)"))
    zoo_epochs: tuple[int, ...] | None = field(
        default=None, metadata=_help("use only the checkpoints of these zoo epochs")
    )
    splits: SplitConfig = field(default_factory=SplitConfig)
    seed: int = field(default=0, metadata=_help("seed of initialization, data order, views"))
    amp: bool = field(default=True, metadata=_help("bfloat16 autocast on CUDA"))
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N"))
    probe_rows: int = field(
        default=1000, metadata=_help("training checkpoints embedded for the validation probe")
    )
    memory_mb: float = field(
        default=2048.0,
        metadata=_help(
            "the training split's tokens stay in memory up to this size; beyond, "
            "they stream from the zoo's shards (same results, more reading)"
        ),
    )
    pool_normalization: str = field(
        default="zoo",
        metadata=_help(
            "a fit on several zoos: zoo (each zoo standardized per layer on its training "
            "split) or batch (raw weights, reconstruction loss normalized per batch; "
            "MultiZoo-SANE)"
        ),
    )
    canonical: bool = field(
        default=False,
        metadata=_help(
            "a fit on several zoos: sort every hidden layer's channels into one canonical order "
            "before tokenizing (embeddings unchanged by permutations; no permutation "
            "augmentation then)"
        ),
    )
    progress: bool = True

    def __post_init__(self) -> None:
        hints = _field_types()
        for f in fields(self):  # types first: `lr = "big"` or `epochs = true` is an error
            object.__setattr__(self, f.name, coerce(f.name, hints[f.name], getattr(self, f.name)))
        check_choice("pool_normalization", self.pool_normalization, NORMALIZATIONS)
        for name in ("epochs", "batch_size", "queries", "probe_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        if self.seed < 0:
            raise ConfigError("seed", "an integer >= 0", self.seed)
        if not 0 <= self.memory_mb < math.inf:
            raise ConfigError("memory_mb", "a finite number of megabytes >= 0", self.memory_mb)
        for name in ("lr", "grad_clip", "temperature", "behaviour_temperature"):
            value = getattr(self, name)
            if value is not None and not (0 < value < math.inf):
                raise ConfigError(name, "a finite number > 0", value)
        for name in ("weight_decay", "noise"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(name, "a finite number >= 0", getattr(self, name))
        for name in ("gamma", "warmup", "erase", "behaviour_weight"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(name, "a share in [0, 1]", value)
        if not DEVICE.match(self.device):
            raise ConfigError("device", "auto, cpu, cuda, cuda:N or mps", self.device)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainConfig:
        """Read a saved config; runs written before the rename stored ``behaviour`` = the
        reconstruction share beta, which is 1 - ``behaviour_weight``."""
        raw = dict(raw)
        if "behaviour" in raw:
            beta = raw.pop("behaviour")
            raw["behaviour_weight"] = None if beta is None else 1.0 - beta
        return from_mapping(cls, raw, where="train config")

    def resolve_device(self) -> torch.device:
        """The device to train on; one that is not there is a `DeviceError`."""
        from weightspace.devices import resolve_device

        return resolve_device(self.device, "device")


@functools.cache
def _field_types() -> dict:
    return typing.get_type_hints(TrainConfig)


# settings added after runs were saved: their default
_ADDED_LATER = {"layer_normalization": True, "pool_normalization": "zoo", "canonical": False}


def fingerprint(config: TrainConfig, world: int, identity: dict | None = None) -> dict:
    """What must match for a resume to continue the same run: the settings (not progress or
    device), the number of workers, and ``identity`` (the zoo's content hash, the model)."""
    settings = config.to_dict()
    for name in ("progress", "device", "memory_mb"):  # none of them changes the results
        settings.pop(name, None)
    for name, default in _ADDED_LATER.items():  # checkpoints written before they existed resume
        if settings.get(name) == default:
            settings.pop(name)
    settings["world"] = world
    settings.update(identity or {})
    return json.loads(json.dumps(settings))  # as it reads back from state.json


def check_resumable(out: Path, expected: dict) -> bool:
    """True when ``out`` holds a checkpoint of the run ``expected`` fingerprints; a checkpoint
    of another run (another zoo, model or settings) is a `ConfigError`, before any tensor loads.
    """
    from weightspace.train.checkpoint import STATE

    path = out / "checkpoint" / STATE
    if not path.is_file():
        return False
    fix = "Use a new --out, or delete its checkpoint/ folder to start over"
    state = read_json(path, "training checkpoint", fix)
    recorded = (
        state.get("trainer", {}).get("config") if isinstance(state.get("trainer"), dict) else None
    )
    if recorded != expected:
        recorded = recorded if isinstance(recorded, dict) else {}
        differs = sorted(k for k in {*recorded, *expected} if recorded.get(k) != expected.get(k))
        raise ConfigError(
            "--out",
            "a run directory trained with the same zoo, model and settings",
            str(out),
            f"Its checkpoint differs in {', '.join(differs[:5])}. {fix}",
        )
    return True
