"""One device check for the whole package: every trainer, simulator and command resolves its
``device`` setting here, so a device this machine does not have is refused the same way
everywhere (a `DeviceError` naming the setting, what is missing and the fix), before anything
is written."""

from __future__ import annotations

import torch

from weightspace.errors import ConfigError, DeviceError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(device: str | torch.device, field: str = "--device") -> torch.device:
    """``device`` as a `torch.device`: ``auto`` is CUDA when one is visible, else the CPU;
    ``cuda``, ``cuda:N`` and ``mps`` must be present. ``field`` names the setting in the error.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(field, f"one of {', '.join(DEVICES)}", device) from error
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(field, device, "no MPS device here")
    elif resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(field, device, "no CUDA device here")
        count = torch.cuda.device_count()
        index = resolved.index
        if index is not None and index >= count:
            raise DeviceError(field, device, f"no CUDA device {index} here ({count} visible)")
    elif resolved.type != "cpu":
        raise ConfigError(field, f"one of {', '.join(DEVICES)}", device)
    return resolved
