"""The pre-LayerNorm transformer block both hyper-representations are built from (non-causal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import ConfigError


@dataclass(frozen=True)
class AutoencoderSizes:
    """What both autoencoders share: width, heads, depth of each half, latent size, dropout."""

    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 4
    latent: int = 32
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ConfigError("d_model", f"a multiple of heads ({self.heads})", self.d_model)
        for name in ("encoder_layers", "decoder_layers", "latent"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", "a rate in [0, 1)", self.dropout)

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """x + attention(LN(x)); x + MLP(LN(x)) with a 4x GELU MLP (GPT-2 style, no causal mask)."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),
            nn.GELU(),
            nn.Linear(4 * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """``padding`` (B, n) bool: keys no query attends to (None: attend to all)."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)  # (B, n, d) each
        q, k, v = (t.view(b, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        keep = None if padding is None else ~padding[:, None, None, :]  # (B, 1, 1, n)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
        x = x + self.out(y.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """``layers`` blocks and a final LayerNorm."""

    def __init__(self, d_model: int, heads: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, padding)
        return self.ln(x)  # (B, n, d)
