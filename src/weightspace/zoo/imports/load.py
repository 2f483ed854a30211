"""Read one checkpoint file without ever running code from it.

PyTorch checkpoints are pickles: they load with ``torch.load(..., weights_only=True)`` only,
which refuses anything but tensors and plain containers. safetensors files hold no code at all.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

from weightspace.errors import FileFormatError

_FIX = "Save plain state dicts (safetensors, or torch.save(model.state_dict()))"


def load_state_dict(path: Path, entry: int | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a pickled state dict, safely, on the CPU.

    A file holding a list of state dicts (an ensemble or a trajectory saved at once) needs
    ``entry``, the index of the one to read; `count_entries` says how many it holds."""
    path = Path(path)
    state = _read(path)
    if isinstance(state, (list, tuple)):
        if entry is None:
            raise FileFormatError(
                path,
                f"holds a list of {len(state)} state dicts, where one was expected",
                "Import its folder with `zoo import --from folder` (each entry becomes a model, "
                "or with --list-entries epochs a checkpoint)",
            )
        if not 0 <= entry < len(state):
            raise FileFormatError(path, f"holds {len(state)} state dicts, not entry {entry}")
        state, where = unwrap(state[entry]), f"{path} [entry {entry}]"
    else:
        where = str(path)
    if not isinstance(state, dict) or not state:
        raise FileFormatError(where, "does not hold a state dict of tensors", _FIX)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise FileFormatError(where, f"entry {bad[0]!r} is not a tensor", _FIX)
    return {str(k): v for k, v in state.items()}


def count_entries(path: Path) -> int | None:
    """How many state dicts a file holding a list of them has; None for a single one (and for
    a file that cannot be read: reading it for real reports why)."""
    if Path(path).suffix == ".safetensors":
        return None  # one flat dict of tensors by construction
    try:
        state = _read(Path(path))
    except FileFormatError:
        return None
    return len(state) if isinstance(state, (list, tuple)) else None


def _read(path: Path) -> object:
    """The unwrapped object of a checkpoint file, read without running code from it."""
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            with warnings.catch_warnings():  # torch's notes on pickle protocols: noise here
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    # Garbage bytes make the weights-only unpickler raise almost anything (struct.error,
    # IndexError, UnpicklingError, ...; the fuzz tests found them). Every one is turned into one
    # reported error on this file: nothing is dropped silently, and no code from it runs.
    except Exception as err:  # noqa: BLE001
        raise FileFormatError(path, _refusal(err), _FIX) from None
    return unwrap(state)


def _refusal(err: Exception) -> str:
    """What was refused, in our words: torch's own message advises turning the protection off."""
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"global:? ([\w.]+)", text)
    if found:
        return (
            f"refused: the pickle asks for {found.group(1)}, which a plain state dict never "
            "needs (nothing from the file was run; only tensors and plain containers load)"
        )
    if "Weights only load failed" in text:
        return "refused: the pickle holds objects other than tensors and plain containers"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"refused or unreadable checkpoint ({first[:200]})"


WRAPPERS = ("state_dict", "model_state_dict", "model", "net")


def unwrap(state: object) -> object:
    """The weights of a training checkpoint that wraps them: ``{"state_dict": ...}`` (PyTorch
    Lightning; other entries such as optimizer states are ignored), ``{"model": ...}``,
    ``{"net": ...}``. A plain state dict (all tensors) is returned as it is."""
    if not isinstance(state, dict) or all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    for key in WRAPPERS:
        inner = state.get(key)
        if isinstance(inner, dict) and inner:
            return inner
    return state
