"""SANE training throughput end to end, as a fraction of this machine's plain fp32 matmul speed.

    python benchmarks/train_throughput.py [--zoo DIR] [--steps 30] [--threads 2]

The configuration of the goal: d_model 128, 4 encoder + 4 decoder layers, 4 heads, latent 32,
window 48, token size 201, batch 32, a CNN-s zoo (28x28 inputs, 2,464 weights = 48 tokens of
201). Without ``--zoo`` the checkpoints are 512 freshly initialized CNN-s networks (4 inits x
128 seeds): the speed of training does not depend on what the weights learned.

What is timed is the real training step of `weightspace.train.Trainer`: batch indexing, two
augmented views (permutation + noise), windows, forward, backward, clipping, AdamW, OneCycle.
FLOPs of one step are counted by torch's FlopCounterMode; the reference is the sustained speed
of a plain (2048 x 2048) @ (2048 x 2048) fp32 matmul, measured between the timed epochs of the
same run. Last line: ``mfu: <fraction> (tokens/s <n>)``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from weightspace.models.losses import ReconstructionLoss, block_variances
from weightspace.models.sane import SANEAutoencoder, SANEConfig
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.train.data import TokenTensors, load_tokens
from weightspace.train.objective import Objective
from weightspace.train.trainer import TrainConfig, Trainer
from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec

MODEL = SANEConfig(d_model=128, heads=4, encoder_layers=4, decoder_layers=4, latent=32, window=48)


def matmul_speed(n: int = 2048, seconds: float = 1.0) -> float:
    """Sustained FLOP/s of back-to-back square fp32 matmuls over about ``seconds``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)


def initialized_zoo(n_seeds: int = 128) -> tuple[LayerTokenizer, TokenTensors]:
    """Tokens of freshly initialized CNN-s (1, 28, 28) networks, normalized."""
    archs = [
        ArchConfig("cnn-s", input_shape=(1, 28, 28), init=init)
        for init in ("uniform", "normal", "kaiming_uniform", "kaiming_normal")
    ]
    spec = weight_spec(archs[0])
    flats = []
    for arch in archs:
        for seed in range(n_seeds):
            torch.manual_seed(seed)
            flats.append(spec.flatten(build_model(arch).state_dict()))
    flat = torch.stack(flats)
    tokenizer = LayerTokenizer(spec)
    norm = LayerNormalizer(spec).fit(flat)
    tokens = tokenizer.tokenize(norm.transform(flat)).tokens
    n = len(tokens)
    data = TokenTensors(
        tokens,
        tokenizer.mask,
        tokenizer.positions,
        {"test_acc": torch.rand(n)},
        torch.zeros(n, dtype=torch.long),
        np.arange(n),
    )
    return tokenizer, data


def zoo_tokens(path: Path) -> tuple[LayerTokenizer, TokenTensors]:
    from weightspace.tokens.dataset import fit_normalizer, split_rows, zoo_spec
    from weightspace.zoo import open_zoo

    zoo = open_zoo(path)
    tokenizer = LayerTokenizer(zoo_spec(zoo))
    rows = split_rows(zoo, "train")
    return tokenizer, load_tokens(zoo, rows, tokenizer, fit_normalizer(zoo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, help="a CNN-s zoo (default: initialized networks)")
    parser.add_argument("--steps", type=int, default=64, help="timed training steps (at least)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer, data = zoo_tokens(args.zoo) if args.zoo else initialized_zoo()
    config = MODEL.for_tokens(tokenizer.num_tokens, tokenizer.token_size, tokenizer.positions)
    torch.manual_seed(0)
    model = SANEAutoencoder(config)
    variances = block_variances(data.tokens, data.mask, data.positions, tokenizer.num_blocks)
    objective = Objective(
        ReconstructionLoss.for_tokenizer(tokenizer, variances), tokenizer.num_tokens
    )
    train = TrainConfig(epochs=1000, batch_size=32, device="cpu", progress=False)
    trainer = Trainer(model, tokenizer, objective, data, None, train, config.window)
    steps_per_epoch = trainer.steps_per_epoch

    # FLOPs of one step: forward and backward of the model and losses on two views of 32
    index = torch.arange(32)
    views = trainer.views(data.batch(index))
    with FlopCounterMode(display=False) as counter:
        loss, _ = objective(model, views, data.group[index])
        loss.backward()
    flops_per_step = counter.get_total_flops()
    trainer.optimizer.zero_grad(set_to_none=True)

    trainer.train_epoch(0)  # warm-up epoch (allocator, threads)
    epochs = max(1, -(-args.steps // steps_per_epoch))
    # alternate training epochs with matmul runs, so both see the same machine state
    seconds, speeds, records = 0.0, [matmul_speed()], []
    for epoch in range(1, 1 + epochs):
        start = time.perf_counter()
        records.append(trainer.train_epoch(epoch))
        seconds += time.perf_counter() - start
        speeds.append(matmul_speed())
    peak = float(np.mean(speeds))
    steps = epochs * steps_per_epoch
    checkpoints = steps * 32
    tokens = checkpoints * 2 * config.window  # two views per checkpoint
    achieved = flops_per_step * steps / seconds
    print(
        f"data: {len(data)} checkpoints, {tokenizer.num_tokens} tokens x "
        f"{tokenizer.token_size} ({'zoo ' + str(args.zoo) if args.zoo else 'initialized CNN-s'})"
    )
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {config}")
    print(f"threads: {torch.get_num_threads()}, steps timed: {steps} ({epochs} epochs)")
    print(f"loss: {records[0]['loss']:.4f} -> {records[-1]['loss']:.4f}")
    print(f"checkpoints/s: {checkpoints / seconds:.1f}")
    print(f"tokens/s: {tokens / seconds:.0f}")
    print(
        f"flops/step: {flops_per_step / 1e9:.2f} GFLOP, achieved {achieved / 1e9:.1f} GFLOP/s, "
        f"fp32 matmul {peak / 1e9:.1f} GFLOP/s (sustained, mean of {len(speeds)} runs "
        f"between the epochs: {min(speeds) / 1e9:.0f}-{max(speeds) / 1e9:.0f})"
    )
    print(f"mfu: {achieved / peak:.3f} (tokens/s {tokens / seconds:.0f})")


if __name__ == "__main__":
    main()
