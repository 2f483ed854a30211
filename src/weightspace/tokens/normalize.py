"""Per-layer standardization of weights, fitted on the training split only (Schürholt et al. 2021,
2022; SANE, ICML 2024).

For each row block (a layer's weight and bias together; BatchNorm gamma/beta, running mean and
running variance apart): mu = mean of the per-model means, sigma = sqrt(mean of the per-model
variances). Fitted once, saved with the model that uses it, inverted on decode.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from weightspace.errors import ConfigError, FileFormatError, NotFittedError
from weightspace.spec import WeightSpec
from weightspace.tokens.tokenizers import row_blocks
from weightspace.zoo.storage import atomic_write_bytes

_EPS = 1e-8  # a block that does not vary across the zoo (e.g. running_var at init) keeps sigma 1


class LayerNormalizer:
    """Standardize each row block of a spec; ``fit`` on training weights, then ``transform``.

    Example:
        >>> norm = LayerNormalizer(spec).fit(train_flat)  # (n, P), or an iterable of batches
        >>> z = norm.transform(flat)  # (B, P), each block ~ zero mean, unit variance
        >>> torch.allclose(norm.inverse_transform(z), flat, atol=1e-6)
        True
    """

    def __init__(self, spec: WeightSpec) -> None:
        self.spec = spec

    def fit(self, weights: torch.Tensor | Iterable[torch.Tensor]) -> LayerNormalizer:
        """Fit on a (n, P) tensor or an iterable of (b, P) batches of training weights."""
        batches = [weights] if isinstance(weights, torch.Tensor) else weights
        blocks = row_blocks(self.spec)
        mean_sum = torch.zeros(len(blocks), dtype=torch.float64)
        var_sum = torch.zeros(len(blocks), dtype=torch.float64)
        count = 0
        for flat in batches:
            flat = self._check(flat).to(torch.float64)
            for i, values in enumerate(self._block_values(flat, blocks)):
                mean_sum[i] += values.mean(1).sum()
                var_sum[i] += values.var(1, correction=0).sum()
            count += flat.shape[0]
        if count == 0:
            raise ConfigError("weights", "at least one training model to fit on", 0)
        std = (var_sum / count).sqrt()
        self.mean_ = (mean_sum / count).to(torch.float32)  # (blocks,)
        self.std_ = torch.where(std > _EPS, std, torch.ones_like(std)).to(torch.float32)
        return self

    def identity(self) -> LayerNormalizer:
        """Leave weights as they are (mean 0, sd 1 for every block): no standardization."""
        blocks = len(row_blocks(self.spec))
        self.mean_, self.std_ = torch.zeros(blocks), torch.ones(blocks)
        return self

    def transform(self, flat: torch.Tensor) -> torch.Tensor:
        """(B, P) or (P,) raw weights -> standardized weights of the same shape."""
        mean, std = self._per_tensor()
        return self._apply(self._check(flat), lambda x, i: (x - mean[i]) / std[i])

    def inverse_transform(self, flat: torch.Tensor) -> torch.Tensor:
        """Standardized weights -> raw weights (the exact inverse up to float rounding)."""
        mean, std = self._per_tensor()
        return self._apply(self._check(flat), lambda x, i: x * std[i] + mean[i])

    # ---- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        self._check_fitted()
        return {"mean": self.mean_, "std": self.std_}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> LayerNormalizer:
        blocks = len(row_blocks(self.spec))
        for name in ("mean", "std"):
            if name not in state or tuple(state[name].shape) != (blocks,):
                raise ConfigError(f"normalizer[{name!r}]", f"a tensor of shape ({blocks},)", None)
        self.mean_, self.std_ = state["mean"].float(), state["std"].float()
        return self

    def save(self, path: str | Path) -> None:
        """Write the fitted statistics and the spec to one safetensors file (atomically)."""
        meta = {"format": "weightspace.layer_normalizer", "spec": json.dumps(self.spec.to_dict())}
        atomic_write_bytes(Path(path), save(self.state_dict(), meta))

    @classmethod
    def load(cls, path: str | Path) -> LayerNormalizer:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
            state = load_file(str(path))
            spec = WeightSpec.from_dict(json.loads(meta["spec"]))
        except (SafetensorError, OSError, KeyError, ValueError) as err:
            raise FileFormatError(path, f"not a saved LayerNormalizer ({err})") from None
        return cls(spec).load_state_dict(state)

    # ---- helpers ----------------------------------------------------------------------------
    def _check(self, flat: torch.Tensor) -> torch.Tensor:
        if flat.dim() not in (1, 2) or flat.shape[-1] != self.spec.num_params:
            expected = f"shape (B, {self.spec.num_params})"
            raise ConfigError("weights", expected, tuple(flat.shape))
        if not torch.isfinite(flat).all():
            raise ConfigError(
                "weights", "finite values", "NaN or inf", fix="Drop diverged checkpoints first"
            )
        return flat

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError("This LayerNormalizer is not fitted yet; call fit() first.")

    def _block_values(self, flat: torch.Tensor, blocks) -> Iterable[torch.Tensor]:  # noqa: ANN001
        for block in blocks:
            parts = [self._slice(flat, key) for key in block.keys]
            yield torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def _slice(self, flat: torch.Tensor, key: str) -> torch.Tensor:
        start = self.spec.offsets[key]
        return flat.reshape(-1, flat.shape[-1])[:, start : start + self.spec.by_key[key].numel]

    def _per_tensor(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        self._check_fitted()
        mean, std = {}, {}
        for i, block in enumerate(row_blocks(self.spec)):
            for key in block.keys:
                mean[key], std[key] = self.mean_[i], self.std_[i]
        return mean, std

    def _apply(self, flat: torch.Tensor, fn) -> torch.Tensor:  # noqa: ANN001
        parts = flat.split([t.numel for t in self.spec.tensors], -1)
        return torch.cat([fn(p, t.key) for p, t in zip(parts, self.spec.tensors, strict=True)], -1)
