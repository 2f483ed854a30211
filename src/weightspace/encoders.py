"""Hyper-representations as scikit-learn style encoders: ``SANE().fit(zoo).transform(zoo)``.

``__init__`` only stores settings; ``fit`` tokenizes the zoo, fits the normalizer on the
training split, trains, and sets the learned state (names ending in ``_``); ``transform`` gives
one embedding per checkpoint; ``save``/``load`` write and read a directory (safetensors + JSON).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from weightspace.errors import ConfigError, FileFormatError, NotFittedError, check_choice
from weightspace.models.hyperrep import HYPERREP_PRESETS, HyperRepAE, HyperRepConfig
from weightspace.models.losses import (
    BehaviourLoss,
    ReconstructionLoss,
    streamed_block_variances,
)
from weightspace.models.sane import SANE_PRESETS, SANEAutoencoder, SANEConfig
from weightspace.spec import WeightSpec
from weightspace.tokens.dataset import fit_normalizer, split_rows, zoo_spec
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.splits import SPLIT_FILE, Split, check_part_sizes, resolve_split
from weightspace.tokens.tokenizers import LayerTokenizer, row_blocks
from weightspace.train.checkpoint import check_fit_output
from weightspace.train.config import check_resumable, fingerprint
from weightspace.train.data import split_tokens, zoo_archs
from weightspace.train.objective import Objective
from weightspace.train.pool import POOL_TOKEN_SIZE, PoolState, TokenPool, pool_loss
from weightspace.train.trainer import TrainConfig, Trainer, world
from weightspace.zoo.architectures import build_model
from weightspace.zoo.datasets import load_dataset
from weightspace.zoo.reader import Zoo, open_zoo
from weightspace.zoo.storage import atomic_write_bytes, atomic_write_json, read_json

CONFIG, WEIGHTS = "config.json", "model.safetensors"


def _check_fit_split(split: Split) -> None:
    """Refuse a split with no training model; warn when nothing is left to test the encoder on
    (probes and samples score on the test models, so they will refuse this encoder)."""
    counts = {part: len(models) for part, models in split.models.items()}
    check_part_sizes(counts, {"train": 1}, split.kind, "to fit an encoder")
    if counts["test"] < 2 or counts["val"] < 1:
        warnings.warn(
            f"the {split.kind} split holds {counts['train']} training, {counts['val']} "
            f"validation and {counts['test']} test models: too few to validate or probe the "
            "encoder (probes need >= 1 validation and >= 2 test models). Use a zoo with more "
            "models, or change the split's fractions",
            stacklevel=3,
        )


class HyperRepresentation:
    """Common fit / transform / save / load of the two autoencoders."""

    kind: ClassVar[str]
    presets: ClassVar[dict]

    def __init__(
        self,
        preset: str = "small",
        config: SANEConfig | HyperRepConfig | None = None,
        train: TrainConfig | None = None,
        out: str | Path | None = None,
    ) -> None:
        self.preset = preset
        self.config = config
        self.train = train
        self.out = out

    # ---- what differs between the two -----------------------------------------------------
    def _model_config(self):  # noqa: ANN202
        if self.config is not None:
            return self.config
        check_choice("preset", self.preset, tuple(self.presets))
        return self.presets[self.preset]

    def _tokenizer(self, spec: WeightSpec) -> LayerTokenizer:
        return LayerTokenizer(spec)

    def _resolve(self, tokenizer: LayerTokenizer):  # noqa: ANN202
        """The model config sized to ``tokenizer`` (what `_build` constructs)."""
        raise NotImplementedError

    def _build(self, tokenizer: LayerTokenizer) -> tuple[nn.Module, int | None]:
        config = self._resolve(tokenizer)
        return self.module_type(config), getattr(config, "window", None)

    def _check_before_training(self, zoo: Zoo, cfg: TrainConfig, out: Path | None) -> None:
        """Everything a user can get wrong, checked before minutes of work: the run directory,
        the device, the zoo epochs, the behavioural loss's window, and (when resuming) that the
        run directory was trained on this zoo with this model and these settings."""
        if out is not None:
            check_run_dir(out)
        cfg.resolve_device()
        zoo.check_epochs(cfg.zoo_epochs)
        tokenizer = self._tokenizer(zoo_spec(zoo))
        config = self._resolve(tokenizer)
        window = getattr(config, "window", None)
        if (
            cfg.behaviour_weight is not None
            and window is not None
            and window < tokenizer.num_tokens
        ):
            raise ConfigError(
                "behaviour_weight",
                f"a model preset that decodes whole models ({tokenizer.num_tokens} tokens; "
                f"preset {self.preset!r} reads windows of {window})",
                cfg.behaviour_weight,
                "Use a larger preset, or leave the behavioural loss off",
            )
        if out is not None:
            check_resumable(out, fingerprint(cfg, world()[1], self._identity(zoo, config)))

    def _identity(self, zoo: Zoo, config) -> dict:  # noqa: ANN001
        """What a resumed run must share besides the settings: the zoo's content and the model."""
        return {
            "zoo_sha256": zoo.content_sha256,
            "model_kind": self.kind,
            "model_config": config.to_dict(),
            "model_class": self.module_type.__name__,
        }

    # ---- fit / transform -------------------------------------------------------------------
    def fit(self, zoo: Zoo | str | Path | Sequence[Zoo | str | Path]) -> HyperRepresentation:
        """Train on the training split of ``zoo`` (validating on its validation split).

        A list of zoos (of any architectures and datasets) is one training set: each zoo keeps
        its own split and a batch mixes them (SANE only; `weightspace.train.pool`).
        """
        if isinstance(zoo, (list, tuple)):
            return self._fit_pool([z if isinstance(z, Zoo) else open_zoo(z) for z in zoo])
        zoo = zoo if isinstance(zoo, Zoo) else open_zoo(zoo)
        cfg = self.train or TrainConfig()
        out = Path(self.out) if self.out is not None else None
        self._check_before_training(zoo, cfg, out)
        tokenizer = self._tokenizer(zoo_spec(zoo))
        split = resolve_split(
            zoo, cfg.splits
        )  # saved with the encoder: probes and samples reuse it
        if cfg.layer_normalization:
            normalizer = fit_normalizer(zoo, split, cfg.zoo_epochs)
        else:
            normalizer = LayerNormalizer(zoo_spec(zoo)).identity()
        rows = {s: split_rows(zoo, s, split, cfg.zoo_epochs) for s in ("train", "val")}
        _check_fit_split(split)
        train = split_tokens(zoo, rows["train"], tokenizer, normalizer, cfg.memory_mb)
        val = None
        if len(rows["val"]):
            val = split_tokens(zoo, rows["val"], tokenizer, normalizer, cfg.memory_mb / 4)
        variances = streamed_block_variances(
            (t for t, _ in train.chunks()), train.mask, train.positions, tokenizer.num_blocks
        )
        behaviour = None
        if cfg.behaviour_weight is not None:
            queries = load_dataset(zoo.dataset).train_x[: cfg.queries]
            nets = [build_model(a) for a in zoo_archs(zoo)]
            behaviour = BehaviourLoss(
                tokenizer, normalizer, nets, queries, cfg.behaviour_temperature
            )
        torch.manual_seed(cfg.seed)
        model, window = self._build(tokenizer)
        objective = Objective(
            ReconstructionLoss.for_tokenizer(tokenizer, variances, cfg.layer_normalization),
            tokenizer.num_tokens,
            cfg.gamma,
            cfg.temperature,
            behaviour,
            1.0 - (cfg.behaviour_weight or 0.0),  # the reconstruction share
        )
        identity = self._identity(zoo, model.config)
        trainer = Trainer(model, tokenizer, objective, train, val, cfg, window, out, identity)
        self.history_ = trainer.fit()
        self.model_ = model.eval()
        self.tokenizer_, self.normalizer_, self.variances_ = tokenizer, normalizer, variances
        self.model_config_ = model.config
        self.train_config_ = cfg
        self.split_ = split
        if out is not None and world()[0] == 0:
            self.save(out)
        return self

    def _fit_pool(self, zoos: list[Zoo]) -> HyperRepresentation:
        raise ConfigError(
            "zoo",
            "one zoo (this encoder reads one architecture)",
            f"{len(zoos)} zoos",
            "Fit SANE to learn from several zoos at once",
        )

    @torch.no_grad()
    def transform(
        self,
        zoo: Zoo | str | Path,
        rows: np.ndarray | None = None,
        batch_size: int = 256,
        pooling: str | None = None,
    ) -> np.ndarray:
        """Embeddings ``(n_checkpoints, d)`` of ``rows`` (default: every checkpoint of ``zoo``).

        ``pooling`` overrides SANE's configured pooling of token latents (mean, layer, tokens).
        """
        zoo = self._zoo(zoo)
        rows = np.arange(len(zoo)) if rows is None else zoo.rows(rows)  # indices or a mask
        parts = [
            self.model_.embed(b.tokens, b.positions, pooling).float().cpu()
            for b in self._batches(zoo, rows, batch_size)
        ]
        return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)

    def _batches(self, zoo: Zoo, rows: np.ndarray, batch_size: int = 256):  # noqa: ANN202
        """Normalized token batches of ``rows``, on the model's device, the model in eval mode."""
        device = next(self.model_.eval().parameters()).device
        tokenizer, normalizer = self._codec(zoo)
        pool = getattr(self, "pool_", None)
        for _, flat in zoo.batches(np.asarray(rows), batch_size):
            flat = pool.prepare(tokenizer.spec, flat) if pool is not None else flat
            yield tokenizer.tokenize(normalizer.transform(flat)).to(device)

    def _codec(self, zoo: Zoo) -> tuple[LayerTokenizer, LayerNormalizer]:
        """The tokenizer and normalizer that read ``zoo`` (checked by `_zoo`)."""
        return self.tokenizer_, self.normalizer_

    @torch.no_grad()
    def reconstruct(self, zoo: Zoo | str | Path, rows: np.ndarray) -> torch.Tensor:
        """Encode and decode ``rows`` of ``zoo``: their reconstructed raw weights (n, P)."""
        zoo = self._zoo(zoo)
        parts = []
        tokenizer, normalizer = self._codec(zoo)
        for batch in self._batches(zoo, rows):
            tokens = self.model_.reconstruct(batch.tokens, batch.positions).float().cpu()
            parts.append(normalizer.inverse_transform(tokenizer.detokenize(tokens)))
        return torch.cat(parts)

    @torch.no_grad()
    def latents(self, zoo: Zoo | str | Path, rows: np.ndarray) -> np.ndarray:
        """What the decoder reads: (n, tokens, latent) for SANE, (n, latent) for HyperRep."""
        zoo = self._zoo(zoo)
        parts = [
            self.model_.latents(b.tokens, b.positions).float().cpu()
            for b in self._batches(zoo, rows)
        ]
        return torch.cat(parts).numpy()

    @torch.no_grad()
    def decode(
        self, latents: np.ndarray | torch.Tensor, zoo: Zoo | str | Path | None = None
    ) -> torch.Tensor:
        """Latents (as `latents` gives them) -> raw weights (n, P) in the zoo's flat order.

        An encoder fitted on several zoos decodes to the architecture of ``zoo`` (any zoo,
        also one it never saw: the latents must then be of that zoo's sequence length).
        """
        self._check_fitted()
        if zoo is None and self.tokenizer_ is None:
            raise ConfigError("zoo", "the zoo whose architecture to decode to", None)
        tokenizer, normalizer = (
            (self.tokenizer_, self.normalizer_) if zoo is None else self._codec(self._zoo(zoo))
        )
        model = self.model_.eval()
        device = next(model.parameters()).device
        z = torch.as_tensor(np.asarray(latents), dtype=torch.float32, device=device)
        positions = tokenizer.positions.to(device).expand(len(z), -1, -1)
        tokens = model.decode_latents(z, positions).float().cpu()
        tokens = tokens * tokenizer.mask  # padding is zero, whatever the decoder says
        return normalizer.inverse_transform(tokenizer.detokenize(tokens))

    def fit_transform(self, zoo: Zoo | str | Path) -> np.ndarray:
        return self.fit(zoo).transform(zoo)

    # ---- persistence -----------------------------------------------------------------------
    def _weights_file(self) -> bytes:
        """``model.safetensors``: the weights, the normalizer (or the pool's) and variances."""
        self._check_fitted()
        tensors = {
            f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()
        }
        pool = getattr(self, "pool_", None)
        if pool is None:
            tensors.update({f"normalizer.{k}": v for k, v in self.normalizer_.state_dict().items()})
            tensors["variances"] = self.variances_
        else:
            tensors.update(pool.tensors())
        return save(tensors, {"format": "weightspace.encoder"})

    @property
    def content_sha256(self) -> str:
        """The sha256 of the fitted encoder's weights file: what a result made with it (samples,
        embeddings) records, so a refitted encoder is never mistaken for this one."""
        return hashlib.sha256(self._weights_file()).hexdigest()

    def save(self, path: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` (weights, normalizer, variances)."""
        path = Path(path)
        data = self._weights_file()
        pool = getattr(self, "pool_", None)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path / WEIGHTS, data)
        if getattr(self, "split_", None) is not None:
            self.split_.save(path)
        meta = {
            "kind": self.kind,
            "model": self.model_config_.to_dict(),
            "train": self.train_config_.to_dict(),
            "token_size": pool.token_size if pool else self.tokenizer_.token_size,
            "spec": None if pool else self.tokenizer_.spec.to_dict(),
            "history": self.history_,
        }
        if pool is not None:  # fitted on several zoos: reads any architecture
            meta["pool"] = pool.to_dict()
        atomic_write_json(path / CONFIG, meta)

    @staticmethod
    def load(path: str | Path) -> HyperRepresentation:
        """Read an encoder written by `save` (either kind)."""
        path = Path(path)
        fix = "Point --model to a directory written by `weightspace fit`"
        meta = read_json(path / CONFIG, "encoder config", fix)
        check_choice("kind", meta.get("kind"), tuple(ENCODERS))
        cls = ENCODERS[meta["kind"]]
        try:
            model_config = cls.config_type(**meta["model"])
            encoder = cls(config=model_config, train=TrainConfig.from_dict(meta["train"]))
            tensors = load_file(path / WEIGHTS)
            if meta.get("pool") is not None:
                encoder.pool_ = PoolState.from_dict(meta["pool"], tensors)
                encoder.tokenizer_ = encoder.normalizer_ = encoder.variances_ = None
            else:
                spec = WeightSpec.from_dict(meta["spec"])
                encoder.tokenizer_ = LayerTokenizer(spec, meta["token_size"])
                encoder.normalizer_ = LayerNormalizer(spec).load_state_dict(
                    _prefixed(tensors, "normalizer.")
                )
                encoder.variances_ = tensors["variances"]
            encoder.model_ = cls.module_type(model_config)
            encoder.model_.load_state_dict(_prefixed(tensors, "model."))
        except (SafetensorError, OSError, KeyError, TypeError, RuntimeError, ConfigError) as err:
            raise FileFormatError(path, f"not a readable encoder ({err})", fix) from None
        encoder.model_.eval()
        encoder.model_config_, encoder.train_config_ = model_config, encoder.train
        encoder.history_ = meta["history"]
        # encoders saved before grouped splits have no split.json and were split by model
        encoder.split_ = Split.load(path)
        if encoder.split_ is None and "group_by" not in meta["train"].get("splits", {}):
            encoder.train_config_ = replace(
                encoder.train, splits=replace(encoder.train.splits, group_by=())
            )
        return encoder

    def _zoo(self, zoo: Zoo | str | Path) -> Zoo:
        """``zoo`` opened, and checked to be of the architecture this encoder was fitted on."""
        self._check_fitted()
        zoo = zoo if isinstance(zoo, Zoo) else open_zoo(zoo)
        if zoo_spec(zoo) != self.tokenizer_.spec:
            raise ConfigError(
                "zoo", "a zoo of the architecture this encoder was fitted on", zoo.name
            )
        return zoo

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit().")


class SANE(HyperRepresentation):
    """SANE (2024) over layer tokens. Presets: tiny, small (d 128, 4+4 layers), cnn, resnet.

    Example:
        >>> encoder = SANE("small", train=TrainConfig(epochs=10)).fit("runs/digits-hyp")
        >>> embeddings = encoder.transform("runs/digits-hyp")  # (n_checkpoints, 32)
    """

    kind = "sane"
    presets = SANE_PRESETS
    config_type = SANEConfig
    module_type = SANEAutoencoder

    def _tokenizer(self, spec: WeightSpec) -> LayerTokenizer:
        return LayerTokenizer(spec, self._model_config().token_size)

    def _resolve(self, tokenizer: LayerTokenizer) -> SANEConfig:
        return self._model_config().for_tokens(
            tokenizer.num_tokens, tokenizer.token_size, tokenizer.positions
        )

    # ---- several zoos (MultiZoo-SANE, 2025) ---------------------------------------------------
    def _fit_pool(self, zoos: list[Zoo]) -> SANE:
        """One SANE on the training splits of all ``zoos`` (see `weightspace.train.pool`)."""
        cfg = self.train or TrainConfig()
        out = Path(self.out) if self.out is not None else None
        config = self._model_config()
        if cfg.behaviour_weight is not None:
            raise ConfigError(
                "behaviour_weight", "off for a fit on several zoos", cfg.behaviour_weight
            )
        if config.pooling == "layer":
            raise ConfigError(
                "pooling", "mean or tokens (layer blocks differ across architectures)", "layer"
            )
        if out is not None:
            check_run_dir(out)
        cfg.resolve_device()
        for zoo in zoos:
            zoo.check_epochs(cfg.zoo_epochs)
        if cfg.canonical and cfg.permute:  # permuting canonical weights would undo the order
            cfg = replace(cfg, permute=False)
        pool = TokenPool(
            zoos,
            cfg.splits,
            config.token_size or POOL_TOKEN_SIZE,
            cfg.pool_normalization,
            cfg.zoo_epochs,
            cfg.canonical,
        )
        for member in pool.members:
            _check_fit_split(member.split)
        positions = torch.cat([t.positions for t in pool.tokenizers])
        config = config.for_tokens(pool.max_tokens, pool.token_size, positions)
        if config.positions == "auto":  # a pool should index networks larger than its own
            config = replace(config, positions="sinusoidal")
        identity = {
            "zoo_sha256": [m.zoo.content_sha256 for m in pool.members],
            "model_kind": self.kind,
            "model_config": config.to_dict(),
            "model_class": self.module_type.__name__,
        }
        if out is not None:
            check_resumable(out, fingerprint(cfg, world()[1], identity))
        train, val = pool.tokens("train"), pool.tokens("val")
        torch.manual_seed(cfg.seed)
        model = SANEAutoencoder(config)
        objective = Objective(
            pool_loss(cfg.pool_normalization), pool.max_tokens, cfg.gamma, cfg.temperature
        )
        val = val if len(val) else None
        trainer = Trainer(
            model, pool.tokenizers, objective, train, val, cfg, config.window, out, identity
        )
        self.history_ = trainer.fit()
        self.model_, self.model_config_, self.train_config_ = model.eval(), config, cfg
        self.tokenizer_ = self.normalizer_ = self.variances_ = self.split_ = None
        self.pool_ = PoolState.of(pool)
        self._codecs: dict = {}
        if out is not None and world()[0] == 0:
            self.save(out)
        return self

    def _codec(self, zoo: Zoo) -> tuple[LayerTokenizer, LayerNormalizer]:
        if getattr(self, "pool_", None) is None:
            return self.tokenizer_, self.normalizer_
        key = (str(zoo.root), zoo.content_sha256)
        codecs = self.__dict__.setdefault("_codecs", {})
        if key not in codecs:
            codecs[key] = self.pool_.codec(zoo, self.train_config_.splits)
            self._check_positions(codecs[key][0], zoo.name)
        return codecs[key]

    def _check_positions(self, tokenizer: LayerTokenizer, what: object) -> None:
        """Learned position tables index only as far as training went: refuse a larger zoo."""
        c = self.model_config_
        if c.positions == "sinusoidal":
            return
        top = tokenizer.positions.max(0).values + 1
        if any(int(t) > m for t, m in zip(top, c.max_positions, strict=True)):
            raise ConfigError(
                "zoo",
                f"a network within the learned position tables {tuple(c.max_positions)}",
                f"{what}: {tuple(int(t) for t in top)}",
                "Fit with SANEConfig(positions='sinusoidal') to embed larger networks",
            )

    @torch.no_grad()
    def embed_weights(self, flat: torch.Tensor, spec: WeightSpec | None = None) -> np.ndarray:
        """Embeddings (B, d) of networks given as flat weights (B, P) of ``spec``: any
        architecture for an encoder fitted on several zoos (with the per-batch normalization,
        which needs no statistics of the architecture), else the one it was fitted on."""
        self._check_fitted()
        pool = getattr(self, "pool_", None)
        spec = spec or (self.tokenizer_.spec if self.tokenizer_ is not None else None)
        if pool is None or spec is None:
            if spec is None or spec != self.tokenizer_.spec:
                raise ConfigError("spec", "the architecture this encoder was fitted on", spec)
            tokenizer, normalizer = self.tokenizer_, self.normalizer_
        else:
            member = [i for i, s in enumerate(pool.specs) if s == spec]
            if not member and pool.normalization != "batch":
                raise ConfigError(
                    "spec",
                    "an architecture the encoder was fitted on (zoo normalization)",
                    "a new one",
                    "Embed a zoo of it (its training split gives the statistics)",
                )
            normalizer = pool.normalizers[member[0]] if member else LayerNormalizer(spec).identity()
            tokenizer = LayerTokenizer(spec, pool.token_size)
            self._check_positions(tokenizer, spec)
            flat = pool.prepare(spec, flat)
        device = next(self.model_.eval().parameters()).device
        batch = tokenizer.tokenize(normalizer.transform(flat.float())).to(device)
        return self.model_.embed(batch.tokens, batch.positions).float().cpu().numpy()

    def _zoo(self, zoo: Zoo | str | Path) -> Zoo:
        if getattr(self, "pool_", None) is None:
            return super()._zoo(zoo)
        self._check_fitted()
        return zoo if isinstance(zoo, Zoo) else open_zoo(zoo)


class HyperRep(HyperRepresentation):
    """The 2021 attention autoencoder over neuron tokens. Presets: tiny, small, published."""

    kind = "hyperrep"
    presets = HYPERREP_PRESETS
    config_type = HyperRepConfig
    module_type = HyperRepAE

    def _resolve(self, tokenizer: LayerTokenizer) -> HyperRepConfig:
        layout = tuple((b.rows, b.cols) for b in row_blocks(tokenizer.spec))
        return self._model_config().for_layout(layout)


ENCODERS: dict[str, type[HyperRepresentation]] = {"sane": SANE, "hyperrep": HyperRep}


def check_run_dir(out: Path) -> None:
    """``out`` is new, empty, or a `fit` run directory to resume; anything else is refused."""
    check_fit_output(out, {CONFIG, WEIGHTS, SPLIT_FILE}, lambda m: m.get("kind") in ENCODERS)


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_pooling(encoder: HyperRepresentation, pooling: str | None) -> None:
    """``pooling`` (of SANE's token latents) is an option only for SANE encoders."""
    if pooling is not None and encoder.kind != "sane":
        raise ConfigError(
            "--pooling", "a SANE encoder (HyperRep has one latent per model)", encoder.kind
        )


def load_encoder(path: str | Path) -> HyperRepresentation:
    return HyperRepresentation.load(path)


def write_embeddings(path: str | Path, zoo: Zoo | Sequence[Zoo], embeddings: np.ndarray) -> None:
    """One Parquet row per checkpoint: model_id, epoch, test_acc, row and its embedding; for
    several zoos (their embeddings concatenated in order) also the zoo's name."""
    import pyarrow as pa

    from weightspace.zoo.storage import write_table

    zoos = [zoo] if isinstance(zoo, Zoo) else list(zoo)
    names = [n for n in ("model_id", "epoch", "test_acc")
             if all(n in z.table.column_names for z in zoos)]  # fmt: skip
    columns = {}
    if len(zoos) > 1:
        columns["zoo"] = pa.array([z.name for z in zoos for _ in range(len(z))])
    for name in names:
        columns[name] = pa.concat_arrays([z.table.column(name).combine_chunks() for z in zoos])
    columns["row"] = pa.array(np.concatenate([np.arange(len(z)) for z in zoos]))
    flat = pa.array(embeddings.reshape(-1).astype(np.float32))
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1])
    write_table(Path(path), pa.table(columns))
