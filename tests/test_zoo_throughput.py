"""The analytic FLOP counter of benchmarks/zoo_throughput.py, against hand-counted layers."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from weightspace.zoo import ArchConfig
from weightspace.zoo.datasets import Splits

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("zoo_throughput", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while it is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_cnn_s_at_28x28_counts_every_layer(bench):
    # conv 1->8 k5: 24*24*8 outputs x 25; conv 8->6 k5 (after pool): 8*8*6 x 200;
    # conv 6->4 k2: 3*3*4 x 24; fc 36->20; fc 20->10  (multiply-adds)
    macs = 24 * 24 * 8 * 25 + 8 * 8 * 6 * 200 + 3 * 3 * 4 * 24 + 36 * 20 + 20 * 10
    assert bench.forward_flops(ArchConfig("cnn-s", (1, 28, 28), 10)) == 2 * macs == 387_568
    # three input channels: only the first conv grows, by 2 more channels' worth
    three = bench.forward_flops(ArchConfig("cnn-s", (3, 28, 28), 10))
    assert three == 2 * (macs + 2 * 24 * 24 * 8 * 25)


def test_smallcnn_at_28x28_counts_strided_convs(bench):
    # 3 x conv 16 3x3 stride 2 "valid": 13x13, 6x6, 2x2 outputs; dense 16 -> 10
    macs = 13 * 13 * 16 * 9 + 6 * 6 * 16 * 144 + 2 * 2 * 16 * 144 + 16 * 10
    assert bench.forward_flops(ArchConfig("smallcnn", (1, 28, 28), 10)) == 2 * macs


def test_run_flops_is_three_forward_per_training_image_plus_evaluations(bench):
    arch = ArchConfig("cnn-s", (1, 28, 28), 10)
    x, y = torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.int64)
    splits = Splits(
        x.repeat(10, 1, 1, 1),
        y.repeat(10),
        x.repeat(3, 1, 1, 1),
        y.repeat(3),
        x.repeat(2, 1, 1, 1),
        y.repeat(2),
        10,
    )
    # 2 epochs: 3 x 10 x 2 training, epoch 0 on all 15 images, then 5 per epoch
    assert bench.run_flops(arch, splits, 2) == 387_568 * (60 + 15 + 10)
