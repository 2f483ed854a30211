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


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a pickled state dict, safely, on the CPU."""
    path = Path(path)
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
    state = unwrap(state)
    if not isinstance(state, dict) or not state:
        raise FileFormatError(path, "does not hold a state dict of tensors", _FIX)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise FileFormatError(path, f"entry {bad[0]!r} is not a tensor", _FIX)
    return {str(k): v for k, v in state.items()}


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
