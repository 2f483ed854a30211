"""The 2022 generative paper samples from the 2021 autoencoder: HyperRep encoders decode and
sample like SANE ones (one latent per model instead of one per token)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from weightspace import HyperRep, TrainConfig
from weightspace.cli import main
from weightspace.generate.run import SampleConfig, sample_weights
from weightspace.tokens import zoo_spec
from weightspace.zoo import create_zoo, open_zoo


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    zoo = create_zoo(tiny_config(seeds=4), tmp_path_factory.mktemp("zoo"), progress=False)
    run = tmp_path_factory.mktemp("run")
    train = TrainConfig(epochs=2, batch_size=8, progress=False)
    encoder = HyperRep("tiny", train=train, out=run).fit(zoo)
    return zoo, encoder, run


def test_hyperrep_latents_decode_to_its_reconstructions(fitted):
    zoo, encoder, _ = fitted
    rows = np.arange(5)
    z = encoder.latents(zoo, rows)
    assert z.shape == (5, encoder.model_.config.latent)
    decoded = encoder.decode(z)
    assert decoded.shape == (5, zoo_spec(zoo).num_params)
    assert torch.allclose(decoded, encoder.reconstruct(zoo, rows), atol=1e-5)
    moved = encoder.decode(z + 0.5)  # another latent decodes to other weights
    assert not torch.allclose(moved, decoded, atol=1e-3)


def test_hyperrep_samples_through_the_api_and_the_cli(fitted, tmp_path):
    zoo, encoder, run = fitted
    flats, anchors = sample_weights(encoder, zoo, SampleConfig("kde30", n=3))
    assert flats.shape == (3, zoo_spec(zoo).num_params) and torch.isfinite(flats).all()
    out = tmp_path / "samples"
    args = ["sample", "--model", str(run), "--zoo", str(zoo.root), "--n", "3", "--out", str(out)]
    assert main(args) == 0
    samples = open_zoo(out)
    assert len(samples) == 3 and samples.column("test_acc").shape == (3,)
