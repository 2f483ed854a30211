"""Zoo architectures by name: CNN-s, CNN-l, ResNet-18 (CIFAR), the Tetris MLP, a small MLP and the
parameterized CNN of heterogeneous "park" zoos (``park-cnn``, after the CNN Wild Park).

Each is sized to its input (4x4, 8x8, 28x28, 32x32; Model Zoos, Schürholt et al. 2022). Build one
with
``build_model(ArchConfig(name="cnn-s", input_shape=(1, 28, 28)))``.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from weightspace.errors import ConfigError, check_choice
from weightspace.spec import WeightSpec, spec_from_module
from weightspace.zoo.config import check_park_knobs
from weightspace.zoo.layers import Dropout, activation, initialize
from weightspace.zoo.names import (  # noqa: F401 (PARK_POOLS, PARK_STAGES: re-exported)
    ARCHITECTURE_NAMES,
    INITS,
    PARK_DEFAULTS,
    PARK_POOLS,
    PARK_STAGES,
    PARK_WIDTHS,
)
from weightspace.zoo.resnet import ResNet18


@dataclass(frozen=True)
class ArchConfig:
    """What defines one network of a zoo. Activation, dropout and init are generating factors."""

    name: str = "cnn-s"
    input_shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    num_classes: int = 10
    activation: str = "tanh"
    dropout: float = 0.0
    init: str = "uniform"
    hidden: tuple[int, ...] = field(default=())  # MLP hidden widths; () = the architecture's own
    # knobs of the "park-cnn" family only (left out of `to_dict` at their defaults)
    kernel: int = 3
    residual: bool = False
    pool: str = "gap"

    def __post_init__(self) -> None:
        check_choice("architecture", self.name, ARCHITECTURE_NAMES)
        check_choice("init", self.init, INITS)
        activation(self.activation)  # validates the name
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", "a rate in [0, 1)", self.dropout)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ConfigError(
                "input_shape", "(channels, height, width), all >= 1", self.input_shape
            )
        if self.num_classes < 2:
            raise ConfigError("num_classes", "an integer >= 2", self.num_classes)
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "hidden", tuple(int(v) for v in self.hidden))
        check_park_knobs(self.name, self.hidden, self.kernel, self.residual, self.pool)

    def knobs(self) -> dict:
        """The park-cnn knobs that differ from their defaults (kernel, residual, pool)."""
        return {k: getattr(self, k) for k, v in PARK_DEFAULTS.items() if getattr(self, k) != v}

    def to_dict(self) -> dict:
        """The config as plain values; the park-cnn knobs only where they are not the default,
        so the dicts (and hashes) of every other architecture are as they always were."""
        out = asdict(self)
        for name in PARK_DEFAULTS:
            out.pop(name)
        return {**out, **self.knobs()}


@dataclass(frozen=True)
class ConvStage:
    """One conv stage: conv(k, padding) -> optional max-pool(2) -> activation -> [dropout]."""

    channels: int
    kernel: int
    padding: int = 0
    pool: bool = True


def _conv_plan(name: str, height: int) -> tuple[tuple[ConvStage, ...], int]:
    """The conv stages and the hidden fc width of CNN-s / CNN-l for an input height."""
    small = height < 16  # 4x4 Tetris or 8x8 digits: same shape of network, smaller kernels
    if name == "cnn-s":
        if small:
            stages = (ConvStage(8, 3, 1), ConvStage(6, 3, 1), ConvStage(4, 1, 0, pool=False))
        else:
            stages = (ConvStage(8, 5), ConvStage(6, 5), ConvStage(4, 2, pool=False))
    else:
        if small:
            stages = (ConvStage(16, 3, 1), ConvStage(32, 3, 1), ConvStage(15, 3, 1, pool=False))
        else:
            stages = (ConvStage(16, 3), ConvStage(32, 3), ConvStage(15, 3))
    return stages, 20


class ConvNet(nn.Module):
    """Three conv stages and two fully connected layers (CNN-s and CNN-l of the Model Zoos)."""

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        channels, height, width = config.input_shape
        stages, hidden = _conv_plan(config.name, min(height, width))
        layers: list[nn.Module] = []
        salt = 0
        for stage in stages:
            layers.append(nn.Conv2d(channels, stage.channels, stage.kernel, padding=stage.padding))
            if stage.pool:
                layers.append(nn.MaxPool2d(2))
            layers.append(activation(config.activation))
            if stage is not stages[-1]:  # present even at rate 0: one structure per zoo
                salt += 1
                layers.append(Dropout(config.dropout, salt))
            channels = stage.channels
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *config.input_shape)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            activation(config.activation),
            Dropout(config.dropout, salt + 1),
            nn.Linear(hidden, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (B, num_classes)


class MLP(nn.Module):
    """A fully connected network on the flattened input."""

    def __init__(self, config: ArchConfig, hidden: tuple[int, ...], bias: bool = True) -> None:
        super().__init__()
        widths = (math.prod(config.input_shape), *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers += [
                nn.Linear(n_in, n_out, bias=bias),
                activation(config.activation),
                Dropout(config.dropout, i + 1),  # present even at rate 0: one structure per zoo
            ]
        layers.append(nn.Linear(widths[-1], config.num_classes, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, num_classes)


def _mlp(config: ArchConfig) -> nn.Module:
    return MLP(config, config.hidden or (32,))


def _tetris_mlp(config: ArchConfig) -> nn.Module:
    # 16 -> 5 -> 4 without bias: 100 weights (the 2021 Tetris zoo)
    return MLP(config, config.hidden or (5,), bias=False)


class WideCNN(nn.Module):
    """Two conv stages of width k and 2k and a linear head ("cnn-w"; k = ``hidden[0]``, default
    8): the width-scalable network of model-diagnosis grids (Zhou et al. 2024 vary ResNet width)."""

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        k = config.hidden[0] if config.hidden else 8
        channels = config.input_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(channels, k, 3, padding=1),
            activation(config.activation),
            nn.MaxPool2d(2),
            nn.Conv2d(k, 2 * k, 3, padding=1),
            activation(config.activation),
            nn.MaxPool2d(2),
            Dropout(config.dropout, 1),  # present even at rate 0: one structure per zoo
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *config.input_shape)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes)


class SmallCNN(nn.Module):
    """The network of the Small CNN Zoo (Unterthiner et al. 2020): 3 x [conv 16 filters 3x3,
    stride 2, "valid", activation, dropout] -> global average pooling -> dense. 4,970 parameters
    for 1 input channel (160 + 2,320 + 2,320 + 170)."""

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        channels = config.input_shape[0]
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [
                nn.Conv2d(channels if i == 0 else 16, 16, 3, stride=2),
                activation(config.activation),
                Dropout(config.dropout, i + 1),  # present even at rate 0: one structure per zoo
            ]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes)


class ParkCNN(nn.Module):
    """A CNN of the Wild Park family (Kofinas et al. 2024), for small images.

    ``hidden`` gives the channels of 2-5 conv stages (kernel ``kernel``, stride 1, "same"
    padding, the activation after each conv); ``pool="max"`` adds one 2x2 max-pool after the
    first stage (``"gap"``: none). With ``residual`` the first stage's output is added to the
    last conv's pre-activation output on their shared channels (the first min(c_1, c_L)).
    Then global average pooling and one linear head. Children ``stem`` (first stage), ``body``
    (the middle stages and the last conv), ``post`` (activation, pooling) and ``head`` are
    called in this order, the skip between ``body`` and ``post``.
    """

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        widths = config.hidden or PARK_WIDTHS
        self.widths, self.residual = tuple(widths), config.residual
        k, pad = config.kernel, config.kernel // 2
        act = config.activation
        stem: list[nn.Module] = [nn.Conv2d(config.input_shape[0], widths[0], k, padding=pad)]
        stem.append(activation(act))
        if config.pool == "max":
            stem.append(nn.MaxPool2d(2))
        self.stem = nn.Sequential(*stem, Dropout(config.dropout, 1))
        body: list[nn.Module] = []
        for i in range(1, len(widths)):
            body.append(nn.Conv2d(widths[i - 1], widths[i], k, padding=pad))
            if i < len(widths) - 1:  # present even at rate 0: one structure per zoo
                body += [activation(act), Dropout(config.dropout, i + 1)]
        self.body = nn.Sequential(*body)
        self.post = nn.Sequential(
            activation(act),
            Dropout(config.dropout, len(widths)),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[-1], config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        y = self.body(s)
        if self.residual:
            y = park_skip(y, s, self.widths[-1], self.widths[0])
        return self.head(self.post(y))  # (B, num_classes)


def park_skip(
    y: torch.Tensor, s: torch.Tensor, c_out: int, c_skip: int, dim: int = 1
) -> torch.Tensor:
    """``y + s`` on the channels (axis ``dim``; ``c_out`` of y, ``c_skip`` of s) the two share;
    y's other channels unchanged. The widths are given, not read: torch.fx traces this."""
    if c_out == c_skip:
        return y + s
    if c_out < c_skip:
        return y + s.narrow(dim, 0, c_out)
    head = y.narrow(dim, 0, c_skip) + s
    return torch.cat([head, y.narrow(dim, c_skip, c_out - c_skip)], dim)


