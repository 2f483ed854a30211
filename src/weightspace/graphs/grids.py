"""The DBGNN as a power-grid node regressor (SNBS per node), as Nauck et al. 2024 set it up.

Inputs: node feature P (n, 1), edge feature K (m, 1), both directions of every line; output one
value in [0, 1] per node (a sigmoid, as the message-passing baselines of the power-grid
package have), no pooling. The published depth, about 4 layers x 12 steps, is the default.
"""

from __future__ import annotations

import torch
from torch import nn

from weightspace.graphs.data import GraphLike
from weightspace.graphs.dbgnn import DBGNN, DBGNNConfig

DBGNN_LAYERS = 4  # Nauck et al. 2024, power grids: about 4 layers x 12 steps
DBGNN_STEPS = 12


class GridDBGNN(nn.Module):
    """``forward(batch)`` -> (n,) SNBS predictions in [0, 1]; ``batch`` a PyG batch of grids.

    Example:
        >>> model = GridDBGNN(hidden=32)
        >>> fit_node_regressor(model, splits["train"], splits["valid"], GridTrainConfig())
    """

    def __init__(
        self,
        hidden: int = 32,
        layers: int = DBGNN_LAYERS,
        steps: int = DBGNN_STEPS,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.net = DBGNN(
            DBGNNConfig(
                node_in=1,
                edge_in=1,
                out=1,
                hidden_node=hidden,
                hidden_edge=hidden,
                layers=layers,
                steps=steps,
                activation=activation,
            )
        )

    def forward(self, batch: GraphLike) -> torch.Tensor:
        return torch.sigmoid(self.net(batch)).squeeze(-1)  # (n,)
