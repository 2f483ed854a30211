"""The weight-space spec and permutation symmetry: permuted networks compute the same function."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from weightspace.errors import ConfigError
from weightspace.spec import (
    WeightSpec,
    permute,
    random_permutations,
    spec_from_module,
    spec_from_state_dict,
)
from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec

ARCHS = [
    ArchConfig("cnn-s", input_shape=(1, 8, 8)),
    ArchConfig("cnn-s", input_shape=(1, 28, 28), activation="relu"),
    ArchConfig("cnn-l", input_shape=(3, 32, 32), activation="gelu"),
    ArchConfig("mlp", input_shape=(1, 8, 8), hidden=(16, 12)),
    ArchConfig("tetris-mlp", input_shape=(1, 4, 4), num_classes=4),
    ArchConfig("resnet18", input_shape=(3, 16, 16), activation="relu"),
]


def randomized(net: nn.Module, seed: int = 0) -> nn.Module:
    """The net in float64 and eval mode, with random biases and BatchNorm parameters and stats.

    float64 keeps summation-order rounding (channels are summed in a new order) far below the
    1e-5 tolerance, so the test checks the symmetry, not float32 noise.
    """
    gen = torch.Generator().manual_seed(seed)
    state = net.double().state_dict()
    for key, value in state.items():
        if value.is_floating_point() and value.dim() == 1:
            noise = torch.randn(value.shape, generator=gen, dtype=torch.float64)
            state[key] = noise.abs() + 0.5 if key.endswith(("running_var", "weight")) else noise
    net.load_state_dict(state)
    return net.eval()


def outputs(net: nn.Module, spec: WeightSpec, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    net.load_state_dict(spec.unflatten(flat), strict=False)
    with torch.no_grad():
        return net(x)


def case(arch: ArchConfig):  # noqa: ANN201
    """Spec, randomized float64 net, its flat weights (1, P), inputs and reference outputs."""
    spec = weight_spec(arch)
    net = randomized(build_model(arch))
    x = torch.randn(8, *arch.input_shape, generator=torch.Generator().manual_seed(1)).double()
    flat = spec.flatten(net.state_dict()).unsqueeze(0)
    return spec, net, flat, x, outputs(net, spec, flat[0], x)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.name}-{a.input_shape[-1]}")
def test_random_permutations_keep_the_function(arch):
    spec, net, flat, x, reference = case(arch)
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):
        permuted = permute(spec, flat, random_permutations(spec, 1, gen))
        assert not torch.equal(permuted, flat)
        torch.testing.assert_close(outputs(net, spec, permuted[0], x), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.name}-{a.input_shape[-1]}")
def test_a_wrong_permutation_changes_the_function(arch):
    """Sensitivity: forgetting the next layer's inputs (one tie of the spec) breaks the network."""
    spec, net, flat, x, reference = case(arch)
    consumer = next(i for i, t in enumerate(spec.tensors) if t.in_group is not None)
    tensors = list(spec.tensors)
    tensors[consumer] = dataclasses.replace(tensors[consumer], in_group=None, in_block=1)
    broken = dataclasses.replace(spec, tensors=tuple(tensors))
    permuted = permute(broken, flat, random_permutations(spec, 1, torch.Generator().manual_seed(3)))
    assert (outputs(net, spec, permuted[0], x) - reference).abs().max() > 1e-3


