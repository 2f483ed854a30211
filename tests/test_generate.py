"""Generation: samplers, decoding, BatchNorm conditioning, alignment and the sample command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config
from scipy.special import logsumexp
from torch import nn

from weightspace.cli import main
from weightspace.encoders import SANE
from weightspace.errors import ConfigError
from weightspace.generate.align import align, nearest_distance, relative_distance
from weightspace.generate.networks import condition_batchnorm
from weightspace.generate.run import SampleConfig, load_networks, sample_weights
from weightspace.generate.samplers import (
    DimensionKDESampler,
    KDESampler,
    NeighbourSampler,
    _bandwidth,
    cross_validated_loglik,
    parse_method,
)
from weightspace.spec import permute, random_permutations
from weightspace.tokens.dataset import zoo_spec
from weightspace.train.trainer import TrainConfig
from weightspace.zoo import create_zoo, load_dataset, open_zoo


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo")
    create_zoo(tiny_config(seeds=5, epochs=2, lr=[3e-3, 1e-2], shard_size=10), path, progress=False)
    zoo = open_zoo(path)
    encoder = SANE("tiny", train=TrainConfig(epochs=2, batch_size=8, progress=False)).fit(zoo)
    run = tmp_path_factory.mktemp("run")
    encoder.save(run)
    return zoo, encoder, run


def correlated_anchors(n: int = 60) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=n)
    return np.stack([x, x, np.random.default_rng(1).normal(size=n)], 1)  # dims 0 and 1 equal


def test_per_dimension_kde_draws_dimensions_independently():
    draws = DimensionKDESampler().sample(correlated_anchors(), 3000, seed=3)
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 0.1
    # what one shared seed for every dimension would give: the same anchor for all of them
    from sklearn.neighbors import KernelDensity

    anchors = correlated_anchors()
    shared = [
        KernelDensity(bandwidth=0.3).fit(anchors[:, [d]]).sample(3000, random_state=7)
        for d in range(2)
    ]
    assert np.corrcoef(shared[0][:, 0], shared[1][:, 0])[0, 1] > 0.9


def test_joint_kde_keeps_the_correlation_and_samplers_keep_shapes():
    anchors = correlated_anchors()
    draws = KDESampler().sample(anchors, 2000, seed=1)
    assert np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] > 0.6  # kernel noise dilutes it a bit
    tokens = np.random.default_rng(2).normal(size=(20, 6, 4))
    for sampler in (
        KDESampler(per_token=True),
        KDESampler(),
        DimensionKDESampler(),
        NeighbourSampler(),
    ):
        out = sampler.sample(tokens, 7, seed=0)
        assert out.shape == (7, 6, 4) and np.isfinite(out).all()
    with pytest.raises(ConfigError, match="anchors"):
        KDESampler().sample(tokens[:1], 3)


def brute_force_loglik(x: np.ndarray, bandwidth: float, folds: int) -> float:
    """The held-out Gaussian KDE log-likelihood written out point by point."""
    n, d = x.shape
    bounds = np.cumsum([0] + [n // folds + (f < n % folds) for f in range(folds)])
    total = 0.0
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        kept = np.concatenate([x[:start], x[stop:]])
        for point in x[start:stop]:
            log_k = -((kept - point) ** 2).sum(1) / (2 * bandwidth**2)
            norm = np.log(len(kept)) + 0.5 * d * np.log(2 * np.pi * bandwidth**2)
            total += logsumexp(log_k) - norm
    return total / folds


def test_cross_validated_loglik_matches_a_point_by_point_loop_even_in_underflow():
    x = np.random.default_rng(4).normal(size=(23, 7))  # 23 rows: folds of unequal size
    bandwidths = np.array([0.01, 0.05, 0.3, 1.0, 3.0])  # 0.01: every kernel value underflows
    ours = cross_validated_loglik(x, bandwidths, 5)
    reference = [brute_force_loglik(x, h, 5) for h in bandwidths]
    np.testing.assert_allclose(ours, reference, rtol=1e-9)
    assert ours[0] < -1e4  # the exact value, not a clamped floor


def test_bandwidth_choice_agrees_with_scikit_learns_grid_search_where_it_is_exact():
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KernelDensity

    from weightspace.generate.samplers import BANDWIDTHS

    x = np.random.default_rng(5).normal(size=(40, 2))  # low-dimensional: sklearn's tree is exact
    search = GridSearchCV(KernelDensity(), {"bandwidth": BANDWIDTHS}, cv=5).fit(x)
    np.testing.assert_allclose(
        cross_validated_loglik(x, BANDWIDTHS, 5), search.cv_results_["mean_test_score"], rtol=1e-8
    )
    assert _bandwidth(x, None) == search.best_params_["bandwidth"]


def test_bandwidth_follows_the_data_tight_clusters_get_a_narrow_kernel():
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(4, 5)) * 3
    clustered = np.repeat(centres, 15, axis=0) + rng.normal(size=(60, 5)) * 0.02
    clustered = clustered[rng.permutation(60)]
    broad = rng.normal(size=(60, 5))
    assert _bandwidth(clustered, None) <= 0.05
    assert 0.3 <= _bandwidth(broad, None) <= 1.5
    assert _bandwidth(broad, 0.7) == 0.7  # a given bandwidth is kept


def test_method_names():
    assert parse_method("kde30") == ("kde", 0.3)
    assert parse_method("kde-dim10") == ("kde-dim", 0.1)
    assert parse_method("neighbour") == ("neighbour", 0.3)
    with pytest.raises(ConfigError, match="--method"):
        parse_method("gan30")


@pytest.mark.parametrize("method", ["kde30", "kde-joint30", "kde-dim30", "neighbour30"])
def test_samples_are_loadable_networks(fitted, method):
    zoo, encoder, _ = fitted
    flats, anchors = sample_weights(encoder, zoo, SampleConfig(method, n=4))
    assert flats.shape == (4, zoo_spec(zoo).num_params) and torch.isfinite(flats).all()
    assert len(anchors) >= 2
    splits = load_dataset(zoo.config.dataset)
    nets = load_networks(zoo.arch(int(anchors[0])), zoo, flats, splits, steps=0)
    with torch.no_grad():
        assert nets[0](splits.test_x[:5]).shape == (5, 10)


def test_haloed_decoding_matches_plain_decoding_inside_each_window(fitted):
    _, encoder, _ = fitted
    model = encoder.model_
    tok = encoder.tokenizer_
    z = torch.randn(2, tok.num_tokens, model.config.latent)
    positions = tok.positions.expand(2, -1, -1)
    with torch.no_grad():
        full = model.decode_latents(z, positions)
        w, halo = model.config.window, model.config.window // 4
        first = model.decode(z[:, :w], positions[:, :w])
    assert full.shape == (2, tok.num_tokens, tok.token_size)
    torch.testing.assert_close(full[:, : w - 2 * halo], first[:, : w - 2 * halo])


def test_batchnorm_conditioning_estimates_statistics():
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())
    images = torch.randn(256, 1, 8, 8) * 2 + 5
    condition_batchnorm(net, images, steps=50)
    bn = net[1]
    assert not net.training
    with torch.no_grad():
        activations = net[0](images)
    torch.testing.assert_close(bn.running_mean, activations.mean((0, 2, 3)), atol=0.2, rtol=0.05)


def test_alignment_undoes_a_permutation(fitted):
    zoo, _, _ = fitted
    spec = zoo_spec(zoo)
    reference = zoo.flat([5])[0]
    permuted = permute(spec, reference[None], random_permutations(spec, 1))[0]
    assert relative_distance(permuted, reference) > 0.1
    torch.testing.assert_close(align(spec, reference, permuted), reference)
    distances = nearest_distance(spec, permuted[None], zoo.flat([0, 5]))
    assert distances[0] == pytest.approx(0.0, abs=1e-6)


def test_cli_sample_writes_an_evaluated_zoo(fitted, tmp_path, capsys):
    zoo, _, run = fitted
    argv = [
        "sample",
        "--model",
        str(run),
        "--zoo",
        str(zoo.root),
        "--n",
        "3",
        "--out",
        str(tmp_path / "samples"),
    ]
    assert main(argv) == 0
    assert "samples by kde30" in capsys.readouterr().out
    samples = open_zoo(tmp_path / "samples")
    assert len(samples) == 3 and set(samples.column("method")) == {"kde30"}
    evaluation = samples.manifest["evaluation"]
    assert evaluation["zero_shot_test_acc"]["mean"] == pytest.approx(
        float(np.mean(samples.column("test_acc")))
    )  # the summary is of the samples written
    assert evaluation["sources"] == {
        "zoo_sha256": zoo.content_sha256,
        "encoder_sha256": fitted[1].content_sha256,
    }
    assert main(["zoo", "info", "--zoo", str(tmp_path / "samples")]) == 0
    assert "zero-shot" in capsys.readouterr().out


def test_an_encoders_content_hash_survives_saving_and_tells_refits_apart(fitted):
    from weightspace.encoders import load_encoder

    zoo, encoder, run = fitted
    assert load_encoder(run).content_sha256 == encoder.content_sha256
    other = SANE("tiny", train=TrainConfig(epochs=1, batch_size=8, progress=False)).fit(zoo)
    assert other.content_sha256 != encoder.content_sha256


def test_samples_are_reused_only_when_drawn_from_the_same_zoo_and_encoder(fitted, tmp_path):
    from weightspace.demo import _samples

    zoo, encoder, _ = fitted
    config, path = SampleConfig("kde30", 2, 0), tmp_path / "samples"
    _samples(encoder, zoo, path, config)
    made = (path / "manifest.json").stat().st_mtime_ns
    _samples(encoder, zoo, path, config)
    assert (path / "manifest.json").stat().st_mtime_ns == made  # the same sources: reused
    other = SANE("tiny", train=TrainConfig(epochs=1, batch_size=8, progress=False)).fit(zoo)
    again = _samples(other, zoo, path, config)  # another encoder: drawn anew
    assert again.manifest["evaluation"]["sources"]["encoder_sha256"] == other.content_sha256
