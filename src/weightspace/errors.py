"""The package's own error types: every user-caused problem raises one of these.

Each message names the offending field or file, says what was expected and how to fix it.
"""

from __future__ import annotations


class WeightspaceError(Exception):
    """Base class of every error weightspace raises on bad input."""


class ConfigError(WeightspaceError, ValueError):
    """A configuration value is missing, misspelt or out of range."""

    def __init__(self, field: str, expected: str, got: object, fix: str = "") -> None:
        self.field = field
        message = f"{field}: expected {expected}, got {got!r}"
        if fix:
            message += f". {fix}"
        super().__init__(message)


class DeviceError(ConfigError):
    """A device was asked for (``--device cuda``) that this machine does not have."""

    def __init__(self, field: str, device: str, problem: str, fix: str = "") -> None:
        self.field, self.device = field, device
        fix = fix or f"use {field} cpu"
        WeightspaceError.__init__(self, f"{field} {device}: {problem}; {fix}")


class FileFormatError(WeightspaceError):
    """A file is missing, corrupt or of the wrong format."""

    def __init__(self, path: object, problem: str, fix: str = "") -> None:
        self.path = str(path)
        message = f"{self.path}: {problem}"
        if fix:
            message += f". {fix}"
        super().__init__(message)


class ZooFormatError(FileFormatError):
    """A zoo directory or one of its files is missing, corrupt or of the wrong format."""


class DatasetError(FileFormatError):
    """A dataset file is missing or malformed."""


def check_choice(field: str, value: object, allowed: tuple | list | dict) -> None:
    """Raise a `ConfigError` unless ``value`` is one of ``allowed``."""
    try:
        known = value in allowed
    except TypeError:  # an unhashable value (a list, a table) against a dict of choices
        known = False
    if not known:
        names = ", ".join(repr(a) for a in allowed)
        raise ConfigError(field, f"one of {names}", value, "Pick one of the allowed values.")


def _not_fitted_error() -> type:
    """``NotFittedError``, built on first use: it subclasses scikit-learn's ``NotFittedError``
    (so ``except sklearn.exceptions.NotFittedError`` catches it too), and importing
    scikit-learn takes about a second, which ``weightspace --help`` must not pay."""
    from sklearn.exceptions import NotFittedError as sklearn_not_fitted

    class NotFittedError(WeightspaceError, sklearn_not_fitted):
        """A fitted object (normalizer, encoder, probe) was used before ``fit``."""

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str) -> type:  # PEP 562: `from weightspace.errors import NotFittedError`
    if name != "NotFittedError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = globals()["NotFittedError"] = _not_fitted_error()  # created once
    return cls
