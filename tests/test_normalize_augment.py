"""Per-layer normalization and the token augmentations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.errors import ConfigError, FileFormatError, NotFittedError
from weightspace.tokens.augment import (
    AdditiveNoise,
    Compose,
    Erase,
    MultiplicativeNoise,
    Permute,
    RandomWindow,
    TwoViews,
)
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.tokenizers import LayerTokenizer, TokenBatch, row_blocks
from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec

CNN = ArchConfig("cnn-s", input_shape=(1, 8, 8))
RESNET = ArchConfig("resnet18", input_shape=(3, 8, 8), num_classes=3)


def population(arch: ArchConfig, n: int, seed: int = 0) -> torch.Tensor:
    """(n, P) weights of freshly initialized networks with per-layer offsets and scales."""
    torch.manual_seed(seed)
    spec = weight_spec(arch)
    flat = torch.stack([spec.flatten(build_model(arch).state_dict()) for _ in range(n)])
    return flat * 3.0 + 0.5


# ---- normalization -------------------------------------------------------------------------
def test_normalizer_standardizes_each_block_and_inverts():
    spec = weight_spec(CNN)
    train = population(CNN, 16)
    norm = LayerNormalizer(spec).fit(train)
    z = norm.transform(train)
    start = 0
    for block in row_blocks(spec):
        width = sum(spec.by_key[k].numel for k in block.keys)
        values = z[:, start : start + width]
        start += width
        assert values.mean(1).mean().abs() < 1e-4
        assert (values.var(1, correction=0).mean() - 1).abs() < 1e-3
    torch.testing.assert_close(norm.inverse_transform(z), train, atol=1e-5, rtol=1e-6)


def test_normalizer_fits_in_batches_like_at_once():
    spec = weight_spec(CNN)
    train = population(CNN, 12)
    whole = LayerNormalizer(spec).fit(train)
    streamed = LayerNormalizer(spec).fit(iter(train.split(5)))
    torch.testing.assert_close(whole.mean_, streamed.mean_)
    torch.testing.assert_close(whole.std_, streamed.std_)


def test_constant_blocks_keep_unit_scale():
    spec = weight_spec(RESNET)
    flat = population(RESNET, 3)
    norm = LayerNormalizer(spec).fit(flat)  # running_var is 1.5 everywhere (init * 3 + .5)
    assert torch.isfinite(norm.transform(flat)).all()


def test_normalizer_save_load(tmp_path):
    spec = weight_spec(CNN)
    norm = LayerNormalizer(spec).fit(population(CNN, 4))
    norm.save(tmp_path / "norm.safetensors")
    loaded = LayerNormalizer.load(tmp_path / "norm.safetensors")
    assert loaded.spec == spec
    x = population(CNN, 2, seed=1)
    assert torch.equal(loaded.transform(x), norm.transform(x))
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(FileFormatError, match="bad.safetensors"):
        LayerNormalizer.load(tmp_path / "bad.safetensors")


def test_normalizer_errors():
    spec = weight_spec(CNN)
    with pytest.raises(NotFittedError):
        LayerNormalizer(spec).transform(torch.zeros(spec.num_params))
    bad = population(CNN, 2)
    bad[1, 7] = float("nan")
    with pytest.raises(ConfigError, match="finite"):
        LayerNormalizer(spec).fit(bad)
    with pytest.raises(ConfigError, match="weights"):
        LayerNormalizer(spec).fit(torch.zeros(2, 5))


# ---- augmentations -------------------------------------------------------------------------
def forward(arch: ArchConfig, spec, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    net = build_model(arch).double().eval()
    net.load_state_dict(spec.unflatten(flat.double()))
    with torch.no_grad():
        return net(x)


@pytest.mark.parametrize("arch", [CNN, RESNET], ids=["cnn-s", "resnet18"])
def test_permute_augmentation_keeps_function_and_draws_fresh(arch):
    spec = weight_spec(arch)
    tok = LayerTokenizer(spec, 64)
    flat = population(arch, 2) / 3.0
    batch = tok.tokenize(flat)
    gen = torch.Generator().manual_seed(0)
    first, second = Permute(tok)(batch, gen), Permute(tok)(batch, gen)
    assert not torch.equal(first.tokens, batch.tokens)
    assert not torch.equal(first.tokens, second.tokens)  # fresh permutations every call
    assert torch.equal(first.tokens[~first.mask], torch.zeros(int((~first.mask).sum())))
    x = torch.randn(4, *arch.input_shape, dtype=torch.float64)
    for b in range(2):
        permuted = tok.detokenize(first.tokens)[b]
        torch.testing.assert_close(
            forward(arch, spec, permuted, x), forward(arch, spec, flat[b], x), atol=1e-5, rtol=0
        )


def test_permute_refuses_windows():
    tok = LayerTokenizer(weight_spec(CNN), 16)
    window = RandomWindow(5)(tok.tokenize(population(CNN, 2)))
    with pytest.raises(ConfigError, match="before RandomWindow"):
        Permute(tok)(window)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sigma=st.floats(0.01, 1.0))
def test_noise_keeps_padding_zero_and_changes_real_values(seed, sigma):
    tok = LayerTokenizer(weight_spec(CNN), 16)
    batch = tok.tokenize(population(CNN, 2))
    gen = torch.Generator().manual_seed(seed)
    for aug in (AdditiveNoise(sigma), MultiplicativeNoise(sigma)):
        out = aug(batch, gen)
        assert (out.tokens[~out.mask] == 0).all()
        assert (out.tokens[out.mask] != batch.tokens[out.mask]).float().mean() > 0.99
        assert torch.equal(out.mask, batch.mask)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_erase_zeroes_one_contiguous_block_of_the_allowed_size(seed):
    n, t = 30, 16
    ones = torch.ones(4, n, t)
    batch = TokenBatch(ones, ones.bool(), torch.zeros(4, n, 3, dtype=torch.long))
    out = Erase(p=1.0, min_fraction=0.1, max_fraction=0.3)(
        batch, torch.Generator().manual_seed(seed)
    )
    for b in range(4):
        zeros = (out.tokens[b].flatten() == 0).nonzero().squeeze(1)
        assert zeros.numel() == zeros.max() - zeros.min() + 1  # one contiguous block
        assert int(0.1 * n * t) <= zeros.numel() <= 0.3 * n * t
    assert torch.equal(Erase(p=0.0)(batch).tokens, batch.tokens)
    assert torch.equal(batch.tokens, ones)  # the input is untouched


def test_two_views_differ_and_share_their_window():
    tok = LayerTokenizer(weight_spec(CNN), 16)
    batch = tok.tokenize(population(CNN, 3))
    views = TwoViews(Compose([Permute(tok), MultiplicativeNoise(0.1)]), RandomWindow(10))
    a, b = views(batch, torch.Generator().manual_seed(0))
    assert a.tokens.shape == b.tokens.shape == (3, 10, 16)
    assert torch.equal(a.positions, b.positions)
    assert not torch.equal(a.tokens, b.tokens)


def test_random_window_covers_every_start_and_clips_to_the_model():
    tok = LayerTokenizer(weight_spec(CNN), 16)
    batch = tok.tokenize(population(CNN, 1).expand(400, -1))
    n = tok.num_tokens
    out = RandomWindow(n - 3)(batch, torch.Generator().manual_seed(0))
    assert set(out.positions[:, 0, 0].tolist()) == {0, 1, 2, 3}
    whole = RandomWindow(n + 10)(batch)
    assert torch.equal(whole.tokens, batch.tokens)
    with pytest.raises(ConfigError):
        RandomWindow(0)