def test_spec_structure_of_registry_architectures():
    cnn = weight_spec(ArchConfig("cnn-s", input_shape=(1, 28, 28)))
    assert cnn.num_params == 2464
    assert cnn.group_sizes == (8, 6, 4, 20)
    fc1 = cnn.by_key["classifier.1.weight"]
    assert (fc1.in_group, fc1.in_block) == (2, 9)  # conv -> flatten (4 x 3 x 3) -> linear
    assert cnn.by_key["classifier.4.weight"].out_group is None  # logits never permute
    assert cnn.by_key["features.0.weight"].in_group is None  # nor do input channels
    resnet = weight_spec(ArchConfig("resnet18", input_shape=(3, 32, 32)))
    assert resnet.num_params == 11_173_962 + 2 * 4800  # + BN running statistics
    assert resnet.group_sizes == (64, 64, 64, 128, 128, 128, 256, 256, 256, 512, 512, 512)
    # the residual stream ties the stem, every block's second conv and the shortcuts
    stream = resnet.by_key["conv1.weight"].out_group
    assert resnet.by_key["layer1.1.bn2.running_mean"].out_group == stream
    assert resnet.by_key["layer2.0.conv1.weight"].in_group == stream
    assert resnet.by_key["layer2.0.shortcut.0.weight"].in_group == stream
    down = resnet.by_key["layer2.0.shortcut.1.weight"].out_group
    assert resnet.by_key["layer2.1.bn2.bias"].out_group == down != stream
    kinds = {layer.kind for layer in resnet.layers}
    assert kinds == {"conv", "batchnorm", "linear"}


class UserNet(nn.Module):
    """A user's own CNN with functional ops, a residual add and a shared-width skip."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.inner = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.conv(x)))
        h = h + torch.tanh(self.inner(h))
        h = F.max_pool2d(h, 2)
        return self.head(torch.flatten(h, 1))


def test_user_module_with_functional_ops_and_skip():
    net = randomized(UserNet())
    spec = spec_from_module(net, (1, 8, 8))
    assert spec.group_sizes == (6,)  # conv, bn, inner (in and out) tied by the skip
    assert spec.by_key["head.weight"].in_block == 16
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    flat = spec.flatten(net.state_dict()).unsqueeze(0)
    permuted = permute(spec, flat, random_permutations(spec, 1))
    torch.testing.assert_close(
        outputs(net, spec, permuted[0], x), outputs(net, spec, flat[0], x), atol=1e-5, rtol=0
    )


class Mixer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        return self.b(h.softmax(dim=1))  # an op the tracer does not know: no permutation


def test_unknown_ops_fix_their_groups():
    spec = spec_from_module(Mixer(), (4,))
    assert spec.group_sizes == ()


def test_spec_from_state_dict_matches_the_traced_spec():
    for arch in ARCHS[:5]:
        traced = weight_spec(arch)
        inferred = spec_from_state_dict(build_model(arch).state_dict())
        assert inferred.tensors == traced.tensors, arch.name
        assert inferred.group_sizes == traced.group_sizes


def test_spec_from_state_dict_rejects_non_sequential_networks():
    state = build_model(ArchConfig("resnet18", input_shape=(3, 8, 8))).state_dict()
    with pytest.raises(ConfigError, match="spec_from_module"):
        spec_from_state_dict(state)


def test_flatten_checks_keys_and_shapes():
    spec = weight_spec(ARCHS[0])
    state = build_model(ARCHS[0]).state_dict()
    del state["features.4.bias"]
    with pytest.raises(ConfigError, match="features.4.bias"):
        spec.flatten(state)
    state = build_model(ARCHS[0]).state_dict()
    state["features.4.weight"] = torch.zeros(3, 3)
    with pytest.raises(ConfigError, match="features.4.weight"):
        spec.flatten(state)


def test_spec_dict_round_trip():
    spec = weight_spec(ARCHS[-1])
    assert WeightSpec.from_dict(spec.to_dict()) == spec


@settings(max_examples=25, deadline=None)
@given(arch=st.sampled_from(ARCHS[:5]), seed=st.integers(0, 2**31 - 1))
def test_permutation_is_a_bijection_undone_by_its_inverse(arch, seed):
    spec = weight_spec(arch)
    gen = torch.Generator().manual_seed(seed)
    flat = torch.randn(3, spec.num_params, generator=gen)
    perms = random_permutations(spec, 3, gen)
    permuted = permute(spec, flat, perms)
    assert torch.equal(permuted.sort(1).values, flat.sort(1).values)
    inverse = [p.argsort(1) for p in perms]
    assert torch.equal(permute(spec, permuted, inverse), flat)
    identity = [torch.arange(s).expand(3, s) for s in spec.group_sizes]
    assert torch.equal(permute(spec, flat, identity), flat)
