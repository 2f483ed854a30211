"""The package's own error types: every user-caused problem raises one of these.

Each message names the offending field or file, says what was expected and how to fix it.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFitted


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


class NotFittedError(WeightspaceError, _SklearnNotFitted):
    """A fitted object (normalizer, encoder, probe) was used before ``fit``."""
