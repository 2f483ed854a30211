"""Heterogeneous "park" zoos: one ordinary sub-zoo per architecture, plus ``park.json``.

A zoo holds one architecture (one weight spec). A park, after the CNN Wild Park of Kofinas et
al. (2024), varies the architecture as a generating factor: CNNs of the ``park-cnn`` family
(conv stages, channels per stage, kernel, pooling, an optional residual skip) and MLPs, each
architecture trained as its own zoo by `create_zoo` (every zoo command works on a member).

    park/
      park-progress.json        while (and after) the park is created: its config
      a00-cnn-8x16-k3/          a normal zoo (manifest.json, checkpoints.parquet, shards/)
      ...
      park.json                 written last: {"format": "weightspace.park", "version": 1,
                                "name", "members": [{name, path, architecture, num_params,
                                family}], "held_out", "config"}
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from weightspace.errors import ConfigError, ZooFormatError, check_choice
from weightspace.storage import claim_run_dir
from weightspace.zoo.architectures import PARK_DEFAULTS, PARK_STAGES
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import atomic_write_json, check_output_dir, read_json

PARK_FILE = "park.json"
PARK_PROGRESS = "park-progress.json"
PARK_FORMAT, PARK_VERSION = "weightspace.park", 1
FAMILIES = {"park-cnn": "cnn", "mlp": "mlp"}
ARCH_KEYS = ("architecture", "hidden", "kernel", "residual", "pool")
# the CNN Wild Park's ranges (channels, kernels without 7: 8x8 inputs), and our MLP family
CNN_CHANNELS, CNN_KERNELS, CNN_POOLS = (4, 8, 16, 32), (3, 5), ("gap", "max")
MLP_WIDTHS, MLP_DEPTHS = (16, 32, 64), (1, 2)


def normalize_architecture(raw: dict[str, Any]) -> dict[str, Any]:
    """An architecture entry with every knob present and checked (a typo is an error)."""
    if not isinstance(raw, dict):
        raise ConfigError("architectures", "a table per architecture", type(raw).__name__)
    unknown = sorted(set(raw) - set(ARCH_KEYS))
    if unknown:
        raise ConfigError("architecture key", f"one of {', '.join(ARCH_KEYS)}", unknown[0])
    arch = {"architecture": raw.get("architecture", "park-cnn"), "hidden": raw.get("hidden", ())}
    check_choice("architecture", arch["architecture"], tuple(FAMILIES))
    if arch["architecture"] == "park-cnn":  # an MLP has none of these knobs
        arch.update({k: raw.get(k, v) for k, v in PARK_DEFAULTS.items()})
    arch["hidden"] = [int(h) for h in arch["hidden"]]
    if not arch["hidden"]:
        raise ConfigError("hidden", "the widths of the layers (a park names them)", [])
    ZooConfig(**{**arch, "hidden": tuple(arch["hidden"])})  # validates the knobs
    return arch


def member_name(index: int, arch: dict[str, Any]) -> str:
    """``a03-cnn-8x16x16-k5-res-max`` or ``a20-mlp-64x32``: index, family, widths, knobs."""
    widths = "x".join(str(h) for h in arch["hidden"])
    if arch["architecture"] == "mlp":
        return f"a{index:02d}-mlp-{widths}"
    name = f"a{index:02d}-cnn-{widths}-k{arch['kernel']}"
    return name + ("-res" if arch["residual"] else "") + ("-max" if arch["pool"] == "max" else "")


def count_parameters(arch: dict[str, Any], input_shape: tuple[int, int, int] = (1, 8, 8)) -> int:
    """Parameters of an architecture entry on inputs ``input_shape`` with 10 classes, by hand:
    a "same" conv has k*k*c_in*c_out + c_out, a linear layer n_in*n_out + n_out; max-pooling,
    the skip and global average pooling have none.

        >>> count_parameters({"architecture": "park-cnn", "hidden": [8, 16], "kernel": 3})
        1418
    """
    classes, hidden = 10, list(arch["hidden"])
    if arch["architecture"] == "mlp":
        widths = [math.prod(input_shape), *hidden, classes]
        return sum(a * b + b for a, b in itertools.pairwise(widths))
    k, channels = arch.get("kernel", 3), [input_shape[0], *hidden]
    convs = sum(k * k * a * b + b for a, b in itertools.pairwise(channels))
    return convs + hidden[-1] * classes + classes


def draw_architectures(
    n: int,
    seed: int,
    family: str = "park-cnn",
    depths: tuple[int, ...] = (2, 3),
    channels: tuple[int, ...] = CNN_CHANNELS,
    params: tuple[int, int] = (1_000, 20_000),
    exclude: tuple[dict[str, Any], ...] = (),
) -> tuple[dict[str, Any], ...]:
    """``n`` distinct architectures of one family drawn with ``seed``, each within ``params``.

    ``park-cnn``: depth from ``depths`` (conv stages, within 2-5), each stage's channels from
    ``channels``, kernel from {3, 5}, pooling from {gap, max}, a residual skip with probability
    1/2 where the depth allows one (>= 3). ``mlp``: depth from ``depths``, widths from
    {16, 32, 64}. Entries equal to one in ``exclude`` are not drawn.
    """
    check_choice("family", family, tuple(FAMILIES))
    if family == "park-cnn" and not all(PARK_STAGES[0] <= d <= PARK_STAGES[1] for d in depths):
        raise ConfigError("depths", f"conv stages within {PARK_STAGES}", list(depths))
    rng = np.random.default_rng(seed)
    found: list[dict[str, Any]] = []
    seen = [normalize_architecture(a) for a in exclude]
    for _ in range(1000 * max(n, 1)):
        if len(found) == n:
            return tuple(found)
        depth = int(rng.choice(depths))
        pick = channels if family == "park-cnn" else MLP_WIDTHS
        raw: dict[str, Any] = {"architecture": family, "hidden": rng.choice(pick, depth).tolist()}
        if family == "park-cnn":
            raw["kernel"] = int(rng.choice(CNN_KERNELS))
            raw["pool"] = str(rng.choice(CNN_POOLS))
            raw["residual"] = bool(depth >= 3 and rng.random() < 0.5)
        arch = normalize_architecture(raw)
        if arch not in seen and params[0] <= count_parameters(arch) <= params[1]:
            seen.append(arch)
            found.append(arch)
    raise ConfigError("n", f"at most the {len(found)} distinct architectures these ranges hold", n)


@dataclass(frozen=True)
class ParkConfig:
    """A park: the ``base`` zoo config (dataset, factors, seeds, epochs, ...) trained once per
    entry of ``architectures``; member i's master seed is ``base.seed + i``. ``held_out`` names
    members suggested as architectures never seen in training."""

    name: str
    base: ZooConfig
    architectures: tuple[dict[str, Any], ...]
    held_out: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        archs = tuple(normalize_architecture(a) for a in self.architectures)
        if not archs:
            raise ConfigError("architectures", "at least one architecture", [])
        object.__setattr__(self, "architectures", archs)
        object.__setattr__(self, "held_out", tuple(self.held_out))
        names = self.member_names()
        if len(set(map(str, archs))) < len(archs):
            raise ConfigError("architectures", "distinct architectures", names)
        for name in self.held_out:
            check_choice("held_out", name, tuple(names))

    def member_names(self) -> list[str]:
        return [member_name(i, a) for i, a in enumerate(self.architectures)]

    def member_configs(self) -> list[tuple[str, dict[str, Any], ZooConfig]]:
        """(member name, architecture entry, its zoo config) for every member, in order."""
        out = []
        for i, (name, arch) in enumerate(zip(self.member_names(), self.architectures, strict=True)):
            knobs = {**arch, "hidden": tuple(arch["hidden"])}
            config = self.base.with_changes(name=name, seed=self.base.seed + i, **knobs)
            out.append((name, arch, config))
        return out

    def num_models(self) -> int:
        from weightspace.zoo.config import FACTORS

        per_zoo = self.base.seeds * math.prod(len(getattr(self.base, f).grid()) for f in FACTORS)
        return per_zoo * len(self.architectures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.base.to_dict(),
            "architectures": [dict(a) for a in self.architectures],
            "held_out": list(self.held_out),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ParkConfig:
        """Build from a plain dict (as `to_dict` writes); unknown keys are errors."""
        known = {"name", "base", "architectures", "held_out"}
        if not isinstance(raw, dict) or set(raw) - known or not {"name", "base"} <= set(raw):
            raise ConfigError("park config", f"a table of {', '.join(sorted(known))}", raw)
        return cls(
            str(raw["name"]),
            ZooConfig.from_dict(raw["base"]),
            tuple(raw.get("architectures", ())),
            tuple(raw.get("held_out", ())),
        )


class ParkMember(NamedTuple):
    name: str
    zoo: Zoo
    architecture: dict[str, Any]
    family: str  # "cnn" or "mlp"


@dataclass
class Park:
    """An opened park: its members' zoos in order, and the suggested held-out members."""

    root: Path
    name: str
    members: list[ParkMember]
    held_out: tuple[str, ...] = ()

    def member(self, name: str) -> ParkMember:
        check_choice("member", name, tuple(m.name for m in self.members))
        return next(m for m in self.members if m.name == name)

    @property
    def num_models(self) -> int:
        return sum(m.zoo.num_models for m in self.members)


