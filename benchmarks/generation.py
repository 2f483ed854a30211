"""Do sampled networks work, and are they new? Zero-shot and fine-tuned accuracy per sampling
method against random initialization and the anchors, plus novelty against two cheap baselines.

    python benchmarks/generation.py --model runs/sane --zoo runs/digits-hyp [--n 50]

For each method: N samples, their test accuracy zero-shot and after 1 and 5 epochs of Adam
(lr 1e-3, batch 32) on the training split; the same for N random initializations and for the
anchors' own checkpoints. Novelty is the relative distance to the nearest anchor checkpoint
after permutation alignment; the baselines are anchors plus Gaussian noise, with the noise
scaled until their mean accuracy matches the samples', and averages of two aligned anchors.
Transfer: one epoch of fine-tuning on the digits with their classes renamed (a new labelling
of the same inputs), with the last layer re-initialized. Diversity: how far samples lie from
each other after alignment.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from weightspace.encoders import load_encoder
from weightspace.generate.align import align, nearest_distance
from weightspace.generate.networks import (
    accuracy,
    finetune_curves,
    random_networks,
    relabel,
    with_new_head,
)
from weightspace.generate.run import (
    SampleConfig,
    anchor_rows,
    load_networks,
    sample_weights,
)
from weightspace.tokens.dataset import zoo_spec
from weightspace.zoo import load_dataset, open_zoo


def summary(name: str, acc: np.ndarray, novelty: float | None = None) -> str:
    cells = [f"{acc[:, e].mean():.3f} ± {acc[:, e].std():.3f}" for e in (0, 1, 5)]
    extra = f" | {novelty:.3f}" if novelty is not None else " | "
    return f"| {name} | " + " | ".join(cells) + extra + " |"


def noisy(spec, flats: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:  # noqa: ANN001
    """Each tensor plus Gaussian noise of ``sigma`` times its own standard deviation."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for flat in flats:
        parts = spec.unflatten(flat)
        out.append(
            torch.cat(
                [
                    (v + sigma * v.std() * torch.randn(v.shape, generator=gen)).reshape(-1)
                    for v in parts.values()
                ]
            )
        )
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument(
        "--methods", nargs="+", default=["kde-joint30", "kde30", "kde-dim30", "neighbour30"]
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    encoder, zoo = load_encoder(args.model), open_zoo(args.zoo)
    splits = load_dataset(zoo.config.dataset)
    spec = zoo_spec(zoo)
    anchors = anchor_rows(zoo, encoder, 0.3)  # what the samplers use: same activation
    arch = zoo.arch(int(anchors[np.argmax(zoo.column("test_acc")[anchors])]))
    anchor_flats = zoo.flat(anchors)
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(anchors), size=min(args.n, len(anchors)), replace=False)
    anchor_nets = [zoo.model(int(anchors[i])) for i in chosen]
    print(
        f"zoo {zoo.name}: {len(anchors)} anchors (top 30 % of training checkpoints), "
        f"anchor test acc {zoo.column('test_acc')[anchors].mean():.3f}; architecture {arch.name}"
        f" ({arch.activation}) for samples"
    )
    print("| method | zero-shot | 1 epoch | 5 epochs | novelty |")
    print("|---|---|---|---|---|")
    results, novelties, transfer, spread = {}, {}, {}, {}
    relabelled = relabel(splits)
    for method in args.methods:
        flats, _ = sample_weights(encoder, zoo, SampleConfig(method, args.n))
        nets = load_networks(arch, zoo, flats, splits, steps=200)
        novelties[method] = nearest_distance(spec, flats, anchor_flats).mean()
        spread[method] = nearest_distance(spec, flats[:10], flats[10:20]).mean()
        results[method] = finetune_curves(nets, splits, 5)
        transfer[method] = finetune_curves(with_new_head(nets), relabelled, 1)[:, 1]
        print(summary(method, results[method], novelties[method]), flush=True)
    random = random_networks(arch, args.n)
    print(summary("random init", finetune_curves(random, splits, 5)))
    print(summary("anchors", finetune_curves(anchor_nets, splits, 5), 0.0))
    transfer["random init"] = finetune_curves(random, relabelled, 1)[:, 1]
    transfer["anchors"] = finetune_curves(with_new_head(anchor_nets), relabelled, 1)[:, 1]
    print()
    print(
        "transfer: test accuracy after 1 epoch on digits with permuted labels (a new task of "
        "the same input shape)"
    )
    for name, acc in transfer.items():
        print(f"  {name}: {acc.mean():.3f} ± {acc.std():.3f}")
    print(
        "diversity: aligned distance of 10 samples to the nearest of 10 others, per method: "
        + ", ".join(f"{m} {d:.3f}" for m, d in spread.items())
    )

    # novelty baselines at the accuracy of the first method's samples
    target = results[args.methods[0]][:, 0].mean()
    base = anchor_flats[chosen]
    low, high = 0.0, 4.0
    for _ in range(10):  # bisect the noise scale to the samples' mean zero-shot accuracy
        sigma = (low + high) / 2
        nets = load_networks(arch, zoo, noisy(spec, base, sigma), splits, steps=0)
        acc = np.mean([accuracy(n, splits.test_x, splits.test_y) for n in nets])
        low, high = (sigma, high) if acc > target else (low, sigma)
    noise_flats = noisy(spec, base, sigma)
    noise_nets = load_networks(arch, zoo, noise_flats, splits, steps=0)
    noise_acc = np.mean([accuracy(n, splits.test_x, splits.test_y) for n in noise_nets])
    noise_novelty = nearest_distance(spec, noise_flats, anchor_flats).mean()
    pairs = [(i, rng.choice([j for j in range(len(anchors)) if j != i])) for i in chosen]
    averages = torch.stack(
        [(anchor_flats[i] + align(spec, anchor_flats[i], anchor_flats[j])) / 2 for i, j in pairs]
    )
    avg_nets = load_networks(arch, zoo, averages, splits, steps=0)
    avg_acc = np.mean([accuracy(n, splits.test_x, splits.test_y) for n in avg_nets])
    avg_novelty = nearest_distance(spec, averages, anchor_flats).mean()
    print()
    first = args.methods[0]
    print(
        f"novelty at equal accuracy (samples of {first}: zero-shot {target:.3f}, "
        f"novelty {novelties[first]:.3f})"
    )
    print(
        f"anchor + noise (sigma {sigma:.3f} x tensor std): zero-shot {noise_acc:.3f}, "
        f"novelty {noise_novelty:.3f}"
    )
    print(f"average of 2 aligned anchors: zero-shot {avg_acc:.3f}, novelty {avg_novelty:.3f}")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
