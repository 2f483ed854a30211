"""Collectives put their tensors where the backend wants them: NCCL reduces CUDA tensors only
(a CPU tensor under NCCL was a crash of `torchrun fit --behaviour-weight` on GPUs)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from weightspace.train import distributed, objective


def test_reduction_device_follows_the_backend(monkeypatch):
    assert distributed.reduction_device() == torch.device("cpu")  # no process group: CPU
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    assert distributed.reduction_device() == torch.device("cpu")
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert distributed.reduction_device() == torch.device("cuda", 1)


def test_mean_over_workers_reduces_on_the_backends_device(monkeypatch):
    seen = []

    def all_reduce(t):
        seen.append(t.device)
        t *= 2  # a second worker with the same value

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 2)
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(objective, "reduction_device", lambda: torch.device("meta"))
    # the tensor is made on the device the backend asks for (meta stands in for CUDA here)
    try:
        objective.mean_over_workers(1.5)
    except (RuntimeError, NotImplementedError):
        pass  # a meta tensor has no value to read back; the device is what is checked
    assert seen == [torch.device("meta")]
    monkeypatch.setattr(objective, "reduction_device", lambda: torch.device("cpu"))
    assert objective.mean_over_workers(1.5) == 1.5