def is_park(path: str | Path) -> bool:
    """True when ``path`` is a park directory (it has a ``park.json``)."""
    return (Path(path) / PARK_FILE).is_file()


def _prepare(out: Path, config: ParkConfig) -> None:
    """``out`` is new, empty, or a (partial) park of this same config; else refuse."""
    check_output_dir(out, "--out")
    claim_run_dir(out, PARK_PROGRESS, {"format": PARK_FORMAT, "config": config.to_dict()}, "park")


def create_park(
    config: ParkConfig,
    out: str | Path,
    backend: str = "inprocess",
    device: str = "cpu",
    progress: bool = True,
) -> Park:
    """Train every member zoo of ``config`` into ``out/<member>`` and write ``park.json`` last.

    Resumable: a finished member is opened, not retrained; an interrupted one resumes as
    `create_zoo` does. Example:
        >>> park = create_park(park_preset("digits-park-tiny"), "park/")
    """
    from weightspace.zoo.create import create_zoo

    out = Path(out)
    _prepare(out, config)
    entries = []
    for name, arch, member in config.member_configs():
        zoo = create_zoo(member, out / name, backend=backend, device=device, progress=progress)
        params = int(zoo.manifest["architecture"]["num_parameters"])
        family = FAMILIES[arch["architecture"]]
        entries.append(
            {
                "name": name,
                "path": name,
                "architecture": arch,
                "num_params": params,
                "family": family,
                "models": zoo.num_models,
            }  # fmt: skip
        )
    atomic_write_json(
        out / PARK_FILE,
        {
            "format": PARK_FORMAT,
            "version": PARK_VERSION,
            "name": config.name,
            "members": entries,
            "held_out": list(config.held_out),
            "config": config.to_dict(),
        },  # fmt: skip
    )
    return open_park(out)


