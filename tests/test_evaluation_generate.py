"""Generation measured honestly: anchors chosen on validation accuracy, BatchNorm never reset
at zero steps, the memorization study's novelty measures and baselines, diversity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import tiny_config
from torch import nn

from weightspace.encoders import SANE
from weightspace.errors import ConfigError
from weightspace.generate.baselines import (
    aligned_averages,
    match_scale,
    noisy_checkpoints,
)
from weightspace.generate.evaluate import NoveltyConfig, generation_markdown, generation_table
from weightspace.generate.networks import condition_batchnorm
from weightspace.generate.novelty import behavioural_overlap, diversity, nearest_checkpoints
from weightspace.generate.run import SampleConfig, anchor_rows, sample_weights
from weightspace.spec import permute, random_permutations
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import Split, SplitConfig
from weightspace.train.trainer import TrainConfig
from weightspace.zoo import create_zoo, open_zoo


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo")
    config = tiny_config(seeds=3, epochs=2, lr=[3e-3, 1e-2], init=["uniform", "kaiming_normal"])
    create_zoo(config.with_changes(shard_size=12), path, progress=False)
    zoo = open_zoo(path)
    encoder = SANE("tiny", train=TrainConfig(epochs=1, batch_size=8, progress=False)).fit(zoo)
    return zoo, encoder


def test_batchnorm_is_not_reset_by_zero_conditioning_steps():
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())
    images = torch.randn(128, 1, 8, 8) * 2 + 5
    bn = net[1]
    bn.running_mean.fill_(0.7)
    bn.running_var.fill_(3.0)
    condition_batchnorm(net, images, steps=0)
    assert torch.all(bn.running_mean == 0.7) and torch.all(bn.running_var == 3.0)
    assert not net.training
    condition_batchnorm(net, images, steps=3)  # negative control: steps re-estimate them
    assert not torch.allclose(bn.running_mean, torch.full((3,), 0.7))
    with pytest.raises(ConfigError, match="condition_steps"):
        condition_batchnorm(net, images, steps=-1)


def test_anchors_are_chosen_on_validation_not_test_accuracy():
    n = 20  # validation and test accuracy rank the models in opposite orders
    val = np.linspace(0.2, 0.9, n)
    columns = {"model_id": np.arange(n), "epoch": np.zeros(n, int), "val_acc": val}
    columns["test_acc"] = val[::-1].copy()
    zoo = SimpleNamespace(
        name="z", column=lambda c: columns[c], table=SimpleNamespace(column_names=list(columns))
    )
    split = Split(
        SplitConfig(group_by=()), "z", {"train": tuple(range(n)), "val": (), "test": ()}, ()
    )
    anchors = anchor_rows(zoo, SimpleNamespace(split_=split), 0.3)
    assert set(anchors) == set(np.argsort(-val)[:6])
    assert not set(anchors) & set(np.argsort(-columns["test_acc"])[:6])  # not chosen on test


def test_novelty_measures_on_known_cases(fitted):
    zoo, _ = fitted
    spec = zoo_spec(zoo)
    refs = zoo.flat([0, 5, 9])
    permuted = permute(spec, refs[1:2], random_permutations(spec, 1))
    near = nearest_checkpoints(spec, permuted, refs)
    assert near["index"][0] == 1 and near["l2"][0] == pytest.approx(0.0, abs=1e-5)
    # skipping itself, a checkpoint's nearest is another one, at a real distance
    skipped = nearest_checkpoints(spec, refs[1:2], refs, skip=[1])
    assert skipped["index"][0] != 1 and skipped["l2"][0] > 0.01
    errors = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    refs_err = np.array([[1, 0, 0, 0], [0, 0, 1, 1]], dtype=bool)
    np.testing.assert_allclose(behavioural_overlap(errors, refs_err), [0.5, 1.0])
    np.testing.assert_allclose(behavioural_overlap(errors, refs_err, skip=[None, 1]), [0.5, 0.0])
    copies = permute(spec, refs[:1].expand(4, -1), random_permutations(spec, 4))
    assert diversity(spec, copies) == pytest.approx(0.0, abs=1e-5)  # mode collapse reads 0
    assert diversity(spec, refs) > 0.05


def test_baselines_and_accuracy_matching(fitted):
    zoo, _ = fitted
    spec = zoo_spec(zoo)
    refs = zoo.flat([0, 5])
    noisy = noisy_checkpoints(spec, refs, 4, 0.0)
    assert all(any(torch.equal(x, r) for r in refs) for x in noisy)
    assert not torch.equal(noisy_checkpoints(spec, refs, 4, 0.5), noisy)
    twin = permute(spec, refs[:1], random_permutations(spec, 1))
    average = aligned_averages(spec, torch.cat([refs[:1], twin]), 1, k=2)
    torch.testing.assert_close(average[0], refs[0], atol=1e-5, rtol=1e-5)  # aligned first
    # a monotone accuracy curve: bisection lands near the target
    scale = match_scale(lambda s: torch.tensor(s), lambda t: float(1 / (1 + t)), 0.5, steps=20)
    assert scale == pytest.approx(1.0, rel=0.01)


def test_generation_table_has_every_baseline(fitted):
    zoo, encoder = fitted
    flats, anchors = sample_weights(encoder, zoo, SampleConfig("kde30", n=3))
    config = NoveltyConfig(n=3, references=6, match_steps=3, match_networks=2)
    rows = generation_table(encoder, zoo, flats, anchors, config)
    names = [r["name"] for r in rows]
    assert names == [
        "samples",
        "encode→decode (anchors)",
        "anchors",
        "anchor + noise (matched)",
        "aligned average of 2",
        "Gaussian fit (matched)",
        "random init",
    ]
    by = {r["name"]: r for r in rows}
    assert by["anchors"]["l2"] > 0  # never matched with itself
    assert by["random init"]["test_acc"] < by["anchors"]["test_acc"]
    for r in rows:
        assert 0 <= r["overlap"] <= 1 and r["n"] == 3
    assert "error IoU" in generation_markdown(rows)
