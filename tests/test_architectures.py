import pytest
import torch

from weightspace.errors import ConfigError
from weightspace.zoo import ArchConfig, build_model
from weightspace.zoo.architectures import count_parameters
from weightspace.zoo.layers import Dropout, counter_uniform


@pytest.mark.parametrize(
    "name, shape, classes, params",
    [
        ("cnn-s", (1, 28, 28), 10, 2464),  # published CNN-s, 1 channel
        ("cnn-s", (3, 28, 28), 10, 2864),  # published CNN-s, 3 channels
        ("cnn-l", (3, 32, 32), 10, 10853),  # published CNN-l
        ("tetris-mlp", (1, 4, 4), 4, 100),  # 16 -> 5 -> 4, no bias
        ("resnet18", (3, 32, 32), 10, 11173962),
    ],
)
def test_published_parameter_counts(name, shape, classes, params):
    model = build_model(ArchConfig(name, shape, classes))
    assert count_parameters(model) == params


@pytest.mark.parametrize("name", ["cnn-s", "cnn-l", "mlp", "tetris-mlp"])
@pytest.mark.parametrize("shape", [(1, 4, 4), (1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_architecture_fits_every_input(name, shape):
    model = build_model(ArchConfig(name, shape, 10, activation="gelu", dropout=0.5))
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_init_schemes_differ_and_bias_is_001():
    weights = {}
    for init in ("uniform", "normal", "kaiming_uniform", "kaiming_normal"):
        torch.manual_seed(0)
        model = build_model(ArchConfig("cnn-s", (1, 8, 8), init=init))
        weights[init] = model.features[0].weight.clone()
        assert torch.all(model.features[0].bias == 0.01)
    assert not torch.equal(weights["uniform"], weights["kaiming_normal"])


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"name": "cnn-xl"}, "architecture"),
        ({"activation": "relu6"}, "activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"init": "orthogonal"}, "init"),
    ],
)
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        ArchConfig(**changes)


def test_counter_uniform_is_uniform_and_key_dependent():
    u = counter_uniform(torch.tensor(3), (100_000,))
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean().item() - 0.5) < 0.01
    assert not torch.equal(u, counter_uniform(torch.tensor(4), (100_000,)))
    assert torch.equal(u, counter_uniform(torch.tensor(3), (100_000,)))


def test_seeded_dropout_drops_at_the_rate_and_rescales():
    layer = Dropout(0.5, salt=1)
    layer.seeded = True
    layer.key = torch.tensor(11)
    out = layer(torch.ones(10_000))
    assert abs((out == 0).float().mean().item() - 0.5) < 0.02
    assert torch.all((out == 0) | (out == 2))
    layer.eval()
    assert torch.equal(layer(torch.ones(5)), torch.ones(5))
