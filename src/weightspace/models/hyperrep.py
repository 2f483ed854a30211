"""The 2021 attention autoencoder ("EcD") over neuron tokens.

Each row block (layer) has its own linear embedder, since neuron tokens differ in length per
layer; a learned 1-D position embedding; a learned compression token whose output becomes the
latent (linear + tanh). The decoder maps the latent to a sequence, runs its own blocks and
de-embeds per layer. Projection head: an MLP with BatchNorm (Schürholt et al. 2021, 2022, 2024;
Meynent et al. 2025).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from weightspace.errors import ConfigError
from weightspace.models.transformer import AutoencoderSizes, Transformer


@dataclass(frozen=True)
class HyperRepConfig(AutoencoderSizes):
    """Sizes of the 2021 autoencoder. ``layout`` ((rows, cols) per block) comes from the data."""

    d_model: int = 64
    encoder_layers: int = 2
    decoder_layers: int = 2
    projection_hidden: int = 64
    projection: int = 16
    layout: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.projection < 1 or self.projection_hidden < 1:
            raise ConfigError("projection", "an integer >= 1", self.projection)
        object.__setattr__(self, "layout", tuple((int(r), int(c)) for r, c in self.layout))

    @property
    def num_tokens(self) -> int:
        return sum(rows for rows, _ in self.layout)

    @property
    def token_size(self) -> int:
        return max(cols for _, cols in self.layout)

    def for_layout(self, layout: tuple[tuple[int, int], ...]) -> HyperRepConfig:
        return replace(self, layout=layout)


HYPERREP_PRESETS = {
    "tiny": HyperRepConfig(
        d_model=32,
        heads=2,
        encoder_layers=1,
        decoder_layers=1,
        latent=8,
        projection_hidden=16,
        projection=8,
    ),
    "small": HyperRepConfig(),
    "published": HyperRepConfig(
        d_model=512,
        heads=4,
        encoder_layers=4,
        decoder_layers=4,
        latent=700,
        projection_hidden=400,
        projection=50,
        dropout=0.1,
    ),
}


class HyperRepAE(nn.Module):
    """Encoder: (B, n, T) neuron tokens -> (B, latent); decoder back. No optimizer or device logic.

    Tokens come from ``LayerTokenizer(spec, 0)``: one token per neuron, padded to the longest.
    """

    def __init__(self, config: HyperRepConfig) -> None:
        super().__init__()
        if not config.layout:
            raise ConfigError(
                "HyperRepConfig.layout",
                "(rows, cols) per block",
                (),
                fix="Size it with config.for_layout(...)",
            )
        self.config = c = config
        n = c.num_tokens
        self.embedders = nn.ModuleList(nn.Linear(cols, c.d_model) for _, cols in c.layout)
        self.deembedders = nn.ModuleList(nn.Linear(c.d_model, cols) for _, cols in c.layout)
        self.positions = nn.Parameter(torch.randn(n + 1, c.d_model) * 0.02)
        self.compression = nn.Parameter(torch.randn(1, 1, c.d_model) * 0.02)
        self.encoder = Transformer(c.d_model, c.heads, c.encoder_layers, c.dropout)
        self.to_latent = nn.Linear(c.d_model, c.latent)
        self.from_latent = nn.Linear(c.latent, n * c.d_model)
        self.decoder_positions = nn.Parameter(torch.randn(n, c.d_model) * 0.02)
        self.decoder = Transformer(c.d_model, c.heads, c.decoder_layers, c.dropout)
        self.head = nn.Sequential(
            nn.Linear(c.latent, c.projection_hidden),
            nn.BatchNorm1d(c.projection_hidden),
            nn.ReLU(),
            nn.Linear(c.projection_hidden, c.projection),
        )

    def _blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(x.split([rows for rows, _ in self.config.layout], dim=1))

    def encode(self, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n, T) -> (B, latent) in (-1, 1). ``positions`` is accepted for a common API."""
        parts = [
            embed(block[..., :cols])
            for embed, block, (_, cols) in zip(
                self.embedders, self._blocks(tokens), self.config.layout, strict=True
            )
        ]
        x = torch.cat([self.compression.expand(len(tokens), -1, -1), *parts], 1)  # (B, n+1, d)
        x = self.encoder(x + self.positions)
        return torch.tanh(self.to_latent(x[:, 0]))  # (B, latent)

    def decode(self, z: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(B, latent) -> (B, n, T) tokens, zero beyond each layer's length."""
        c = self.config
        x = self.from_latent(z).view(len(z), c.num_tokens, c.d_model) + self.decoder_positions
        x = self.decoder(x)
        parts = [
            nn.functional.pad(deembed(block), (0, c.token_size - cols))
            for deembed, block, (_, cols) in zip(
                self.deembedders, self._blocks(x), c.layout, strict=True
            )
        ]
        return torch.cat(parts, 1)  # (B, n, T)

    def project(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)  # (B, projection)

    def latents(self, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n, T) whole models -> (B, latent): what generation samples around (2022)."""
        return self.encode(tokens, positions)

    def decode_latents(
        self, z: torch.Tensor, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, latent) -> (B, n, T) tokens of whole models (the decoder sees the whole model)."""
        return self.decode(z, positions)

    def embed(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor | None = None,
        pooling: str | None = None,
    ) -> torch.Tensor:
        """(B, latent): the compression token's latent (there is nothing to pool)."""
        if pooling not in (None, "mean"):
            raise ConfigError("pooling", "none for HyperRep (one latent per model)", pooling)
        return self.encode(tokens, positions)

    def reconstruct(
        self, tokens: torch.Tensor, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decode(self.encode(tokens))

    def forward(
        self, tokens: torch.Tensor, positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encode(tokens)
        return z, self.decode(z), self.project(z)
