"""Typed configs from files and command-line flags: one source of truth per stage.

Every stage of the package has a frozen config dataclass that validates itself in
``__post_init__``. This module turns such a class into command-line flags (``--field-name``,
with the type, choices and help of the field) and reads a JSON/TOML file into it, rejecting
unknown keys and values of the wrong type with one message that names the field. Precedence:
the class defaults < a base config (e.g. a preset) < ``--config FILE`` < flags.

    @dataclass(frozen=True)
    class PruneConfig:
        sparsity: tuple[float, ...] = field(default=(0.5,), metadata={"help": "shares to zero"})
        method: Literal["global", "layer"] = "global"

    add_config_arguments(parser, PruneConfig)         # --sparsity 0.5 0.9 --method layer
    config = config_from_args(PruneConfig, args)      # validated PruneConfig
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import tomllib

from weightspace.errors import ConfigError

T = TypeVar("T")

CONFIG_FLAG = "config"


def read_config_file(path: str | Path, field: str = "--config") -> dict[str, Any]:
    """Read a ``.json`` or ``.toml`` file (suffix in any case) holding one table of settings."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(field, "a .json or .toml file", str(path), "Rename it or convert it")
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(field, "a file, not a directory", str(path)) from None
    except OSError as err:
        raise ConfigError(field, f"a readable file ({err.strerror})", str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(field, "a UTF-8 text file", str(path), "Save it as UTF-8") from None
    try:
        raw = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(field, f"valid {suffix[1:].upper()} ({err})", str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(field, "a table of settings ({...})", type(raw).__name__)
    return raw


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def coerce(field: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; lists become tuples. Raises ConfigError."""
    inner, optional = _optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(field, f"a value of type {_name(inner)}", None)
    tp = inner
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            choices = ", ".join(repr(c) for c in get_args(tp))
            raise ConfigError(field, f"one of {choices}", value, "Pick one of the allowed values")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(field, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(f"{field}[{i}]", args[0], v) for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(field, f"a list of {len(args)} values", list(value))
        return tuple(
            coerce(f"{field}[{i}]", a, v) for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(field, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(field, "an integer", value)
        if value < 0 and _is_seed(field):  # numpy's generators refuse negative seeds
            raise ConfigError(field, "a seed >= 0", value, "Pick a seed of 0 or more")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(field, "a number", value)
        return finite(field, value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(field, "a string", value)
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(field, f"a table of {tp.__name__} settings", value)
        return from_mapping(tp, value, where=field)
    return value  # a type with its own parser (e.g. a zoo Factor): its class validates it


def finite(field: str, value: float) -> float:
    """``value`` as a float, or a `ConfigError` naming ``field`` if it is NaN or infinite: no
    setting of the package has a meaning for them (an infinite learning rate, share or scale
    silently ruins a run; an infinite count fails deep inside)."""
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(field, "a finite number", value, "Give a number such as 0.5 or 1e-3")
    return number


def finite_float(text: str) -> float:
    """An argparse ``type`` for a float flag that must be finite: ``nan``, ``inf`` and
    ``-inf`` are a usage error naming the flag (argparse adds the flag to the message)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def _is_seed(field: str) -> bool:
    """A field holding a random seed: ``seed``, ``*_seed`` or an entry of a ``seeds`` list."""
    return re.fullmatch(r"(.*_)?seed|(.*_)?seeds\[\d+\]", field) is not None


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def reject_unknown(where: str, raw: Mapping[str, Any], known: Collection[str]) -> None:
    """A `ConfigError` naming the first key of ``raw`` not in ``known`` and listing the allowed
    ones: a misspelt setting is never ignored (the defaults would run silently)."""
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        raise ConfigError(
            f"{where} key {unknown[0]!r}",
            f"one of {', '.join(sorted(known))}",
            unknown[0],
            "Check the spelling; unknown keys are never ignored",
        )


def from_mapping(cls: type[T], raw: Mapping[str, Any], where: str = "config") -> T:
    """Build ``cls`` from a plain mapping; unknown keys and wrongly typed values are errors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a table of settings", raw)
    hints = _hints(cls)
    reject_unknown(where, raw, {f.name for f in dataclasses.fields(cls) if f.init})
    values = {k: coerce(k, hints[k], v) for k, v in raw.items()}
    try:
        return cls(**values)
    except TypeError as err:  # e.g. a nested value the class rejects by type
        raise ConfigError(where, f"settings of {cls.__name__}", dict(raw), str(err)) from None


def show_default(value: Any) -> str:
    """A default as a user would type it on the command line: floats short (``0.333333``,
    ``1e-05``), lists and tuples as space-separated values, None and empty lists as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return " ".join(show_default(v) for v in value)
    return str(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: Collection[str] = (),
    config_file: bool = True,
) -> None:
    """Add one flag per field of ``cls`` (and ``--config FILE``); defaults stay unset.

    Fields whose type has no flag form (nested configs, custom types) are set in the file only.
    """
    hints = _hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} (also settable in --config FILE)")
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        kwargs = _flag_kwargs(hints[f.name])
        if kwargs is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        shown = show_default(default)
        if shown:
            help_text = f"{help_text} (default: {shown})" if help_text else f"default: {shown}"
        group.add_argument(
            _flag(f.name),
            dest=f.name,
            default=argparse.SUPPRESS,
            help=help_text.replace("%", "%%"),
            **kwargs,
        )
    if config_file and not any(a.dest == CONFIG_FLAG for a in parser._actions):
        parser.add_argument(
            "--config", dest=CONFIG_FLAG, metavar="FILE", help="a .json or .toml file of settings"
        )


_FLAG_TYPES: dict[type, Callable[[str], Any]] = {float: finite_float}


def _flag_kwargs(tp: Any) -> dict[str, Any] | None:
    inner, optional = _optional(tp)
    origin = get_origin(inner)
    if origin is Literal:
        return {"choices": get_args(inner), "type": type(get_args(inner)[0])}
    if inner is bool:
        return {"action": argparse.BooleanOptionalAction}
    if inner in (int, float, str):
        return {"type": _FLAG_TYPES.get(inner, inner), "metavar": inner.__name__.upper()}
    if origin is tuple:
        args = get_args(inner)
        item = args[0]
        if get_origin(item) is Literal:
            return {"nargs": "+", "choices": get_args(item)}
        if item in (int, float, str):
            nargs: Any = "+" if len(args) == 2 and args[1] is Ellipsis else len(args)
            kind = _FLAG_TYPES.get(item, item)
            return {"nargs": nargs, "type": kind, "metavar": item.__name__.upper()}
    return None


def config_from_args(
    cls: type[T],
    args: argparse.Namespace,
    *,
    base: T | None = None,
    section: str | None = None,
    **fixed: Any,
) -> T:
    """The config of ``cls``: defaults < ``base`` < ``--config`` file (its ``section`` table if
    given) < flags given on the command line < ``fixed`` (values the command sets itself)."""
    raw: dict[str, Any] = {}
    if base is not None:
        raw.update({f.name: getattr(base, f.name) for f in dataclasses.fields(cls) if f.init})
    path = getattr(args, CONFIG_FLAG, None)
    if path is not None:
        table = read_config_file(path)
        if section is not None:
            table = table.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--config [{section}]", "a table of settings", table)
        raw.update(table)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    given = {k: v for k, v in vars(args).items() if k in names}
    raw.update({k: list(v) if isinstance(v, list) else v for k, v in given.items()})
    raw.update(fixed)
    where = f"--config [{section}]" if section else "config"
    try:
        return from_mapping(cls, raw, where=where)
    except ConfigError as err:  # a value typed on the command line: name its flag
        name = err.field.partition("[")[0]
        if name in given and name not in fixed:
            err.field = _flag(err.field)
            err.args = (_flag(name) + str(err)[len(name) :],)
        raise


def sections_from_args(args: argparse.Namespace, sections: Mapping[str, type]) -> dict[str, Any]:
    """One config per section of a ``--config`` file of tables (``[grid]``, ``[dataset]``, ...),
    each built by `config_from_args`; a key at the top of the file that names no section (a
    misspelt section, or a setting outside any table) is a `ConfigError`.

        >>> sections_from_args(args, {"grid": PowerGridConfig, "dataset": DatasetConfig})
    """
    path = getattr(args, CONFIG_FLAG, None)
    if path is not None:
        reject_unknown("--config", read_config_file(path), sections)
    return {name: config_from_args(cls, args, section=name) for name, cls in sections.items()}
