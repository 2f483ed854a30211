"""weightspace.stats: intervals over independent units, the minimum count, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weightspace.reproduce.registry import AS_PUBLISHED, OPPOSITE, judge
from weightspace.stats import (
    HIGHER,
    LOWER,
    MIN_UNITS,
    NOISE,
    TOO_FEW,
    count_units,
    mean_estimate,
    paired_estimate,
    r2,
    two_sample_estimate,
    verdict,
)


def test_fewer_than_the_minimum_units_give_the_count_and_no_interval():
    few = mean_estimate(np.arange(MIN_UNITS - 1, dtype=float), "group")
    assert not few.has_interval and few.units == MIN_UNITS - 1
    assert few.text() == f"3.000 ({MIN_UNITS - 1} groups: no interval)"
    assert few.to_dict()["low"] is None and few.to_dict()["unit"] == "group"
    enough = mean_estimate(np.arange(MIN_UNITS, dtype=float), "group")
    assert enough.has_interval and enough.low < enough.value < enough.high


def test_mean_interval_covers_the_true_mean_and_narrows_with_more_units():
    rng = np.random.default_rng(0)
    covered, widths = 0, {}
    for n in (10, 160):
        for trial in range(40):
            e = mean_estimate(rng.normal(1.0, 1.0, size=n), "seed", n=400, seed=trial)
            covered += n == 10 and e.low <= 1.0 <= e.high
            widths.setdefault(n, []).append(e.high - e.low)
    assert covered >= 32  # a 95 % interval misses now and then, not most of the time
    assert np.mean(widths[160]) < np.mean(widths[10]) / 3  # ~ 1/sqrt(16)


def test_two_independent_sets_real_difference_vs_none():
    rng = np.random.default_rng(1)
    better, worse = rng.normal(0.8, 0.05, 20), rng.normal(0.1, 0.05, 20)
    found = two_sample_estimate(better, worse, "network")
    assert verdict(found.low, found.high) == HIGHER and found.value == pytest.approx(0.7, abs=0.05)
    same = two_sample_estimate(rng.normal(0.5, 0.1, 20), rng.normal(0.5, 0.1, 20), "network")
    assert verdict(same.low, same.high) == NOISE  # negative control
    assert not two_sample_estimate(better, worse[:5], "network").has_interval


def test_paired_differences_need_pairs():
    a = np.linspace(0, 1, 12)
    gain = paired_estimate(a + 0.1, a, "model")
    assert gain.value == pytest.approx(0.1) and gain.low == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one pair per unit"):
        paired_estimate(a, a[:-1], "model")


def test_as_published_only_when_the_interval_says_so():
    assert judge(0.01, 0.3, HIGHER) == AS_PUBLISHED
    assert judge(-0.3, -0.01, HIGHER) == OPPOSITE
    assert judge(-0.3, -0.01, LOWER) == AS_PUBLISHED
    # a positive point estimate whose interval holds 0 is not a reproduction
    assert judge(-0.05, 0.4, HIGHER) == NOISE
    assert judge(math.nan, math.nan, HIGHER) == TOO_FEW


def test_scores_and_unit_counts():
    assert count_units(np.array([3, 3, 1, 2, 2])) == 3
    assert r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    assert math.isnan(r2(np.ones(3), np.zeros(3)))  # constant target: undefined
