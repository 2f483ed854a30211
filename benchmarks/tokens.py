"""Tokenizer benchmark: stream a zoo through the token dataset, then tokenize + normalize one
ResNet-18 checkpoint in a fresh process (so its peak memory is its own).

    python benchmarks/tokens.py [--zoo DIR] [--classes 100] [--token-size 288]

The last line reads ``resnet18: <tokens> tokens x <size>, <seconds> s, peak <MB> MB``: seconds
for the cold path (trace the spec, build the tokenizer, normalize and tokenize the checkpoint),
peak = the process's maximum resident memory, Python and torch included. Goal: <= 2 s, <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def resnet(classes: int, token_size: int) -> dict:
    from weightspace.tokens.normalize import LayerNormalizer
    from weightspace.tokens.tokenizers import LayerTokenizer
    from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec

    arch = ArchConfig("resnet18", input_shape=(3, 32, 32), num_classes=classes, activation="relu")
    torch.manual_seed(0)
    state = build_model(arch).state_dict()
    baseline = peak_mb()
    start = time.perf_counter()
    spec = weight_spec(arch)
    tokenizer = LayerTokenizer(spec, token_size)
    setup = time.perf_counter() - start
    # statistics as a zoo's training split would give them (fitting is done once per zoo)
    norm = LayerNormalizer(spec)
    norm.mean_ = torch.randn(tokenizer.num_blocks) * 0.01
    norm.std_ = torch.rand(tokenizer.num_blocks) + 0.5
    start = time.perf_counter()
    batch = tokenizer.tokenize(norm.transform(spec.flatten(state)))
    per_checkpoint = time.perf_counter() - start
    restored = spec.unflatten(norm.inverse_transform(tokenizer.detokenize(batch.tokens))[0])
    error = max((restored[k] - state[k]).abs().max().item() for k in spec.keys)
    return {
        "tokens": tokenizer.num_tokens,
        "size": tokenizer.token_size,
        "setup_s": setup,
        "checkpoint_s": per_checkpoint,
        "seconds": setup + per_checkpoint,
        "peak_mb": peak_mb(),
        "baseline_mb": baseline,
        "round_trip_max_error": error,
    }


def stream(zoo_dir: Path | None) -> None:
    from weightspace.tokens.augment import Compose, MultiplicativeNoise, Permute, TwoViews
    from weightspace.tokens.dataset import ZooTokens, fit_normalizer
    from weightspace.zoo import create_zoo, open_zoo, preset

    with tempfile.TemporaryDirectory() as tmp:
        if zoo_dir is None:
            zoo_dir = Path(tmp) / "zoo"
            create_zoo(preset("digits-tiny").with_changes(seeds=16), zoo_dir, progress=False)
        zoo = open_zoo(zoo_dir)
        start = time.perf_counter()
        norm = fit_normalizer(zoo)
        fit = time.perf_counter() - start
        data = ZooTokens(zoo, "train", normalizer=norm)
        views = TwoViews(Compose([Permute(data.tokenizer), MultiplicativeNoise(0.1)]))
        start = time.perf_counter()
        count = 0
        for batch, _ in data.loader(batch_size=32, shuffle=True):
            views(batch)
            count += len(batch)
        seconds = time.perf_counter() - start
    tok = data.tokenizer
    print(f"zoo: {len(zoo)} checkpoints of {tok.spec.num_params} weights ({zoo.config.name})")
    print(f"zoo: normalizer fitted on the train split in {fit:.3f} s")
    print(
        f"zoo: streamed {count} train checkpoints ({tok.num_tokens} tokens x {tok.token_size}) "
        f"with two permuted+noised views in {seconds:.3f} s = {count / seconds:.0f} checkpoints/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, help="a zoo to stream (default: a fresh tiny one)")
    parser.add_argument("--classes", type=int, default=100, help="ResNet-18 head (100: SANE's)")
    parser.add_argument("--token-size", type=int, default=288)
    parser.add_argument("--resnet-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.resnet_only:
        print(json.dumps(resnet(args.classes, args.token_size)))
        return
    stream(args.zoo)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--resnet-only",
            "--classes",
            str(args.classes),
            "--token-size",
            str(args.token_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"resnet18: setup (trace + tokenizer) {r['setup_s']:.3f} s, normalize + tokenize "
        f"{r['checkpoint_s']:.3f} s, round-trip max error {r['round_trip_max_error']:.2e}, "
        f"memory after imports {r['baseline_mb']:.0f} MB"
    )
    print(
        f"resnet18: {r['tokens']} tokens x {r['size']}, {r['seconds']:.2f} s, "
        f"peak {r['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