def _resnet18(config: ArchConfig) -> nn.Module:
    return ResNet18(config.input_shape[0], config.num_classes, config.activation)


# keys: `weightspace.zoo.names.ARCHITECTURE_NAMES` (what a config is checked against)
ARCHITECTURES: dict[str, Callable[[ArchConfig], nn.Module]] = {
    "cnn-s": ConvNet,
    "cnn-l": ConvNet,
    "cnn-w": WideCNN,
    "smallcnn": SmallCNN,
    "resnet18": _resnet18,
    "mlp": _mlp,
    "park-cnn": ParkCNN,
    "tetris-mlp": _tetris_mlp,
}


def build_model(config: ArchConfig) -> nn.Module:
    """A freshly initialized network of the configured architecture.

    Example:
        >>> torch.manual_seed(0)
        >>> net = build_model(ArchConfig("cnn-s", input_shape=(1, 28, 28)))
        >>> sum(p.numel() for p in net.parameters())
        2464
    """
    model = ARCHITECTURES[config.name](config)
    initialize(model, config.init)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.lru_cache(maxsize=32)
def weight_spec(arch: ArchConfig) -> WeightSpec:
    """The spec of a registry architecture (cached: the trace runs once per config).

    The network is built on the meta device: shapes without memory, even for a ResNet-18.

        >>> spec = weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8)))
    """
    with torch.device("meta"):
        net = build_model(arch)
    return spec_from_module(net, arch.input_shape)


