"""How well reconstructed networks behave like their originals: top-1 agreement on inputs."""

from __future__ import annotations

import numpy as np
import torch

from weightspace.tokens.dataset import zoo_spec
from weightspace.zoo.architectures import build_model
from weightspace.zoo.reader import Zoo


@torch.no_grad()
def top1_agreement(
    zoo: Zoo, rows: np.ndarray, reconstructed: torch.Tensor, inputs: torch.Tensor
) -> float:
    """Share of ``inputs`` on which each reconstruction predicts the class its original does.

    ``reconstructed`` (n, P) holds raw weights for ``rows``, in the zoo's flat order.
    """
    spec = zoo_spec(zoo)
    agree = []
    for i, row in enumerate(np.asarray(rows)):
        net = build_model(zoo.arch(int(row))).eval()
        net.load_state_dict(zoo.state_dict(int(row)))
        original = net(inputs).argmax(1)
        net.load_state_dict(spec.unflatten(reconstructed[i]), strict=False)
        agree.append((net(inputs).argmax(1) == original).float().mean().item())
    return float(np.mean(agree))
