"""One SANE over zoos of several architectures: pooled tokens, mixed batches, positions that
extend past training, the per-batch normalized loss, persistence, and the one-zoo encoders
saved before pooling existed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from weightspace.encoders import SANE, load_encoder
from weightspace.errors import ConfigError
from weightspace.models.sane import SANE_PRESETS, SANEAutoencoder
from weightspace.tokens.augment import PooledPermute, RandomWindow
from weightspace.train.pool import MaskedReconstruction, TokenPool
from weightspace.train.trainer import TrainConfig

DATA = Path(__file__).parent / "data"
FIT = TrainConfig(epochs=1, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def zoos(pool_zoos):
    return pool_zoos


def sinusoidal(**changes) -> SANE:
    config = replace(SANE_PRESETS["tiny"], positions="sinusoidal", **changes)
    return SANE(config=config, train=FIT)


def test_pooled_batches_mix_zoos_and_keep_each_models_layout(zoos):
    pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16, normalization="batch")
    train = pool.tokens("train")
    sizes = [t.num_tokens for t in pool.tokenizers]
    assert sizes[0] != sizes[1] and train.tokens.shape[1] == max(sizes)
    batch = train.batch(torch.randperm(len(train), generator=torch.Generator().manual_seed(0)))
    assert set(batch.source.tolist()) == {0, 1}  # one batch, both architectures
    for s, tok in enumerate(pool.tokenizers):
        rows = batch.source == s
        # each model carries its own zoo's mask and positions, and padding beyond its length
        assert torch.equal(
            batch.mask[rows][:, : tok.num_tokens], tok.mask.expand(int(rows.sum()), -1, -1)
        )
        assert not batch.mask[rows][:, tok.num_tokens :].any()
        # the pooled tokens of a model are its zoo's tokens, bit for bit
        first = int(np.flatnonzero(train.source.numpy() == s)[0])
        flat = pool.members[s].zoo.flat([int(train.rows[first])])
        assert torch.equal(train.tokens[first, : tok.num_tokens], tok.tokenize(flat).tokens[0])


def test_windows_stay_inside_each_models_real_tokens(zoos):
    pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16)
    train = pool.tokens("train")
    batch = train.batch(torch.arange(len(train)))
    size = min(pool.tokenizers[0].num_tokens, pool.tokenizers[1].num_tokens) - 2
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        start = RandomWindow(size).starts(batch, gen)
        assert bool((start + size <= batch.lengths).all())
    # a window longer than the short models covers them from token 0, padded after
    long = RandomWindow(max(batch.lengths.tolist()))(batch, gen)
    short = batch.lengths < long.tokens.shape[1]
    assert bool((long.lengths[short] == batch.lengths[short]).all())


def test_padding_does_not_change_what_real_tokens_encode(zoos):
    torch.manual_seed(0)
    pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16)
    train = pool.tokens("train")
    config = replace(SANE_PRESETS["tiny"], positions="sinusoidal").for_tokens(
        pool.max_tokens, 16, torch.cat([t.positions for t in pool.tokenizers])
    )
    model = SANEAutoencoder(config).eval()
    index = torch.arange(len(train))
    padded = train.batch(index)
    z_padded = model.encode(padded.tokens, padded.positions, padded.padding())
    for whole, where in train.whole(index):
        n = whole.tokens.shape[1]
        z = model.encode(whole.tokens, whole.positions)
        torch.testing.assert_close(z_padded[where, :n], z, atol=1e-5, rtol=1e-5)
        if n < pool.max_tokens:  # negative control: without the mask, padding leaks in
            leaked = model.encode(padded.tokens, padded.positions)[where, :n]
            assert not torch.allclose(leaked, z, atol=1e-4)


def test_pooled_permutation_permutes_each_model_with_its_own_architecture(zoos):
    pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16)
    train = pool.tokens("train")
    batch = train.batch(torch.arange(len(train)))
    out = PooledPermute(pool.tokenizers)(batch, torch.Generator().manual_seed(0))
    for s, tok in enumerate(pool.tokenizers):
        rows = batch.source == s
        n = tok.num_tokens
        before = tok.detokenize(batch.tokens[rows, :n])
        after = tok.detokenize(out.tokens[rows, :n])
        assert not torch.equal(before, after)  # something moved
        assert torch.equal(before.sort(1).values, after.sort(1).values)  # the same values
        assert not out.tokens[rows, n:].any()  # padding stays zero


def test_batch_normalized_loss_is_the_published_formula_and_scale_free():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(4, 6, 5, generator=gen) * 3 + 1
    prediction = target + torch.randn(4, 6, 5, generator=gen)
    mask = torch.rand(4, 6, 5, generator=gen) > 0.3
    loss = MaskedReconstruction()
    values = target[mask]
    mu, sd = values.mean(), values.std(correction=0)
    direct = (((prediction[mask] - mu) / (sd + 1e-4) - (values - mu) / (sd + 1e-4)) ** 2).mean()
    torch.testing.assert_close(loss(prediction, target, mask), direct)
    torch.testing.assert_close(loss(10 * prediction, 10 * target, mask), direct, rtol=1e-4, atol=0)
    masked_out = prediction.masked_fill(~mask, 1e6)  # padding never counts
    torch.testing.assert_close(loss(masked_out, target, mask), direct)
    plain = MaskedReconstruction(batch_normalized=False)  # zoo normalization's loss
    mse = ((prediction[mask] - values) ** 2).mean()
    torch.testing.assert_close(plain(masked_out, target, mask), mse)
    assert not torch.isclose(plain(prediction, target, mask), direct)  # not scale-free


def test_a_network_larger_than_any_in_training_embeds_and_decodes(zoos, tmp_path):
    big = zoos["big"]
    encoder = sinusoidal(token_size=16).fit([zoos["cnn"], zoos["mlp"]])
    tok_big = encoder._codec(big)[0]
    trained = max(
        t.num_tokens for t in (encoder._codec(zoos["cnn"])[0], encoder._codec(zoos["mlp"])[0])
    )
    assert tok_big.num_tokens > trained
    embeddings = encoder.transform(big)
    assert embeddings.shape == (len(big), encoder.model_config_.latent)
    latents = encoder.latents(big, np.arange(2))
    assert latents.shape == (2, tok_big.num_tokens, encoder.model_config_.latent)
    weights = encoder.decode(latents, big)
    assert weights.shape == (2, tok_big.spec.num_params)
    shapes = {k: tuple(v.shape[1:]) for k, v in tok_big.spec.unflatten(weights).items()}
    assert shapes == {t.key: t.shape for t in tok_big.spec.tensors}
    # saved and read back: the same embeddings of a zoo it trained on and of the unseen one
    encoder.save(tmp_path / "enc")
    back = load_encoder(tmp_path / "enc")
    for zoo in (zoos["mlp"], big):
        np.testing.assert_allclose(back.transform(zoo), encoder.transform(zoo), atol=1e-6)


def test_a_pool_defaults_to_positions_that_extend(zoos):
    encoder = SANE(config=replace(SANE_PRESETS["tiny"], token_size=16), train=FIT)
    encoder.fit([zoos["cnn"], zoos["mlp"]])
    assert encoder.model_config_.positions == "sinusoidal"
    assert encoder.transform(zoos["big"]).shape[0] == len(zoos["big"])


def test_learned_position_tables_refuse_a_larger_network(zoos):
    config = replace(SANE_PRESETS["tiny"], token_size=16, positions="learned")
    encoder = SANE(config=config, train=FIT).fit([zoos["cnn"], zoos["mlp"]])
    encoder.transform(zoos["mlp"])  # seen: fine
    with pytest.raises(ConfigError, match="sinusoidal"):
        encoder.transform(zoos["big"])


def test_pooled_fit_refuses_what_it_cannot_do(zoos):
    with pytest.raises(ConfigError, match="pooling"):
        sinusoidal(pooling="layer").fit([zoos["cnn"], zoos["mlp"]])
    from weightspace.encoders import HyperRep

    with pytest.raises(ConfigError, match="one zoo"):
        HyperRep("tiny", train=FIT).fit([zoos["cnn"], zoos["mlp"]])


def test_zoo_normalization_standardizes_each_zoo_with_its_own_statistics(zoos):
    pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16, normalization="zoo")
    for member in pool.members:
        rows = member.split.rows(member.zoo, "train")
        z = member.normalizer.transform(member.zoo.flat(rows))
        first = member.tokenizer.spec.tensors[0]  # the first layer's weight: ~unit variance
        values = z[:, member.tokenizer.spec.offsets[first.key] :][:, : first.numel]
        assert abs(float(values.std()) - 1.0) < 0.2
    batch_pool = TokenPool([zoos["cnn"], zoos["mlp"]], token_size=16, normalization="batch")
    raw = batch_pool.tokens("train")  # negative control: raw weights, far from unit variance
    assert not torch.allclose(raw.tokens, pool.tokens("train").tokens)


def test_a_one_zoo_encoder_saved_before_pooling_loads_with_the_same_embeddings():
    saved = DATA / "sane-one-zoo"
    encoder = load_encoder(saved / "encoder")
    assert encoder.model_config_.positions == "auto"  # one zoo: learned tables, as published
    assert "positions" not in encoder.model_config_.to_dict()  # its runs still resume
    expected = np.load(saved / "embeddings.npy")
    np.testing.assert_allclose(encoder.transform(saved / "zoo"), expected, atol=1e-6)


def _permuted(zoo, rows, seed=0):  # noqa: ANN001, ANN202
    from weightspace.spec import permute, random_permutations
    from weightspace.tokens.dataset import zoo_spec

    spec = zoo_spec(zoo)
    flat = zoo.flat(rows)
    gen = torch.Generator().manual_seed(seed)
    return spec, flat, permute(spec, flat, random_permutations(spec, len(flat), gen))


def test_canonical_embeddings_are_unchanged_by_a_weight_permutation(zoos):
    # the per-batch normalization needs no statistics: embed_weights reads any network
    batch = replace(FIT, pool_normalization="batch")
    canonical = SANE(
        config=replace(SANE_PRESETS["tiny"], positions="sinusoidal", token_size=16),
        train=replace(batch, canonical=True),
    ).fit([zoos["cnn"], zoos["mlp"]])
    plain = SANE(
        config=replace(SANE_PRESETS["tiny"], positions="sinusoidal", token_size=16), train=batch
    ).fit([zoos["cnn"], zoos["mlp"]])
    for zoo in zoos.values():  # every architecture, also the one never seen
        spec, flat, moved = _permuted(zoo, np.arange(4))
        assert not torch.equal(flat, moved)
        np.testing.assert_allclose(
            canonical.embed_weights(moved, spec), canonical.embed_weights(flat, spec), atol=1e-6
        )
        # negative control: without the canonical order a permutation moves the embedding
        assert not np.allclose(plain.embed_weights(moved, spec), plain.embed_weights(flat, spec))
        # and embed_weights is what transform gives for the zoo's own checkpoints
        np.testing.assert_allclose(
            plain.embed_weights(flat, spec), plain.transform(zoo, np.arange(4)), atol=1e-6
        )


def test_ends_pooling_lines_up_first_and_last_layers_of_any_depth(zoos):
    from weightspace.cli.common import POOLINGS as CLI_POOLINGS
    from weightspace.models.sane import POOLINGS

    assert CLI_POOLINGS == POOLINGS  # the CLI's copy (kept torch-free) is the model's list
    encoder = sinusoidal(token_size=16).fit([zoos["cnn"], zoos["mlp"]])
    latent = encoder.model_config_.latent
    for zoo in zoos.values():
        rows = np.arange(3)
        ends = encoder.transform(zoo, rows, pooling="ends")
        assert ends.shape == (3, 6 * latent)
        z = encoder.latents(zoo, rows)  # (3, n, latent)
        layer = encoder._codec(zoo)[0].positions[:, 1].numpy()
        last = z[:, layer == layer.max()]
        np.testing.assert_allclose(ends[:, :latent], z.mean(1), atol=1e-5)
        np.testing.assert_allclose(ends[:, 2 * latent : 3 * latent], last.mean(1), atol=1e-5)
        np.testing.assert_allclose(ends[:, 5 * latent :], last.std(1), atol=1e-5)
        moments = encoder.transform(zoo, rows, pooling="moments")
        np.testing.assert_allclose(moments[:, latent : 2 * latent], z.std(1), atol=1e-5)
        np.testing.assert_allclose(
            moments[:, 3 * latent : 4 * latent], np.quantile(z, 0.5, axis=1), atol=1e-5
        )


def test_zoo_normalized_encoders_refuse_bare_weights_of_a_new_architecture(zoos):
    encoder = sinusoidal(token_size=16).fit([zoos["cnn"], zoos["mlp"]])  # zoo: the default
    spec, flat, _ = _permuted(zoos["big"], np.arange(2))
    with pytest.raises(ConfigError, match="Embed a zoo of it"):
        encoder.embed_weights(flat, spec)
    spec, flat, _ = _permuted(zoos["mlp"], np.arange(2))  # a member: its own statistics
    np.testing.assert_allclose(
        encoder.embed_weights(flat, spec), encoder.transform(zoos["mlp"], np.arange(2)), atol=1e-6
    )
