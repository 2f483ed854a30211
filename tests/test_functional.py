"""The functional population core: flat <-> named round trips, stacked outputs equal to each
network called alone (buffers included), and scores equal to a plain per-network loop."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from weightspace.functional import FlatModels, ParamLayout, loss_and_correct, stacked_logits


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4)
    )
    net.train()(torch.randn(16, 1, 8, 8) * (seed + 1))  # distinct running statistics per seed
    return net.eval()


def test_layout_round_trips_and_orders_like_named_parameters() -> None:
    net = _net(0)
    layout = ParamLayout.of(net)
    flat = layout.flatten(dict(net.named_parameters()))
    assert flat.shape == (sum(p.numel() for p in net.parameters()),) == (layout.size,)
    torch.testing.assert_close(flat, torch.cat([p.reshape(-1) for p in net.parameters()]))
    for name, value in layout.unflatten(flat).items():
        torch.testing.assert_close(value, net.get_parameter(name))
    stacked = torch.stack([flat, 2 * flat])  # (2, P) with lead dims
    again = layout.flatten(layout.unflatten(stacked), lead=1)
    torch.testing.assert_close(again, stacked)


def test_flat_models_match_each_network_alone_buffers_included() -> None:
    nets = [_net(s) for s in range(3)]
    models = FlatModels.from_state_dicts(_net(9), [n.state_dict() for n in nets])
    x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 4, (20,))
    logits = models.logits(x, chunk=7)  # chunked over images
    for i, net in enumerate(nets):
        torch.testing.assert_close(logits[i], net(x))
    # negative control: the template's own buffers would give other outputs
    assert not torch.allclose(logits[0], _net(9)(x))

    loss, accuracy = models.evaluate(x, y, chunk=6)
    for i, net in enumerate(nets):
        out = net(x)
        torch.testing.assert_close(loss[i], F.cross_entropy(out, y))
        assert accuracy[i].item() == (out.argmax(1) == y).float().mean().item()

    sub = models.select([2, 0])
    torch.testing.assert_close(sub.logits(x), logits[[2, 0]])
    states = models.state_dicts()
    assert set(states) == set(nets[0].state_dict())
    torch.testing.assert_close(states["1.running_mean"][1], nets[1].state_dict()["1.running_mean"])


def test_per_network_batches_and_one_networks_gradient() -> None:
    nets = [_net(s) for s in range(2)]
    models = FlatModels.from_state_dicts(_net(9), [n.state_dict() for n in nets])
    x = torch.randn(2, 5, 1, 8, 8)  # a batch per network
    logits = models.logits(x, shared=False)
    for i, net in enumerate(nets):
        torch.testing.assert_close(logits[i], net(x[i]))

    y = torch.randint(0, 4, (5,))
    buffers = {k: v[0] for k, v in models.buffers.items()}
    grad = torch.func.grad(models.loss_fn(x[0], y))(models.flat[0], buffers)
    F.cross_entropy(nets[0](x[0]), y).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in nets[0].parameters()])
    torch.testing.assert_close(grad, expected)


def test_loss_and_correct_sum_over_the_batch_for_shared_and_own_labels() -> None:
    logits = torch.randn(3, 8, 5)
    y = torch.randint(0, 5, (8,))
    loss, correct = loss_and_correct(logits, y)
    for i in range(3):
        torch.testing.assert_close(loss[i], F.cross_entropy(logits[i], y, reduction="sum"))
        assert correct[i] == (logits[i].argmax(1) == y).sum()
    own = torch.randint(0, 5, (3, 8))
    loss, _ = loss_and_correct(logits, own)
    torch.testing.assert_close(loss[2], F.cross_entropy(logits[2], own[2], reduction="sum"))


def test_stacked_logits_take_a_whole_state_dict_as_a_zoo_stores_it() -> None:
    nets = [_net(s) for s in range(2)]
    state = {k: torch.stack([n.state_dict()[k] for n in nets]) for k in nets[0].state_dict()}
    x = torch.randn(4, 1, 8, 8)
    out = stacked_logits(_net(9), state, x)
    torch.testing.assert_close(out[1], nets[1](x))