def open_park(path: str | Path, verify: bool = True) -> Park:
    """Open a park directory (``verify``: check every member zoo's hashes)."""
    root = Path(path)
    where = root / PARK_FILE
    fix = "Is this a park made by `weightspace zoo create --preset digits-park`?"
    raw = read_json(where, "park file", fix)
    if raw.get("format") != PARK_FORMAT or raw.get("version") != PARK_VERSION:
        raise ZooFormatError(
            where,
            f"format {raw.get('format')!r} version {raw.get('version')!r}, expected "
            f"{PARK_FORMAT!r} version {PARK_VERSION}",
            "Upgrade weightspace or recreate the park",
        )
    entries = raw.get("members")
    if not isinstance(entries, list) or not entries:
        raise ZooFormatError(where, "members must be a non-empty list")
    members = [_open_member(root, where, entry, verify) for entry in entries]
    held_out = raw.get("held_out", [])
    if not isinstance(held_out, list) or not set(held_out) <= {m.name for m in members}:
        raise ZooFormatError(where, "held_out must list member names")
    return Park(root, str(raw.get("name", root.name)), members, tuple(held_out))


def _open_member(root: Path, where: Path, entry: Any, verify: bool) -> ParkMember:
    keys = ("name", "path", "architecture", "family")
    if not isinstance(entry, dict) or not all(k in entry for k in keys):
        raise ZooFormatError(where, f"every member needs {', '.join(keys)}")
    relative = Path(str(entry["path"]))
    if relative.is_absolute() or ".." in relative.parts:
        raise ZooFormatError(where, f"member path {entry['path']!r} leaves the park directory")
    if entry["family"] not in FAMILIES.values() or not isinstance(entry["architecture"], dict):
        raise ZooFormatError(where, f"member {entry['name']!r}: unknown family or architecture")
    zoo = open_zoo(root / relative, verify=verify)
    return ParkMember(str(entry["name"]), zoo, dict(entry["architecture"]), entry["family"])
