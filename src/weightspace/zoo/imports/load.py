"""Read one checkpoint file without ever running code from it.

PyTorch checkpoints are pickles: they load with ``torch.load(..., weights_only=True)`` only,
which refuses anything but tensors and plain containers. safetensors files hold no code at all.
"""

from __future__ import annotations

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
            state = torch.load(path, map_location="cpu", weights_only=True)
    # Garbage bytes make the weights-only unpickler raise almost anything (struct.error,
    # IndexError, UnpicklingError, ...; the fuzz tests found them). Every one is turned into one
    # reported error on this file: nothing is dropped silently, and no code from it runs.
    except Exception as err:  # noqa: BLE001
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileFormatError(
            path, f"refused or unreadable checkpoint ({first[:200]})", _FIX
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that wraps the weights
    if not isinstance(state, dict) or not state:
        raise FileFormatError(path, "does not hold a state dict of tensors", _FIX)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise FileFormatError(path, f"entry {bad[0]!r} is not a tensor", _FIX)
    return {str(k): v for k, v in state.items()}
