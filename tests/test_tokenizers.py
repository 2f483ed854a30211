"""Tokenizers: bit-exact round trips, published token counts, masks and positions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from weightspace.errors import ConfigError
from weightspace.tokens.tokenizers import LayerTokenizer, NeuronTokenizer, row_blocks
from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec

SMALL = [
    ArchConfig("cnn-s", input_shape=(1, 8, 8)),
    ArchConfig("cnn-l", input_shape=(1, 8, 8)),
    ArchConfig("mlp", input_shape=(1, 4, 4), hidden=(7, 5)),
    ArchConfig("tetris-mlp", input_shape=(1, 4, 4), num_classes=4),
    ArchConfig("resnet18", input_shape=(3, 8, 8), num_classes=3),
]


def bits(x: torch.Tensor) -> torch.Tensor:
    """The raw bits, so that -0.0 != 0.0 and NaN payloads count."""
    return x.view(torch.int32)


def weights_for(spec, data) -> torch.Tensor:  # noqa: ANN001
    """Two models' worth of arbitrary float32 values, NaN, inf, -0.0 and subnormals included."""
    values = data.draw(
        arrays(
            "float32",
            (2, spec.num_params) if spec.num_params < 5000 else (2, 64),
            elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
        )
    )
    flat = torch.from_numpy(values)
    if flat.shape[1] < spec.num_params:  # big nets: tile the drawn values
        flat = flat.repeat(1, spec.num_params // flat.shape[1] + 1)[:, : spec.num_params]
    return flat.contiguous()


@settings(max_examples=30, deadline=None)
@given(arch=st.sampled_from(SMALL[:4]), token_size=st.integers(0, 80), data=st.data())
def test_layer_tokens_round_trip_bit_exactly(arch, token_size, data):
    spec = weight_spec(arch)
    tok = LayerTokenizer(spec, token_size)
    flat = weights_for(spec, data)
    batch = tok.tokenize(flat)
    assert batch.tokens.shape == (2, tok.num_tokens, tok.token_size)
    assert torch.equal(bits(tok.detokenize(batch.tokens)), bits(flat))
    padding = batch.tokens[~batch.mask]
    assert torch.equal(bits(padding), torch.zeros_like(bits(padding)))  # +0.0, never a weight
    assert int(batch.mask[0].sum()) == spec.num_params


@settings(max_examples=30, deadline=None)
@given(arch=st.sampled_from(SMALL[:4]), data=st.data())
def test_neuron_tokens_round_trip_bit_exactly(arch, data):
    spec = weight_spec(arch)
    tok = NeuronTokenizer(spec)
    flat = weights_for(spec, data)
    per_layer = tok.tokenize(flat)
    assert [p.shape[-1] for p in per_layer] == list(tok.token_lengths)
    assert torch.equal(bits(tok.detokenize(per_layer)), bits(flat))


def test_round_trip_of_a_resnet18_state_dict_with_batchnorm():
    arch = SMALL[4]
    spec = weight_spec(arch)
    net = build_model(arch)
    net.train()(torch.randn(4, 3, 8, 8))  # non-trivial running statistics
    state = net.state_dict()
    for tok in (LayerTokenizer(spec, 288), LayerTokenizer(spec, 0)):
        restored = spec.unflatten(tok.detokenize(tok.tokenize(spec.flatten(state)).tokens)[0])
        for key, value in restored.items():
            assert torch.equal(bits(value), bits(state[key])), key
    restored = spec.unflatten(
        NeuronTokenizer(spec).detokenize(NeuronTokenizer(spec).tokenize(spec.flatten(state)))
    )
    assert all(torch.equal(v, state[k]) for k, v in restored.items())


def test_published_token_counts():
    cnn_l = LayerTokenizer(weight_spec(ArchConfig("cnn-l", input_shape=(3, 32, 32))))
    assert (cnn_l.num_tokens, cnn_l.token_size) == (93, 289)
    cnn_s = LayerTokenizer(weight_spec(ArchConfig("cnn-s", input_shape=(1, 28, 28))))
    assert cnn_s.token_size == 201
    # SANE's 53,704 is a ResNet-18 with a 100-way head (CIFAR-100): its fc gives 100 x 2 tokens
    for classes, count in ((100, 53_704), (10, 53_524)):
        arch = ArchConfig("resnet18", input_shape=(3, 32, 32), num_classes=classes)
        tok = LayerTokenizer(weight_spec(arch), 288)
        assert (tok.num_tokens, tok.token_size) == (count, 288)


def test_positions_follow_blocks_and_rows():
    spec = weight_spec(ArchConfig("cnn-s", input_shape=(1, 28, 28)))
    tok = LayerTokenizer(spec, 50)
    n, layer, row = tok.positions.unbind(1)
    assert torch.equal(n, torch.arange(tok.num_tokens))
    assert layer.min() == 0 and layer.max() == len(row_blocks(spec)) - 1
    assert (layer.diff() >= 0).all()
    # features.4: 6 channels of 8*5*5+1 = 201 values -> 5 tokens each, sharing (layer, channel)
    second = (layer == 1).nonzero().squeeze(1)
    assert row[second].tolist() == [c for c in range(6) for _ in range(5)]
    assert tok.mask[second].sum(1).tolist() == [50, 50, 50, 50, 1] * 6


def test_batchnorm_blocks():
    spec = weight_spec(SMALL[4])
    blocks = {b.keys[0]: b for b in row_blocks(spec)}
    assert (
        blocks["bn1.weight"].keys == ("bn1.weight", "bn1.bias") and blocks["bn1.weight"].cols == 2
    )
    assert blocks["bn1.running_mean"].cols == 1 and blocks["bn1.running_var"].cols == 1
    assert blocks["fc.weight"].keys == ("fc.weight", "fc.bias")


def test_bad_shapes_are_rejected():
    spec = weight_spec(SMALL[0])
    tok = LayerTokenizer(spec)
    with pytest.raises(ConfigError, match="weights"):
        tok.tokenize(torch.zeros(3, spec.num_params + 1))
    with pytest.raises(ConfigError, match="tokens"):
        tok.detokenize(torch.zeros(1, tok.num_tokens - 1, tok.token_size))
    with pytest.raises(ConfigError, match="token_size"):
        LayerTokenizer(spec, -1)


def test_window_selects_contiguous_tokens():
    spec = weight_spec(SMALL[0])
    tok = LayerTokenizer(spec, 16)
    batch = tok.tokenize(torch.randn(3, spec.num_params))
    start = torch.tensor([0, 5, tok.num_tokens - 4])
    window = batch.window(start, 4)
    assert window.tokens.shape == (3, 4, 16)
    for b in range(3):
        s = int(start[b])
        assert torch.equal(window.tokens[b], batch.tokens[b, s : s + 4])
        assert torch.equal(window.positions[b, :, 0], torch.arange(s, s + 4))


def test_layer_tokenizer_keeps_its_index_on_each_device_once():
    tok = LayerTokenizer(weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8))))
    flat = torch.randn(2, tok.spec.num_params)
    assert torch.equal(tok.detokenize(tok.tokenize(flat).tokens), flat)
    meta = torch.device("meta")
    first = tok.tokenize(flat.to(meta))
    assert first.tokens.device == meta
    index = tok.on(meta)["index"]
    tok.tokenize(flat.to(meta))
    tok.detokenize(first.tokens)
    assert tok.on(meta)["index"] is index  # copied once, not at every call
