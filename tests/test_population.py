import pytest
import torch
import torch.nn.functional as F

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


# --- the batched forward (weightspace.zoo.batched) --------------------------------------------


def _random_splits(hw, n_train=30, n_eval=12, seed=0):
    from weightspace.zoo.datasets import Splits

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + 2 * n_eval, 1, hw, hw, generator=g)
    y = torch.randint(0, 10, (len(x),), generator=g)
    cut = (n_train, n_train + n_eval)
    return Splits(
        x[: cut[0]],
        y[: cut[0]],
        *(x[cut[0] : cut[1]], y[cut[0] : cut[1]]),
        x[cut[1] :],
        y[cut[1] :],
        10,
    )


# (in channels, out channels, kernel, stride, padding, input size): every conv of the zoo
# architectures at 8x8 and 28x28 (CNN-s, CNN-l, CNN-w, the Small CNN Zoo network)
CONVS = [
    (1, 8, 5, 1, 0, 28),
    (8, 6, 5, 1, 0, 12),
    (6, 4, 2, 1, 0, 4),
    (1, 8, 3, 1, 1, 8),
    (8, 6, 3, 1, 1, 4),
    (6, 4, 1, 1, 0, 2),
    (16, 32, 3, 1, 1, 4),
    (1, 16, 3, 2, 0, 28),
    (16, 16, 3, 2, 0, 13),
]


@pytest.mark.parametrize("c, o, k, stride, padding, size", CONVS)
def test_batched_conv_equals_separate_convs(c, o, k, stride, padding, size):
    from weightspace.zoo.batched import conv2d, per_model_input

    n, b = 3, 2
    g = torch.Generator().manual_seed(c * 100 + o + k)
    x = torch.randn(n, b, c, size, size, generator=g, requires_grad=True)
    w = torch.randn(n, o, c, k, k, generator=g, requires_grad=True)
    bias = torch.randn(n, o, generator=g, requires_grad=True)
    out = conv2d(per_model_input(x).x, w, bias, stride, padding)  # (B, N*O, H', W')
    out = out.unflatten(1, (n, o)).transpose(0, 1)  # (N, B, O, H', W')
    ref = torch.stack([F.conv2d(x[i], w[i], bias[i], stride, padding) for i in range(n)])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    probe = torch.randn(ref.shape, generator=g)
    got = torch.autograd.grad((out * probe).sum(), (x, w, bias))
    want = torch.autograd.grad((ref * probe).sum(), (x, w, bias))
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4)
    # shared input (evaluation): one batch for every model equals each model on that batch
    shared = conv2d(x[0].detach(), w, bias, stride, padding, shared=True).unflatten(1, (n, o))
    for i in range(n):
        torch.testing.assert_close(
            shared[:, i], F.conv2d(x[0], w[i], bias[i], stride, padding), atol=1e-5, rtol=1e-5
        )
    # negative control: swapping two models' weights moves their outputs
    swapped = conv2d(per_model_input(x).x, w[[1, 0, 2]], bias, stride, padding)
    swapped = swapped.unflatten(1, (n, o)).transpose(0, 1)
    assert not torch.allclose(swapped[0], ref[0], atol=1e-3)
    torch.testing.assert_close(swapped[2], ref[2], atol=1e-5, rtol=1e-5)


def _arch(name, hw, dropout=0.0):
    return ArchConfig(name, (1, hw, hw), 10, "tanh", dropout, "uniform")


@pytest.mark.parametrize(
    "name, hw, fast",
    [
        ("cnn-s", 8, True),
        ("cnn-s", 28, True),
        ("cnn-l", 8, True),
        ("cnn-w", 8, True),
        ("smallcnn", 28, True),
        ("mlp", 8, True),
        ("tetris-mlp", 4, True),
        ("resnet18", 8, False),  # batch norm: vmap
    ],
)
def test_each_architecture_runs_on_the_expected_path(name, hw, fast):
    specs = [ModelSpec(0, 1, _arch(name, hw), "adam", 1e-3, 0.0)]
    pop = Population(specs, _random_splits(hw, 4, 2), batch_size=2)
    assert (pop.program is not None) is fast


def test_variational_layers_fall_back_to_vmap():
    from weightspace.sparsify.variational import to_variational
    from weightspace.zoo.architectures import build_model

    specs = [ModelSpec(0, 1, _arch("cnn-s", 8), "adam", 1e-3, 0.0)]
    pop = Population(
        specs, _random_splits(8, 4, 2), 2, build=lambda a: to_variational(build_model(a))
    )
    assert pop.program is None


@pytest.mark.parametrize(
    "name, hw, dropout",
    [("cnn-s", 8, 0.3), ("cnn-s", 28, 0.2), ("smallcnn", 28, 0.2), ("mlp", 8, 0.3)],
)
def test_batched_path_equals_vmap_path(name, hw, dropout):
    # dropout masks included: each model draws its own, element for element as under vmap
    splits = _random_splits(hw)
    specs = [
        ModelSpec(i, 10 + i, _arch(name, hw, dropout * (i % 2)), "adam", 1e-3 * (1 + i), 1e-4)
        for i in range(3)
    ]
    fast = Population(specs, splits, batch_size=8)
    slow = Population(specs, splits, batch_size=8)
    slow.program = None
    a, b = fast.train(2), slow.train(2)
    for key in a.weights:
        torch.testing.assert_close(a.weights[key], b.weights[key], atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(a.metrics, b.metrics, atol=1e-5, rtol=1e-5)
    # the two paths did differ in what ran: the fast one has a program
    assert fast.program is not None


@pytest.mark.parametrize("name", ["cnn-s", "smallcnn"])
def test_population_at_28x28_matches_torch_optim_per_model(name):
    splits = _random_splits(28)
    specs = [
        ModelSpec(i, 10 + i, _arch(name, 28), "adam", 1e-3 * (1 + i), 1e-4 * i) for i in range(2)
    ]
    result = Population(specs, splits, batch_size=8).train(2)
    for i, spec in enumerate(specs):
        state, metrics = train_alone(spec, splits, 2, 8)
        for key, value in state.items():
            torch.testing.assert_close(result.weights[key][i, -1], value, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(result.metrics[i], torch.tensor(metrics), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_freezes_inactive_models_and_moves_the_others(kind):
    from weightspace.zoo.optim import PopulationOptimizer

    g = torch.Generator().manual_seed(0)
    params = torch.randn(3, 5, generator=g)
    grads = [torch.randn(3, 5, generator=g) for _ in range(3)]
    lr, wd = torch.tensor([1e-2, 2e-2, 3e-2]), torch.tensor([0.0, 1e-3, 1e-2])
    every, some = (
        PopulationOptimizer(kind, params, lr, wd),
        PopulationOptimizer(kind, params, lr, wd),
    )
    a, b = params.clone(), params.clone()
    active = torch.tensor([True, False, True])
    for i, grad in enumerate(grads):
        every.step(a, grad, torch.ones(3, dtype=torch.bool))
        if i == 0:  # all move once, then model 1 diverges and is frozen
            some.step(b, grad, torch.ones(3, dtype=torch.bool))
            continue
        frozen = grad.clone()
        frozen[1] = float("nan")  # a diverged model's gradient
        b_before = b[1].clone()
        some.step(b, frozen, active)
        assert torch.equal(b[1], b_before)  # frozen: not moved, not poisoned by NaN
    torch.testing.assert_close(b[[0, 2]], a[[0, 2]])
    assert torch.isfinite(some.exp_avg).all() and not torch.equal(b[1], a[1])
