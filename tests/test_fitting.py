"""The one supervised fitting loop: parity with a plain hand-written loop, early stopping, the
restore of the best validated weights, and clear errors for bad settings."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from weightspace.devices import resolve_device
from weightspace.errors import ConfigError
from weightspace.fitting import FitSettings, fit


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    torch.manual_seed(seed)
    x = torch.randn(64, 5)
    y = x @ torch.randn(5, 1) + 0.1 * torch.randn(64, 1)
    return x, y, nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))


def _batches(epoch: int) -> list[torch.Tensor]:
    return list(torch.arange(64).split(16))


def test_fit_matches_a_plain_adamw_loop_with_clipping_step_for_step() -> None:
    x, y, model = _problem()
    reference = _problem()[2]
    reference.load_state_dict(model.state_dict())

    settings = FitSettings(epochs=3, lr=0.01, weight_decay=0.1, optimizer="adamw", clip=0.5)
    fitted = fit(model, lambda m, i: F.mse_loss(m(x[i]), y[i]), _batches, settings)

    optimizer = torch.optim.AdamW(reference.parameters(), 0.01, weight_decay=0.1)
    losses = []
    for epoch in range(1, 4):
        total = 0.0
        for i in _batches(epoch):
            value = F.mse_loss(reference(x[i]), y[i])
            optimizer.zero_grad()
            value.backward()
            nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
            optimizer.step()
            total += value.item() * len(i)
        losses.append(total / 64)

    assert [h["train"] for h in fitted.history] == pytest.approx(losses, rel=1e-6)
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)
    # without validation the last epoch's weights stay
    assert fitted.best_epoch == 3


def test_fit_stops_after_patience_and_restores_the_best_validated_weights() -> None:
    x, y, model = _problem()
    scores = iter([3.0, 1.0, 2.0, 2.5, 0.5, 0.1])
    states: dict[int, dict[str, torch.Tensor]] = {}

    def validate(m: nn.Module) -> dict[str, float]:
        return {"val": next(scores)}

    def remember(m: nn.Module, entry: dict[str, float]) -> None:
        states[int(entry["epoch"])] = {k: v.clone() for k, v in m.state_dict().items()}

    settings = FitSettings(epochs=6, lr=0.05, patience=2, monitor="val")
    loss = lambda m, i: F.mse_loss(m(x[i]), y[i])  # noqa: E731
    fitted = fit(model, loss, _batches, settings, validate, after_epoch=remember)
    # epoch 2 was best; epochs 3 and 4 were worse: stop after 4, never see the 0.5 of epoch 5
    assert [h["epoch"] for h in fitted.history] == [1, 2, 3, 4]
    assert fitted.best_epoch == 2 and fitted.best["val"] == 1.0
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, states[2][name])
    # negative control: the restored weights are not the last epoch's
    assert any(not torch.equal(v, states[4][k]) for k, v in model.state_dict().items())


def test_fit_validates_every_few_epochs_and_always_on_the_last() -> None:
    x, y, model = _problem()
    seen: list[int] = []
    settings = FitSettings(epochs=5, validate_every=2, monitor="val")

    def validate(m: nn.Module) -> dict[str, float]:
        seen.append(len(seen))
        return {"val": 1.0}

    fitted = fit(model, lambda m, i: F.mse_loss(m(x[i]), y[i]), _batches, settings, validate)
    assert [("val" in h) for h in fitted.history] == [False, True, False, True, True]
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"clip": -1.0}, "clip"),
        ({"patience": 0}, "patience"),
        ({"validate_every": True}, "validate_every"),
    ],
)
def test_bad_fit_settings_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        FitSettings(**{"epochs": 1, **changes})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cuda_without_a_device_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="use device cpu"):
        fit(nn.Linear(1, 1), None, None, FitSettings(epochs=1, device="cuda"))
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu-ish", "device")
