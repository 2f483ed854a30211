"""SANE (2024): layer tokens -> per-token latents with a pre-LN transformer encoder/decoder.

Linear(token_size -> d) plus a 3-D learned position, concat(pe_n + pe_l, pe_c), encoder blocks,
Linear(d -> latent) per token. The decoder mirrors it. A model's embedding is the mean of its
per-token latents over its whole sequence (Schürholt et al. 2021, 2022, 2024; Meynent et al. 2025).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from weightspace.errors import ConfigError, check_choice
from weightspace.models.transformer import AutoencoderSizes, Transformer

POOLINGS = ("mean", "layer", "tokens", "ends", "moments")
MOMENT_QUANTILES = (0.1, 0.5, 0.9)
POSITIONS = ("auto", "learned", "sinusoidal")


@dataclass(frozen=True)
class SANEConfig(AutoencoderSizes):
    """Sizes of a SANE model; ``token_size`` and ``max_positions`` come from the data (0 unset)."""

    window: int = 48
    projection: int = 30
    pooling: str = "mean"  # how `embed` pools token latents: one of POOLINGS
    token_size: int = 0
    max_positions: tuple[int, int, int] = (0, 0, 0)  # (tokens, layers, channels)
    # learned tables (SANE, 2024) index only what training saw; sinusoidal ones extend to a
    # network of any length, depth and width (what an encoder across architectures needs).
    # auto: learned for one zoo (as published), sinusoidal for a fit on several zoos
    positions: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % 2:
            raise ConfigError("d_model", "an even number (positions take d/2 each)", self.d_model)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("positions", self.positions, POSITIONS)
        for name in ("window", "projection"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        object.__setattr__(self, "max_positions", tuple(int(v) for v in self.max_positions))

    def to_dict(self) -> dict:
        out = super().to_dict()
        if out["positions"] == "auto":  # as configs saved before the setting existed read
            del out["positions"]
        return out

    def for_tokens(self, num_tokens: int, token_size: int, positions: torch.Tensor) -> SANEConfig:
        """This config sized to a tokenizer: token size, position ranges, window <= sequence."""
        top = positions.reshape(-1, 3).max(0).values + 1
        return replace(
            self,
            token_size=token_size,
            max_positions=tuple(int(v) for v in top),
            window=min(self.window, num_tokens),
        )


SANE_PRESETS = {
    "tiny": SANEConfig(
        d_model=32, heads=2, encoder_layers=1, decoder_layers=1, latent=8, window=16, projection=16
    ),
    "small": SANEConfig(),
    "cnn": SANEConfig(
        d_model=1024, heads=8, encoder_layers=8, decoder_layers=8, latent=128, window=256
    ),
    "resnet": SANEConfig(  # token size 288 as published: 53,704 tokens for a CIFAR ResNet-18
        d_model=2048,
        heads=16,
        encoder_layers=8,
        decoder_layers=8,
        latent=128,
        window=256,
        token_size=288,
    ),
}


class Positions(nn.Module):
    """concat(pe_n + pe_l, pe_c): learned embeddings of the 3 integer positions, d/2 each."""

    def __init__(self, d_model: int, max_positions: tuple[int, int, int]) -> None:
        super().__init__()
        self.max_positions = max_positions
        n, layer, channel = max_positions
        self.n = nn.Embedding(n, d_model // 2)
        self.layer = nn.Embedding(layer, d_model // 2)
        self.channel = nn.Embedding(channel, d_model // 2)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        n, layer, channel = positions.unbind(-1)  # (B, K) each
        return torch.cat([self.n(n) + self.layer(layer), self.channel(channel)], -1)  # (B, K, d)


class SinusoidalPositions(nn.Module):
    """concat(pe_n + pe_l, pe_c) with fixed sinusoidal codes (Vaswani et al. 2017) of each
    integer position, d/2 each: defined for any position, so a network longer, deeper or wider
    than any in training is indexed as well as one seen."""

    def __init__(self, d_model: int, base: float = 10_000.0) -> None:
        super().__init__()
        half = d_model // 2
        frequencies = base ** (-torch.arange(0, half, 2, dtype=torch.float32) / half)
        self.register_buffer("frequencies", frequencies, persistent=False)  # (half / 2,)
        self.half = half

    def code(self, position: torch.Tensor) -> torch.Tensor:
        angle = position.unsqueeze(-1).float() * self.frequencies  # (B, K, half / 2)
        return torch.cat([angle.sin(), angle.cos()], -1)[..., : self.half]  # (B, K, half)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        n, layer, channel = positions.unbind(-1)
        return torch.cat([self.code(n) + self.code(layer), self.code(channel)], -1)


def make_positions(config: SANEConfig) -> nn.Module:
    if config.positions == "sinusoidal":
        return SinusoidalPositions(config.d_model)
    return Positions(config.d_model, config.max_positions)


class SANEAutoencoder(nn.Module):
    """Sequential autoencoder for neural embeddings. Holds no optimizer or device logic.

    Example:
        >>> config = SANE_PRESETS["tiny"].for_tokens(tok.num_tokens, tok.token_size, tok.positions)
        >>> model = SANEAutoencoder(config)
        >>> z = model.encode(batch.tokens, batch.positions)  # (B, K, latent)
        >>> model.decode(z, batch.positions).shape  # (B, K, token_size)
    """

    def __init__(self, config: SANEConfig) -> None:
        super().__init__()
        if config.token_size < 1 or min(config.max_positions) < 1:
            raise ConfigError(
                "SANEConfig",
                "token_size and max_positions set",
                config,
                fix="Size it with config.for_tokens(...)",
            )
        self.config = c = config
        self.embed_tokens = nn.Linear(c.token_size, c.d_model)
        self.encoder_positions = make_positions(c)
        self.encoder = Transformer(c.d_model, c.heads, c.encoder_layers, c.dropout)
        self.to_latent = nn.Linear(c.d_model, c.latent)
        self.from_latent = nn.Linear(c.latent, c.d_model)
        self.decoder_positions = make_positions(c)
        self.decoder = Transformer(c.d_model, c.heads, c.decoder_layers, c.dropout)
        self.to_tokens = nn.Linear(c.d_model, c.token_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c.window * c.latent, c.projection),
            nn.LayerNorm(c.projection),
            nn.ReLU(),
            nn.Linear(c.projection, c.projection),
            nn.LayerNorm(c.projection),
            nn.ReLU(),
        )

    def encode(
        self, tokens: torch.Tensor, positions: torch.Tensor, padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``padding`` (B, K): tokens no other token attends to (models shorter than a pooled
        batch's window); None when every token is real."""
        x = self.embed_tokens(tokens) + self.encoder_positions(positions)  # (B, K, d)
        return self.to_latent(self.encoder(x, padding))  # (B, K, latent)

    def decode(
        self, z: torch.Tensor, positions: torch.Tensor, padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.from_latent(z) + self.decoder_positions(positions)  # (B, K, d)
        return self.to_tokens(self.decoder(x, padding))  # (B, K, token_size)

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Projection for the contrastive loss; needs windows of exactly ``config.window``."""
        return self.head(z)  # (B, projection)

    def tiles(self, n: int) -> list[tuple[int, int]]:
        """(start, index of its first unseen token) of windows tiling n tokens.

        The last window is shifted back to end at token n, so each token is covered once.
        """
        w = min(self.config.window, n)
        starts = list(range(0, n - w + 1, w))
        if starts[-1] + w < n:
            starts.append(n - w)
        return [(s, (starts[i - 1] + w - s) if i else 0) for i, s in enumerate(starts)]

    def latents(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, n, T) whole models -> (B, n, latent): every token's latent, window by window."""
        n, w = tokens.shape[1], min(self.config.window, tokens.shape[1])
        parts = []
        for start, new in self.tiles(n):
            z = self.encode(tokens[:, start : start + w], positions[:, start : start + w])
            parts.append(z[:, new:])
        return torch.cat(parts, 1)

    def embed(
        self, tokens: torch.Tensor, positions: torch.Tensor, pooling: str | None = None
    ) -> torch.Tensor:
        """(B, n, T) whole models -> one embedding per model, pooled by ``pooling`` (default
        ``config.pooling``):

        ``mean`` (SANE's): the mean latent over all tokens, (B, latent); ``layer``: the mean
        latent of each layer block, concatenated, (B, blocks * latent); ``tokens``: every
        token's latent, (B, n * latent); ``ends`` (ours, for networks of different depths):
        the mean and the standard deviation of the latents over the whole network, over its
        first layer and over its last layer, (B, 6 * latent) -- lined up across architectures
        as the cross-architecture s(W) is; ``moments`` (ours): the mean, standard deviation and
        10/50/90 % quantiles of each latent dimension over all tokens, (B, 5 * latent).
        """
        pooling = pooling or self.config.pooling
        check_choice("pooling", pooling, POOLINGS)
        z = self.latents(tokens, positions)  # (B, n, latent)
        if pooling == "mean":
            return z.mean(1)
        if pooling == "tokens":
            return z.flatten(1)
        if pooling == "moments":
            q = torch.tensor(MOMENT_QUANTILES, dtype=z.dtype, device=z.device)
            quantiles = torch.quantile(z, q, dim=1)  # (3, B, latent)
            return torch.cat([z.mean(1), z.std(1, correction=0), *quantiles], 1)
        if pooling == "ends":
            layer = positions[0, :, 1]
            parts = [z, z[:, layer == layer.min()], z[:, layer == layer.max()]]
            spread = [p.std(1, correction=0) for p in parts]
            return torch.cat([p.mean(1) for p in parts] + spread, 1)
        layer = positions[0, :, 1]  # the same layout for every model of the batch
        blocks = torch.zeros(
            len(z), self.config.max_positions[1], z.shape[2], dtype=z.dtype, device=z.device
        ).index_add_(1, layer, z)
        counts = torch.bincount(layer, minlength=blocks.shape[1]).clamp(min=1)
        return (blocks / counts[None, :, None]).flatten(1)

    def decode_latents(self, z: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, n, latent) latents of whole models -> (B, n, T) tokens, with haloed windows.

        A sequence longer than the window is decoded content window by content window, each
        with a quarter window of context on both sides, and only the content is kept, so no
        token is decoded at the edge of what the decoder sees.
        """
        n, w = z.shape[1], self.config.window
        if n <= w:
            return self.decode(z, positions)
        halo = w // 4
        content = w - 2 * halo
        parts = []
        for start in range(0, n, content):
            end = min(start + content, n)
            low = max(0, min(start - halo, n - w))
            decoded = self.decode(z[:, low : low + w], positions[:, low : low + w])
            parts.append(decoded[:, start - low : end - low])
        return torch.cat(parts, 1)

    def reconstruct(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, n, T) whole models -> their (B, n, T) reconstructions, window by window."""
        n, w = tokens.shape[1], min(self.config.window, tokens.shape[1])
        parts = []
        for start, new in self.tiles(n):
            where = positions[:, start : start + w]
            z = self.encode(tokens[:, start : start + w], where)
            parts.append(self.decode(z, where)[:, new:])
        return torch.cat(parts, 1)

    def forward(
        self, tokens: torch.Tensor, positions: torch.Tensor, padding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(latents (B, K, latent), reconstruction (B, K, T), projection (B, projection))."""
        z = self.encode(tokens, positions, padding)
        return z, self.decode(z, positions, padding), self.project(z)
