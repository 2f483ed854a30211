"""Hyper-representations: losses, models, trainer (overfit, resume, data parallel), encoder API."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from conftest import tiny_config

from weightspace.encoders import SANE, HyperRep, HyperRepresentation
from weightspace.errors import NotFittedError, WeightspaceError
from weightspace.models.agreement import top1_agreement
from weightspace.models.losses import ReconstructionLoss, nt_xent
from weightspace.models.sane import SANE_PRESETS, SANEAutoencoder
from weightspace.tokens.dataset import split_rows
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.train import trainer as trainer_module
from weightspace.train.trainer import TrainConfig
from weightspace.zoo import ArchConfig, DatasetConfig, create_zoo, load_dataset, open_zoo
from weightspace.zoo.architectures import weight_spec

WHOLE = replace(SANE_PRESETS["tiny"], window=48)  # a digits CNN-s is 48 tokens long


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """12 digits CNN-s models, 6 checkpoints each (test accuracy up to ~0.85)."""
    path = tmp_path_factory.mktemp("zoo")
    create_zoo(tiny_config(seeds=6, epochs=5, lr=[3e-3, 1e-2], shard_size=12), path, progress=False)
    return open_zoo(path)


def quick(**changes) -> TrainConfig:
    return TrainConfig(**{"batch_size": 4, "progress": False, **changes})


# ---- losses and models ---------------------------------------------------------------------
def test_nt_xent_matches_the_definition():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = torch.exp(z @ z.T / 0.1)
    losses = []
    for i in range(10):
        positive = (i + 5) % 10
        losses.append(-torch.log(sim[i, positive] / (sim[i].sum() - sim[i, i])))
    torch.testing.assert_close(nt_xent(a, b, 0.1), torch.stack(losses).mean())
    assert nt_xent(a, a, 0.1) < nt_xent(a, b, 0.1)


def test_layerwise_normalization_weighs_small_layers_equally():
    tok = LayerTokenizer(weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8))))
    variances = torch.linspace(0.01, 2.0, tok.num_blocks)
    loss = ReconstructionLoss.for_tokenizer(tok, variances)
    target = tok.tokenize(torch.zeros(1, tok.spec.num_params))
    per_block = []
    for block in range(tok.num_blocks):
        # an error of one standard deviation on every value of one block
        error = (target.positions[..., 1] == block).unsqueeze(-1) * variances[block].sqrt()
        prediction = target.tokens + error * target.mask
        per_block.append(loss(prediction, target.tokens, target.mask, target.positions, 48))
    torch.testing.assert_close(torch.stack(per_block), torch.full((tok.num_blocks,), 1 / 5))


def test_without_layerwise_normalization_the_loss_is_the_plain_mse_over_all_values():
    tok = LayerTokenizer(weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8))))
    loss = ReconstructionLoss.for_tokenizer(tok, torch.linspace(0.01, 2.0, tok.num_blocks), False)
    weights = torch.randn(3, tok.spec.num_params)
    target, prediction = tok.tokenize(weights), tok.tokenize(weights + torch.randn_like(weights))
    got = loss(prediction.tokens, target.tokens, target.mask, target.positions, tok.num_tokens)
    expected = ((prediction.tokens - target.tokens) ** 2 * target.mask).sum() / (
        3 * tok.spec.num_params
    )
    torch.testing.assert_close(got, expected)
    normalized = ReconstructionLoss.for_tokenizer(tok, torch.linspace(0.01, 2.0, tok.num_blocks))
    assert not torch.isclose(  # negative control: the layer-wise loss weighs values unequally
        normalized(prediction.tokens, target.tokens, target.mask, target.positions, 48), expected
    )


def test_an_encoder_without_layer_normalization_reads_raw_weights(zoo, tmp_path):
    encoder = HyperRep("tiny", train=quick(epochs=1, layer_normalization=False)).fit(zoo)
    flat = next(iter(zoo.batches(np.arange(2))))[1]
    assert torch.equal(encoder.normalizer_.transform(flat), flat)
    encoder.save(tmp_path / "raw")
    loaded = HyperRepresentation.load(tmp_path / "raw")
    assert torch.equal(loaded.normalizer_.transform(flat), flat)
    assert loaded.train_config_.layer_normalization is False
    standardized = HyperRep("tiny", train=quick(epochs=1)).fit(zoo)  # negative control
    assert not torch.allclose(standardized.normalizer_.transform(flat), flat)


def test_sane_embedding_covers_every_token_once():
    tok = LayerTokenizer(weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8))), 10)
    model = SANEAutoencoder(SANE_PRESETS["tiny"].for_tokens(tok.num_tokens, 10, tok.positions))
    starts = model.tiles(tok.num_tokens)
    covered = [s + i for s, new in starts for i in range(new, 16)]
    assert sorted(covered) == list(range(tok.num_tokens))
    batch = tok.tokenize(torch.randn(2, tok.spec.num_params))
    with torch.no_grad():
        latents = [
            model.encode(batch.tokens[:, s : s + 16], batch.positions[:, s : s + 16])[:, n:]
            for s, n in starts
        ]
        expected = torch.cat(latents, 1).mean(1)
        torch.testing.assert_close(model.embed(batch.tokens, batch.positions), expected)
        assert model.reconstruct(batch.tokens, batch.positions).shape == batch.tokens.shape


# ---- training ------------------------------------------------------------------------------
def test_tiny_sane_overfits_a_tiny_zoo(zoo):
    config = quick(epochs=100, lr=1e-2, zoo_epochs=(4, 5), permute=False, noise=0.0)
    history = SANE("tiny", train=config).fit(zoo).history_
    steps = 100 * (len(split_rows(zoo, "train", epochs=(4, 5))) // 4)
    assert steps == 400
    assert history[0]["reconstruction"] / history[-1]["reconstruction"] >= 10


def test_hyperrep_trains_and_embeds(zoo):
    encoder = HyperRep("tiny", train=quick(epochs=2, zoo_epochs=(5,))).fit(zoo)
    assert encoder.transform(zoo).shape == (len(zoo), 8)
    assert np.isfinite(encoder.history_[-1]["loss"])


def test_resuming_continues_exactly_as_the_uninterrupted_run(zoo, tmp_path, monkeypatch):
    config = quick(epochs=4, zoo_epochs=(3, 4, 5))
    whole = SANE("tiny", train=config, out=tmp_path / "whole").fit(zoo)

    original = trainer_module.Trainer.train_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SANE("tiny", train=config, out=tmp_path / "cut").fit(zoo)
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", original)
    resumed = SANE("tiny", train=config, out=tmp_path / "cut").fit(zoo)
    for (name, a), b in zip(
        whole.model_.state_dict().items(), resumed.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in whole.history_]


def _data_parallel_worker(rank: int, world: int, rendezvous: str, zoo_path: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    try:
        config = quick(epochs=3, batch_size=8, permute=False, noise=0.0, zoo_epochs=(4, 5))
        encoder = SANE(config=WHOLE, train=config).fit(zoo_path)
        if rank == 0:
            state = {k: v.contiguous() for k, v in encoder.model_.state_dict().items()}
            torch.save(state, out)  # test-local file, read back with weights_only=True
    finally:
        dist.destroy_process_group()


def test_two_gloo_workers_match_one_worker_with_the_whole_batch(zoo, tmp_path):
    """Views are deterministic here (no permutation, no noise, whole-model windows), so the only
    difference is who computes what: the contrastive loss sees the gathered batch."""
    out = tmp_path / "ddp.pt"
    mp.spawn(
        _data_parallel_worker,
        args=(2, f"file://{tmp_path / 'rendezvous'}", str(zoo.root), str(out)),
        nprocs=2,
    )
    config = quick(epochs=3, batch_size=8, permute=False, noise=0.0, zoo_epochs=(4, 5))
    single = SANE(config=WHOLE, train=config).fit(zoo)
    parallel = torch.load(out, weights_only=True)
    for name, value in single.model_.state_dict().items():
        # float32 reduction order differs between 1 and 2 workers (seen: 2.7e-5 on one bias
        # value of 96 after 3 epochs); a loss computed on half the batch differs far more
        torch.testing.assert_close(
            parallel[name], value, atol=5e-5, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}"
        )


def test_behavioural_targets_are_the_originals_outputs_and_a_perfect_copy_costs_nothing(zoo):
    from weightspace.models.losses import BehaviourLoss
    from weightspace.tokens.dataset import fit_normalizer, zoo_spec
    from weightspace.train.data import load_tokens, zoo_archs
    from weightspace.zoo import build_model

    tokenizer = LayerTokenizer(zoo_spec(zoo))
    normalizer = fit_normalizer(zoo)
    data = load_tokens(zoo, split_rows(zoo, "train"), tokenizer, normalizer)
    queries = load_dataset(DatasetConfig("digits")).train_x[:32]
    loss = BehaviourLoss(tokenizer, normalizer, [build_model(a) for a in zoo_archs(zoo)], queries)
    targets = loss.targets(data.tokens, data.group, batch_size=5)  # batches of any size
    rows = [0, 7, len(data) - 1]
    for row in rows:
        net = zoo.model(int(data.rows[row]))
        torch.testing.assert_close(targets[row], net(queries), atol=1e-5, rtol=1e-4)
    index = torch.tensor(rows)
    perfect = loss(data.tokens[index], targets[index], data.group[index])
    assert float(perfect) < 1e-10
    noisy = data.tokens[index] + 0.5 * torch.randn_like(data.tokens[index])
    assert float(loss(noisy, targets[index], data.group[index])) > 1e-4


def test_behavioural_loss_makes_reconstructions_agree_with_their_originals(zoo):
    rows = split_rows(zoo, "train", epochs=[5])
    inputs = load_dataset(DatasetConfig("digits")).test_x
    agreement = {}
    for weight in (None, 0.9):
        config = quick(
            epochs=25, batch_size=8, lr=3e-3, behaviour_weight=weight, behaviour_temperature=2.0
        )
        encoder = SANE(config=WHOLE, train=config).fit(zoo)
        agreement[weight] = top1_agreement(zoo, rows, encoder.reconstruct(zoo, rows), inputs)
    assert agreement[0.9] > agreement[None] + 0.2, agreement


# ---- the encoder API -----------------------------------------------------------------------
def test_encoder_save_load_and_errors(zoo, tmp_path):
    with pytest.raises(NotFittedError):
        SANE().transform(zoo)
    encoder = SANE("tiny", train=quick(epochs=1, zoo_epochs=(5,))).fit(zoo)
    embeddings = encoder.transform(zoo)
    assert embeddings.shape == (len(zoo), 8)
    encoder.save(tmp_path / "enc")
    loaded = HyperRepresentation.load(tmp_path / "enc")
    assert isinstance(loaded, SANE)
    np.testing.assert_array_equal(loaded.transform(zoo), embeddings)
    rows = np.array([0, 5])
    np.testing.assert_array_equal(encoder.transform(zoo, rows), embeddings[rows])


def test_weightspace_fit_under_torchrun_with_two_cpu_workers(zoo, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "weightspace.cli",
        "fit",
        "--zoo",
        str(zoo.root),
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--zoo-epochs",
        "5",
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("trained sane") == 1  # rank 0 reports and writes
    loaded = HyperRepresentation.load(out)
    assert loaded.history_[0]["epoch"] == 1


def test_sane_poolings(zoo):
    encoder = SANE("tiny", train=quick(epochs=1, zoo_epochs=(5,))).fit(zoo)
    rows = np.arange(3)
    mean = encoder.transform(zoo, rows)
    layer = encoder.transform(zoo, rows, pooling="layer")
    tokens = encoder.transform(zoo, rows, pooling="tokens")
    assert mean.shape == (3, 8) and layer.shape == (3, 5 * 8) and tokens.shape == (3, 48 * 8)
    # the token mean is the count-weighted mean of the layer means
    counts = np.bincount(encoder.tokenizer_.positions[:, 1].numpy())
    weighted = (layer.reshape(3, 5, 8) * counts[None, :, None]).sum(1) / counts.sum()
    np.testing.assert_allclose(weighted, mean, rtol=1e-5, atol=1e-6)
    with pytest.raises(WeightspaceError, match="pooling"):
        encoder.transform(zoo, rows, pooling="max")


def test_a_damaged_encoder_directory_gives_one_clear_error(zoo, tmp_path):
    encoder = SANE("tiny", train=quick(epochs=1, zoo_epochs=(5,))).fit(zoo)
    encoder.save(tmp_path / "enc")
    (tmp_path / "enc" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(WeightspaceError, match="not a readable encoder"):
        HyperRepresentation.load(tmp_path / "enc")
    with pytest.raises(WeightspaceError, match="weightspace fit"):
        HyperRepresentation.load(tmp_path / "missing")


def test_a_setting_added_later_keeps_older_checkpoints_resumable():
    from weightspace.train.config import fingerprint

    old = fingerprint(quick(), 1)  # a checkpoint written before `layer_normalization` existed
    assert "layer_normalization" not in old
    assert fingerprint(quick(layer_normalization=False), 1)["layer_normalization"] is False
