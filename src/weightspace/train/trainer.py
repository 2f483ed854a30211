"""Train a hyper-representation: AdamW + OneCycle, clipping, AMP on CUDA, validation with a quick
probe, checkpoints every epoch and exact resume, data parallel under ``torchrun``.

The loop runs in one visible order (nanoGPT): lr -> forward/backward -> clip -> step ->
zero_grad -> log; validation and the checkpoint at the end of each epoch. Data order and
augmentations are seeded by (seed, epoch), so resuming at an epoch boundary continues exactly as
the uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from torch import nn
from tqdm.auto import tqdm

from weightspace.errors import ConfigError
from weightspace.tokens.augment import (
    Compose,
    Erase,
    MultiplicativeNoise,
    Permute,
    RandomWindow,
    TwoViews,
)
from weightspace.tokens.dataset import SplitConfig
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.train.checkpoint import STATE, load_checkpoint, save_checkpoint
from weightspace.train.data import TokenTensors
from weightspace.train.objective import Objective


@dataclass(frozen=True)
class TrainConfig:
    """How a hyper-representation is trained (defaults suit small CPU zoos)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01  # on weight matrices only
    warmup: float = 0.3  # OneCycle warm-up share
    grad_clip: float = 1.0
    gamma: float = 0.05  # contrastive share
    temperature: float = 0.1
    behaviour: float | None = None  # beta: the reconstruction share of structure; None = off
    behaviour_temperature: float | None = None  # None: MSE of softmax; else KL at this T
    queries: int = 256
    permute: bool = True
    noise: float = 0.1  # multiplicative noise sigma (0 = off)
    erase: float = 0.0  # erase probability (0 = off)
    zoo_epochs: tuple[int, ...] | None = None  # which checkpoints of each model; None = all
    splits: SplitConfig = field(default_factory=SplitConfig)
    seed: int = 0
    amp: bool = True  # bfloat16 autocast on CUDA
    device: str = "auto"
    probe_rows: int = 1000  # training checkpoints embedded for the validation probe
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        for name in ("gamma", "warmup"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(name, "a share in [0, 1]", getattr(self, name))
        if self.behaviour is not None and not 0 <= self.behaviour <= 1:
            raise ConfigError("behaviour", "a share in [0, 1] or None", self.behaviour)
        if self.zoo_epochs is not None:
            object.__setattr__(self, "zoo_epochs", tuple(int(e) for e in self.zoo_epochs))
        if isinstance(self.splits, dict):
            object.__setattr__(self, "splits", SplitConfig(**self.splits))

    def to_dict(self) -> dict:
        return asdict(self)

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


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
    With ``out``, a checkpoint is written after every epoch and a run there is resumed.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: LayerTokenizer,
        objective: Objective,
        train: TokenTensors,
        val: TokenTensors | None,
        config: TrainConfig,
        window: int | None = None,
        out: Path | None = None,
    ) -> None:
        self.rank, self.world = world()
        if config.batch_size % self.world:
            raise ConfigError(
                "batch_size",
                f"a multiple of the {self.world} data-parallel workers",
                config.batch_size,
            )
        self.device = config.resolve_device()
        self.model = model.to(self.device)
        self.objective = objective
        if objective.behaviour is not None:
            objective.behaviour.to(self.device)
            if window is not None and window < tokenizer.num_tokens:
                raise ConfigError(
                    "window",
                    f"the whole model ({tokenizer.num_tokens} tokens) for the behavioural loss",
                    window,
                )
        objective.reconstruction.to(self.device)
        self.tokenizer, self.config, self.out = tokenizer, config, out
        self.train_data = train.to(self.device)
        self.targets = (  # the originals' outputs on the queries, fixed: computed once
            objective.behaviour.targets(self.train_data.tokens, self.train_data.group)
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
        augment = [Permute(tokenizer)] if config.permute else []
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
            _, recon, _ = self.model(window.tokens, window.positions)
            losses.append(
                self.objective.reconstruction(
                    recon, window.tokens, window.mask, window.positions, self.tokenizer.num_tokens
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
            result["val_probe_r2"] = float(r2_score(y_val, probe.predict(x_val)))
        return result

    @torch.no_grad()
    def embed(self, data: TokenTensors, index: torch.Tensor) -> np.ndarray:
        self.model.eval()
        parts = []
        for chunk in index.split(256):
            batch = data.batch(chunk.to(data.tokens.device))
            parts.append(self.model.embed(batch.tokens, batch.positions).float().cpu())
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
        if self.out is None or not (self.out / "checkpoint" / STATE).is_file():
            return
        state = load_checkpoint(self.out / "checkpoint", self.model, self.optimizer, self.scheduler)
        if state.get("config") != self._fingerprint():
            raise ConfigError(
                "out",
                "a run directory trained with the same settings",
                str(self.out),
                fix="Use a new output directory, or delete its checkpoint/ folder to start over",
            )
        self.start_epoch, self.history = state["epoch"], state["history"]
        self.objective.first = state["first"]

    def _fingerprint(self) -> dict:
        """What must match for a resume to continue the same run (not progress or device)."""
        settings = self.config.to_dict()
        for name in ("progress", "device"):
            settings.pop(name)
        settings["world"] = self.world
        settings["model"] = type(self.model).__name__
        return json.loads(json.dumps(settings))  # as it reads back from state.json

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def _amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"
