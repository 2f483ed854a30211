import pytest
import torch

from weightspace.zoo import ArchConfig
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import Population
from weightspace.zoo.reference import train_alone


def _spec(i, optimizer="adam", lr=1e-3, dropout=0.0, activation="tanh", wd=1e-4):
    arch = ArchConfig("cnn-s", (1, 8, 8), 10, activation, dropout, "uniform")
    return ModelSpec(i, 10 + i, arch, optimizer, lr, wd)


@pytest.mark.parametrize(
    "optimizer, lr, train_metrics", [("adam", 1e-3, "running"), ("sgd", 1e-2, "full")]
)
def test_population_matches_torch_optim_per_model(digits, optimizer, lr, train_metrics):
    specs = [_spec(i, optimizer, lr * (1 + i), wd=1e-3 * i) for i in range(3)]
    result = Population(specs, digits, batch_size=32).train(2, train_metrics=train_metrics)
    for i, spec in enumerate(specs):
        state, metrics = train_alone(spec, digits, 2, 32, train_metrics)
        for key, value in state.items():
            torch.testing.assert_close(result.weights[key][i, -1], value, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(result.metrics[i], torch.tensor(metrics), atol=1e-4, rtol=1e-4)


def test_model_in_population_equals_model_alone_with_dropout(digits):
    specs = [_spec(i, dropout=0.5 * (i % 2)) for i in range(4)]
    together = Population(specs, digits, batch_size=32).train(epochs=2)
    alone = Population([specs[1]], digits, batch_size=32).train(epochs=2)
    for key in together.weights:
        torch.testing.assert_close(
            together.weights[key][1], alone.weights[key][0], atol=1e-5, rtol=1e-5
        )
    # dropout actually did something: the model differs from its dropout-free twin
    twin = Population([_spec(1)], digits, batch_size=32).train(epochs=1)
    key = next(iter(twin.weights))
    assert not torch.allclose(twin.weights[key][0, -1], together.weights[key][1, 1])


def test_same_seed_gives_identical_weights(digits):
    specs = [_spec(i, dropout=0.5) for i in range(2)]
    a = Population(specs, digits, batch_size=64).train(epochs=1)
    b = Population(specs, digits, batch_size=64).train(epochs=1)
    for key in a.weights:
        assert torch.equal(a.weights[key], b.weights[key])


def test_divergence_is_recorded_and_others_go_on(digits):
    specs = [_spec(0, "sgd", 1e-2), _spec(1, "sgd", 1e12), _spec(2, "sgd", 1e-2)]
    result = Population(specs, digits, batch_size=32).train(epochs=2)
    assert result.diverged_epoch[1] == 1
    assert result.diverged_epoch[0] == result.diverged_epoch[2] == -1
    assert torch.isnan(result.metrics[1, 1:]).all()
    assert result.metrics[0, 2, 5] > 0.5 and result.metrics[2, 2, 5] > 0.5
    for value in result.weights.values():
        assert torch.isfinite(value[[0, 2]]).all()


def test_streamed_checkpoints_equal_the_kept_history(digits):
    # what `on_checkpoint` receives, epoch by epoch, is the in-memory history minus the
    # checkpoints at or after a model's divergence; nothing is kept
    specs = [_spec(0, "sgd", 1e-2), _spec(1, "sgd", 1e12), _spec(2, "sgd", 1e-2)]
    kept = Population(specs, digits, batch_size=32).train(epochs=2)
    got = []
    streamed = Population(specs, digits, batch_size=32).train(
        epochs=2, on_checkpoint=lambda e, state, models: got.append((e, state, models.tolist()))
    )
    assert streamed.weights == {}
    assert [(e, m) for e, _, m in got] == [(0, [0, 1, 2]), (1, [0, 2]), (2, [0, 2])]
    for j, (_, state, models) in enumerate(got):
        for key, value in state.items():
            assert torch.equal(value, kept.weights[key][models, j])
    torch.testing.assert_close(streamed.metrics, kept.metrics, equal_nan=True)


def test_population_rejects_mixed_groups(digits):
    with pytest.raises(AssertionError):
        Population([_spec(0, "adam"), _spec(1, "sgd")], digits, batch_size=32)


def test_resnet18_with_batchnorm_matches_torch_optim():
    from weightspace.zoo.datasets import Splits

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 3, 8, 8, generator=g), torch.randint(0, 10, (24,), generator=g)
    splits = Splits(x, y, x[:8], y[:8], x[:8], y[:8], 10)
    arch = ArchConfig("resnet18", (3, 8, 8), 10, "relu", 0.0, "kaiming_normal")
    specs = [ModelSpec(i, i + 1, arch, "sgd", 1e-2, 1e-4) for i in range(2)]
    result = Population(specs, splits, batch_size=12).train(epochs=1)
    state, _ = train_alone(specs[1], splits, 1, 12)
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "bn1.running_var",
        "layer4.1.bn2.weight",
        "fc.bias",
    ):
        torch.testing.assert_close(result.weights[key][1, -1], state[key], atol=1e-4, rtol=1e-3)
    assert result.weights["bn1.num_batches_tracked"][1, -1] == state["bn1.num_batches_tracked"]
