"""Losses of hyper-representations: NT-Xent, layer-wise normalized reconstruction, behaviour.

Schürholt et al. 2021, 2022; Meynent et al. 2025. The reconstruction loss is a mean over models,
so data-parallel workers that each
average their share compute the same gradient as one worker on the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.functional import stacked_logits
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.tokenizers import LayerTokenizer


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent of two views (B, p) each: the positive of row i is its other view, the other
    2B - 2 rows are negatives.

    Example:
        >>> nt_xent(torch.randn(8, 30), torch.randn(8, 30)).shape
        torch.Size([])
    """
    z = F.normalize(torch.cat([a, b]), dim=1)  # (2B, p)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    n = len(a)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def block_variances(
    tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, num_blocks: int
) -> torch.Tensor:
    """Variance of each block's values over a set of models: tokens (N, n, T) -> (num_blocks,)."""
    return streamed_block_variances([tokens], mask, positions, num_blocks)


def streamed_block_variances(
    chunks: Iterable[torch.Tensor], mask: torch.Tensor, positions: torch.Tensor, num_blocks: int
) -> torch.Tensor:
    """`block_variances` of token chunks (b, n, T) read one at a time (a split too big for
    memory): counts, sums and sums of squares add up across chunks."""
    layer = positions[..., 1].reshape(-1)  # (n,)
    count = torch.zeros(num_blocks, dtype=torch.float64)
    total, squares = torch.zeros_like(count), torch.zeros_like(count)
    per_token = mask.reshape(len(layer), -1).sum(1).double()  # (n,) real values per token
    for tokens in chunks:
        values = (tokens.cpu() * mask.cpu()).double()  # (b, n, T)
        count.index_add_(0, layer.cpu(), per_token.cpu() * len(tokens))
        total.index_add_(0, layer.cpu(), values.sum((0, 2)))
        squares.index_add_(0, layer.cpu(), (values**2).sum((0, 2)))
    mean = total / count.clamp(min=1)
    return (squares / count.clamp(min=1) - mean**2).clamp(min=1e-8).float()


class ReconstructionLoss(nn.Module):
    """Masked MSE with layer-wise loss normalization (2022).

    Each block's squared errors are divided by the block's variance across the training zoo and
    by its number of values, so small or low-variance layers count as much as large ones.
    Per model, the loss is the mean of these per-block errors over the blocks; a window adds up
    its blocks' shares, scaled by (tokens per model / tokens per window).
    """

    def __init__(self, variances: torch.Tensor, values_per_block: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", 1.0 / (variances * values_per_block))  # (blocks,)

    @classmethod
    def for_tokenizer(
        cls, tokenizer: LayerTokenizer, variances: torch.Tensor, normalize: bool = True
    ) -> ReconstructionLoss:
        """Layer-wise normalized (``normalize``), or the plain MSE over all values of a model."""
        layer = tokenizer.positions[:, 1]
        per_block = torch.zeros(tokenizer.num_blocks).index_add_(
            0, layer, tokenizer.mask.sum(1).float()
        )
        if not normalize:  # every value weighs 1 / (values per model)
            per_block = torch.full_like(per_block, per_block.sum() / tokenizer.num_blocks)
            variances = torch.ones_like(per_block)
        return cls(variances, per_block)

    def forward(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        num_tokens: int,
    ) -> torch.Tensor:
        err = ((prediction - target) ** 2 * mask).sum(-1)  # (B, K)
        per_model = (err * self.weights[positions[..., 1]]).sum(1)  # (B,)
        scale = num_tokens / prediction.shape[1] / len(self.weights)
        return per_model.mean() * scale


class BehaviourLoss(nn.Module):
    """Compare what original and reconstructed networks compute on fixed query inputs (2025).

    Reconstructed tokens are detokenized, de-normalized and run through the architecture with
    `weightspace.functional.stacked_logits` (``functional_call`` vmapped over the batch); the
    loss is the MSE of softmax outputs, or the KL divergence at ``temperature`` when one is
    given. Models of different activations run in their own group (``nets[i]`` for ``group == i``).
    """

    def __init__(
        self,
        tokenizer: LayerTokenizer,
        normalizer: LayerNormalizer,
        nets: Sequence[nn.Module],
        queries: torch.Tensor,
        temperature: float | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer, self.normalizer = tokenizer, normalizer
        self.nets = nn.ModuleList(net.eval() for net in nets)
        self.register_buffer("queries", queries)  # (Q, C, H, W)
        self.temperature = temperature

    def weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, n, T) normalized tokens of whole models -> (B, P) raw weights, differentiably."""
        return self.normalizer.inverse_transform(self.tokenizer.detokenize(tokens))

    def logits(self, flat: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """(B, P) raw weights -> (B, Q, classes) outputs on the queries."""
        spec = self.tokenizer.spec
        out = None
        for g in group.unique().tolist():
            rows = (group == g).nonzero().squeeze(1)
            params = spec.unflatten(flat[rows])  # {key: (b, *shape)}
            logits = stacked_logits(self.nets[g], params, self.queries)  # (b, Q, classes)
            if out is None:
                out = logits.new_empty(len(flat), *logits.shape[1:])
            out = out.index_copy(0, rows, logits)
        return out

    @torch.no_grad()
    def targets(
        self, original: torch.Tensor, group: torch.Tensor, batch_size: int = 256
    ) -> torch.Tensor:
        """(N, Q, classes) outputs of the original networks, (N, n, T) normalized tokens.

        They do not change during training: the trainer computes them once (they are far
        smaller than the tokens it already holds) and passes each batch's rows to `forward`.
        """
        return torch.cat(
            [
                self.logits(self.weights(t), g)
                for t, g in zip(original.split(batch_size), group.split(batch_size), strict=True)
            ]
        )

    def forward(
        self, reconstruction: torch.Tensor, target: torch.Tensor, group: torch.Tensor
    ) -> torch.Tensor:
        """reconstruction: (B, n, T) normalized tokens of whole models; target: (B, Q, classes)
        the originals' outputs (`targets`); group: (B,)."""
        logits = self.logits(self.weights(reconstruction), group)
        if self.temperature is None:
            return F.mse_loss(logits.softmax(-1), target.softmax(-1))
        t = self.temperature
        log_p = F.log_softmax(logits / t, -1).flatten(0, 1)
        return (
            F.kl_div(
                log_p,
                F.log_softmax(target / t, -1).flatten(0, 1),
                log_target=True,
                reduction="batchmean",
            )
            * t
            * t
        )