def build_module(path: str, module_path: str | Path | None = None) -> nn.Module:
    """A user's own network from ``package.module:Class`` (constructed without arguments),
    found on ``module_path`` (a folder), else in the working directory, else on Python's path.

    The module is imported, i.e. its code runs: name only code you trust, as with any import.

        >>> net = build_module("torchvision.models:resnet18")
    """
    module_name, _, attr = path.partition(":")
    fix = (
        "Give --module as package.module:Class, found in --module-path, the working "
        "directory or an installed package"
    )
    if not module_name or not attr:
        raise ConfigError("--module", "package.module:Class", path, fix)
    if module_path is not None and not Path(module_path).is_dir():
        raise ConfigError("--module-path", "a folder", str(module_path))
    folders = [str(Path(p).resolve()) for p in (module_path, Path.cwd()) if p is not None]
    added = [f for f in folders if f not in sys.path]
    sys.path[:0] = added  # for this import only
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError("--module", "an importable class", path, f"{fix} ({err})") from None
    finally:
        for folder in added:
            sys.path.remove(folder)
    try:
        net = factory()
    except TypeError as err:
        raise ConfigError(
            "--module", "a class constructed without arguments", path, str(err)
        ) from None
    if not isinstance(net, nn.Module):
        raise ConfigError("--module", "a torch.nn.Module", type(net).__name__, fix)
    return net
