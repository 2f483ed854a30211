"""Train a hyper-representation: AdamW + OneCycle, clipping, AMP on CUDA, validation with a quick
probe, checkpoints every epoch and exact resume, data parallel under ``torchrun``.

The loop runs in one visible order (nanoGPT): lr -> forward/backward -> clip -> step ->
zero_grad -> log; validation and the checkpoint at the end of each epoch. Data order and
augmentations are seeded by (seed, epoch), so resuming at an epoch boundary continues exactly as
the uninterrupted run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from sklearn.linear_model import RidgeCV
from torch import nn
from tqdm.auto import tqdm

from weightspace.errors import ConfigError
from weightspace.stats import r2
from weightspace.tokens.augment import (
    Compose,
    Erase,
    MultiplicativeNoise,
    Permute,
    PooledPermute,
    RandomWindow,
    TwoViews,
)
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.train.checkpoint import load_checkpoint, save_checkpoint
from weightspace.train.config import TrainConfig, check_resumable, fingerprint
from weightspace.train.data import StreamedTokens, TokenTensors
from weightspace.train.objective import Objective
from weightspace.train.pool import PooledTokens


def world() -> tuple[int, int]:
    """(rank, world size) of the data-parallel group; (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for key in keys:
        seed = (seed * 1_000_003 + key) % (2**63)
    return torch.Generator().manual_seed(seed)


def make_optimizer(model: nn.Module, config: TrainConfig, steps: int):  # noqa: ANN201
    """AdamW with weight decay on matrices only, and a OneCycle schedule over ``steps``."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    # the fused kernel is several times faster than the per-tensor loop, on CPU too
    optimizer = torch.optim.AdamW(groups, lr=config.lr, fused=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=max(steps, 2), pct_start=config.warmup
    )
    return optimizer, scheduler


class Trainer:
    """Runs the loop for ``model`` on in-memory ``train`` tokens; optional ``val`` for validation.

    ``window`` is the SANE window (None: whole models, as the 2021 autoencoder reads them).
    ``train`` pooled from several zoos (`PooledTokens`) takes the list of their tokenizers.
    With ``out``, a checkpoint is written after every epoch and a run there is resumed.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: LayerTokenizer | list[LayerTokenizer],
        objective: Objective,
        train: TokenTensors | StreamedTokens | PooledTokens,
        val: TokenTensors | StreamedTokens | PooledTokens | None,
        config: TrainConfig,
        window: int | None = None,
        out: Path | None = None,
        identity: dict | None = None,
    ) -> None:
        self.rank, self.world = world()
        if config.batch_size % self.world:
            raise ConfigError(
                "batch_size",
                f"a multiple of the {self.world} data-parallel workers",
                config.batch_size,
            )
        self.device = config.resolve_device()
        self.identity = identity or {"model_class": type(model).__name__}
        self.model = model.to(self.device)
        self.objective = objective
        if objective.behaviour is not None:
            objective.behaviour.to(self.device)
            if window is not None and window < tokenizer.num_tokens:
                raise ConfigError(
                    "behaviour_weight",
                    f"a model preset whose window covers the whole model ({tokenizer.num_tokens} "
                    f"tokens; this one reads {window})",
                    config.behaviour_weight,
                    "Use a larger preset, or leave the behavioural loss off",
                )
        objective.reconstruction.to(self.device)
        self.tokenizer, self.config, self.out = tokenizer, config, out
        self.train_data = train.to(self.device)
        self.targets = (  # the originals' outputs on the queries, fixed: computed once
            torch.cat([objective.behaviour.targets(t, g) for t, g in self.train_data.chunks()])
            if objective.behaviour is not None
            else None
        )
        self.val_data = val.to(self.device) if val is not None else None
        self.batch = min(config.batch_size, len(train) - len(train) % self.world)
        self.steps_per_epoch = len(train) // self.batch
        if self.steps_per_epoch < 1:
            raise ConfigError("training split", f">= {self.world} checkpoints", len(train))
        self.optimizer, self.scheduler = make_optimizer(
            model, config, config.epochs * self.steps_per_epoch
        )
        pooled = isinstance(train, PooledTokens)
        permute = PooledPermute(tokenizer) if pooled else Permute(tokenizer)
        augment = [permute] if config.permute else []
        augment += [MultiplicativeNoise(config.noise)] if config.noise > 0 else []
        augment += [Erase(config.erase)] if config.erase > 0 else []
        self.views = TwoViews(Compose(augment), RandomWindow(window) if window else None)
        self.plain = TwoViews(Compose([]), RandomWindow(window) if window else None)
        self.net = model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(model)
        self.history: list[dict] = []
        self.start_epoch = 0

    # ---- the loop --------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        self._resume()
        for epoch in range(self.start_epoch, self.config.epochs):
            record = self.train_epoch(epoch)
            if self.val_data is not None and self.rank == 0:
                record.update(self.validate())
            self.history.append(record)
            self._checkpoint(epoch)
            if self.config.progress and self.rank == 0:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
                tqdm.write(f"epoch {epoch + 1}/{self.config.epochs}: {shown}")
        return self.history

    def train_epoch(self, epoch: int) -> dict:
        self.model.train()
        order = torch.randperm(len(self.train_data), generator=_generator(self.config.seed, epoch))
        augment_gen = _generator(self.config.seed, epoch, self.rank, 1)
        local = self.batch // self.world
        totals: dict[str, float] = {}
        tokens_seen, start = 0, time.perf_counter()
        bar = tqdm(
            range(self.steps_per_epoch),
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            disable=not self.config.progress or self.rank != 0,
            leave=False,
        )
        for step in bar:
            index = order[step * self.batch : (step + 1) * self.batch]
            index = index[self.rank * local : (self.rank + 1) * local].to(self.device)
            original = self.train_data.batch(index)
            views = self.views(original, augment_gen)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self._amp()):
                target = self.targets[index] if self.targets is not None else None
                loss, parts = self.objective(self.net, views, self.train_data.group[index], target)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            if not math.isfinite(parts["loss"]):
                raise FloatingPointError(f"loss became {parts['loss']} at epoch {epoch + 1}")
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value
            tokens_seen += 2 * views[0].tokens.shape[0] * views[0].tokens.shape[1] * self.world
            rate = tokens_seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{parts['loss']:.4f}", tokens_per_s=f"{rate:.0f}")
        seconds = time.perf_counter() - start
        record = {k: v / self.steps_per_epoch for k, v in totals.items()}
        record.update(epoch=epoch + 1, seconds=seconds, tokens_per_s=tokens_seen / seconds)
        return record

    # ---- validation ------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Reconstruction loss on the validation split and R^2 of a ridge probe of test acc."""
        self.model.eval()
        val = self.val_data
        gen = _generator(self.config.seed, 7)
        losses = []
        for index in torch.arange(len(val)).split(self.config.batch_size):
            batch = val.batch(index.to(self.device))
            window = self.plain(batch, gen)[0]  # no augmentation, a random window
            padding = window.padding()
            extra = () if padding is None else (padding,)
            _, recon, _ = self.model(window.tokens, window.positions, *extra)
            losses.append(
                self.objective.reconstruction(
                    recon, window.tokens, window.mask, window.positions, self.objective.num_tokens
                ).item()
            )
        result = {"val_reconstruction": float(np.mean(losses)) if losses else float("nan")}
        if len(val) >= 2 and "test_acc" in val.properties:
            sub = torch.randperm(len(self.train_data), generator=gen)[: self.config.probe_rows]
            x_train = self.embed(self.train_data, sub)
            x_val = self.embed(val, torch.arange(len(val)))
            y = self.train_data.properties["test_acc"][sub].cpu().numpy()
            probe = RidgeCV(alphas=np.logspace(-5, 3, 9)).fit(x_train, y)
            y_val = val.properties["test_acc"].cpu().numpy()
            result["val_probe_r2"] = r2(y_val, probe.predict(x_val))
        return result

    @torch.no_grad()
    def embed(self, data: TokenTensors | StreamedTokens, index: torch.Tensor) -> np.ndarray:
        self.model.eval()
        parts = []
        for chunk in index.split(data.chunk_rows):
            out = None
            for batch, where in data.whole(chunk.to(data.mask.device)):
                z = self.model.embed(batch.tokens, batch.positions).float().cpu()
                out = z.new_empty(len(chunk), z.shape[1]) if out is None else out
                out[where.cpu()] = z
            parts.append(out)
        return torch.cat(parts).numpy()

    # ---- checkpoints -----------------------------------------------------------------------
    def _checkpoint(self, epoch: int) -> None:
        if self.out is None or self.rank != 0:
            self._barrier()
            return
        state = {
            "epoch": epoch + 1,
            "history": self.history,
            "first": self.objective.first,
            "config": self._fingerprint(),
        }
        save_checkpoint(self.out / "checkpoint", self.model, self.optimizer, self.scheduler, state)
        self._barrier()

    def _resume(self) -> None:
        if self.out is None or not check_resumable(self.out, self._fingerprint()):
            return
        state = load_checkpoint(self.out / "checkpoint", self.model, self.optimizer, self.scheduler)
        self.start_epoch, self.history = state["epoch"], state["history"]
        self.objective.first = state["first"]

    def _fingerprint(self) -> dict:
        return fingerprint(self.config, self.world, self.identity)

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def _amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"
