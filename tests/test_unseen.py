"""Sampling networks of an architecture a pooled SANE never saw (SANE 2024's procedure)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from weightspace.encoders import SANE
from weightspace.errors import ConfigError
from weightspace.generate.networks import accuracy
from weightspace.generate.unseen import (
    UnseenConfig,
    prompt_rows,
    sample_architecture,
    unseen_rounds,
)
from weightspace.models.sane import SANE_PRESETS
from weightspace.train.trainer import TrainConfig
from weightspace.zoo.architectures import build_model
from weightspace.zoo.datasets import load_dataset

SMALL = UnseenConfig(prompts=2, candidates=6, keep=3, condition_steps=0)


@pytest.fixture(scope="module")
def encoder(pool_zoos):
    config = replace(SANE_PRESETS["tiny"], positions="sinusoidal", token_size=16)
    train = TrainConfig(epochs=1, batch_size=8, progress=False)
    return SANE(config=config, train=train).fit([pool_zoos["cnn"], pool_zoos["mlp"]])


def test_samples_of_an_unseen_architecture_are_its_networks_best_first(encoder, pool_zoos):
    big = pool_zoos["big"]
    splits = load_dataset(big.dataset)
    rows = prompt_rows(big, encoder, 2, seed=0)
    nets, val = sample_architecture(encoder, big, SMALL, splits, seed=0, prompts=rows)
    assert len(nets) == SMALL.keep
    reference = build_model(big.arch(0)).state_dict()
    for net in nets:  # the target's own tensors and shapes, loadable strictly
        state = net.state_dict()
        assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in reference.items()}
        build_model(big.arch(0)).load_state_dict(state, strict=True)
    # kept by validation accuracy, best first, and the reported accuracies are the nets'
    assert list(val) == sorted(val, reverse=True)
    measured = [accuracy(net, splits.val_x, splits.val_y) for net in nets]
    np.testing.assert_allclose(measured, val)


def test_prompts_change_the_samples_and_random_latents_need_none(encoder, pool_zoos):
    big = pool_zoos["big"]
    splits = load_dataset(big.dataset)
    a = prompt_rows(big, encoder, 2, seed=0)
    with_prompts, _ = sample_architecture(encoder, big, SMALL, splits, seed=0, prompts=a)
    no_prompts, _ = sample_architecture(
        encoder, big, replace(SMALL, prompts=0), splits, seed=0, prompts=None
    )
    first = torch.cat([p.flatten() for p in with_prompts[0].parameters()])
    other = torch.cat([p.flatten() for p in no_prompts[0].parameters()])
    assert not torch.allclose(first, other)


def test_rounds_give_one_curve_per_seed_for_each_kind(encoder, pool_zoos):
    result = unseen_rounds(encoder, pool_zoos["big"], SMALL, seeds=range(2), epochs=1)
    assert set(result.curves) == {"sampled", "random", "random, best by val", "prompts"}
    assert all(v.shape == (2, 2) for v in result.curves.values())
    # the prompt models are trained networks: above random initialization zero-shot
    assert (result.curves["prompts"][:, 0] > result.curves["random"][:, 0]).all()
    # selecting random inits by validation accuracy never lowers their mean validation score
    splits = load_dataset(pool_zoos["big"].dataset)
    from weightspace.generate.networks import random_networks
    from weightspace.generate.unseen import best_random

    every = random_networks(pool_zoos["big"].arch(0), SMALL.candidates, seed=5)
    best = best_random(pool_zoos["big"], SMALL, splits, 5)
    mean = [np.mean([accuracy(n, splits.val_x, splits.val_y) for n in g]) for g in (every, best)]
    assert mean[1] >= mean[0]
    estimate = result.estimate("sampled", "random", 1)
    assert estimate.units == 2 and not estimate.has_interval  # 2 seeds: a count, no interval


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="keep"):
        UnseenConfig(candidates=3, keep=5)
    with pytest.raises(ConfigError, match="prompts"):
        UnseenConfig(prompts=1)


def test_a_head_no_training_zoo_had_is_re_initialized(encoder, pool_zoos):
    from types import SimpleNamespace

    from weightspace.generate.unseen import head_seen
    from weightspace.zoo import ArchConfig, weight_spec

    big = pool_zoos["big"]
    assert head_seen(encoder, big)  # 10 classes, as the pool's zoos
    three = weight_spec(ArchConfig("mlp", (1, 8, 8), 3, hidden=(4,)))
    assert not head_seen(SimpleNamespace(pool_=SimpleNamespace(specs=[three])), big)
    splits = load_dataset(big.dataset)
    rows = prompt_rows(big, encoder, 2, seed=0)
    runs = {
        mode: sample_architecture(
            encoder, big, replace(SMALL, new_head=mode, keep=SMALL.candidates), splits, 0, rows
        )[0]
        for mode in ("auto", "never", "always")
    }
    params = {m: [list(n.parameters()) for n in nets] for m, nets in runs.items()}
    for a, b in zip(params["auto"], params["never"], strict=True):  # auto: the head was seen
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # "always" changes the last linear layer only (kept sets may reorder: compare as sets)
    body = {tuple(torch.cat([p.flatten() for p in n[:-2]]).tolist()) for n in params["never"]}
    fresh = {tuple(torch.cat([p.flatten() for p in n[:-2]]).tolist()) for n in params["always"]}
    assert body == fresh
    heads_never = {tuple(n[-2].flatten().tolist()) for n in params["never"]}
    heads_always = {tuple(n[-2].flatten().tolist()) for n in params["always"]}
    assert not heads_never & heads_always
    with pytest.raises(ConfigError, match="new_head"):
        UnseenConfig(new_head="sometimes")
