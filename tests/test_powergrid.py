"""Power grids: growth model, fixed point, swing-equation simulator, SNBS."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from weightspace.errors import ConfigError
from weightspace.powergrid import (
    GridConfig,
    GridTensors,
    SimulationConfig,
    integrate,
    make_grid,
    node_stability,
    numpy_rhs,
    perturbed_states,
    power_flow_residual,
    swing_rhs,
)


@pytest.fixture(scope="module")
def grid():
    return make_grid(GridConfig(nodes=20), seed=(3, 1))


def test_fixed_point_solves_the_power_flow(grid):
    residual = power_flow_residual(grid.theta, grid.power, grid.adjacency(), grid.coupling)
    assert np.abs(residual).max() < 1e-10
    # negative control: the linear (DC) guess alone is not a fixed point of the sine flows
    laplacian = np.diag(grid.adjacency().sum(1)) - grid.adjacency()
    dc = np.linalg.pinv(grid.coupling * laplacian) @ grid.power
    assert np.abs(power_flow_residual(dc, grid.power, grid.adjacency(), grid.coupling)).max() > 1e-6
    assert sorted(np.unique(grid.power)) == [-1.0, 1.0] and grid.power.sum() == 0


def test_generator_is_reproducible_and_has_the_published_mean_degree():
    config = GridConfig(nodes=20)
    a, b = make_grid(config, (7, 2)), make_grid(config, (7, 2))
    np.testing.assert_array_equal(a.edges, b.edges)
    np.testing.assert_array_equal(a.power, b.power)
    other = make_grid(config, (7, 3))
    assert not np.array_equal(a.positions, other.positions)
    degrees = [2 * len(make_grid(config, (11, i)).edges) / 20 for i in range(300)]
    assert abs(np.mean(degrees) - 2.7) < 0.1, np.mean(degrees)
    # every grid is connected: a tree has n - 1 lines, ours at least that
    assert min(len(make_grid(config, (11, i)).edges) for i in range(20)) >= 19


def test_growth_parameters_change_the_degree():
    """Control for the mean-degree test: no extra lines (p = q = s = 0) gives a tree."""
    tree = GridConfig(nodes=20, p=0.0, q=0.0, s=0.0)
    assert all(len(make_grid(tree, (1, i)).edges) == 19 for i in range(10))


def test_batched_rhs_matches_numpy(grid):
    rng = np.random.default_rng(0)
    y = rng.normal(size=(5, 40))
    tensors = GridTensors.stack([grid])
    g = torch.zeros(5, dtype=torch.long)
    ours = swing_rhs(
        torch.tensor(y), tensors.power[g], tensors.src[g], tensors.dst[g], tensors.weight[g], 0.1
    )
    reference = np.stack([numpy_rhs(grid, 0.1)(0.0, row) for row in y])
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-12)


def test_batch_size_does_not_change_a_trajectory(grid):
    """Rows enter, finish and leave at different times with a small batch: the same numbers."""
    theta0, omega0, _ = perturbed_states(grid, 1, np.pi, 15.0, (2, 0, 1))
    y0 = torch.tensor(np.concatenate([theta0, omega0], axis=1))
    index = torch.zeros(len(y0), dtype=torch.long)
    config = SimulationConfig(t_max=15.0, t_min=0.5, sync_tolerance=1.0)
    large = integrate(GridTensors.stack([grid]), index, y0, config)
    small = integrate(GridTensors.stack([grid]), index, y0, replace(config, batch_size=6))
    assert 0 < small.returned.sum() < len(y0)  # both outcomes occur
    np.testing.assert_array_equal(small.returned, large.returned)
    np.testing.assert_array_equal(small.steps, large.steps)
    np.testing.assert_allclose(small.final_state, large.final_state, atol=1e-9)


def test_unperturbed_grid_stays_synchronous(grid):
    config = SimulationConfig(perturbations=1, t_min=5.0)
    y0 = torch.tensor(np.concatenate([grid.theta, np.zeros(20)]))[None]
    result = integrate(GridTensors.stack([grid]), torch.zeros(1, dtype=torch.long), y0, config)
    assert result.returned.all()
    assert result.t_final[0] == pytest.approx(5.0, abs=1.0)  # stopped at the first check
    assert np.abs(result.final_state[0, 20:]).max() < 1e-5  # atol-level drift only
    # control: a large kick is still moving at t = 5
    kicked = y0.clone()
    kicked[0, 20] = 10.0
    short = SimulationConfig(perturbations=1, t_max=5.0, t_min=4.0)
    moving = integrate(GridTensors.stack([grid]), torch.zeros(1, dtype=torch.long), kicked, short)
    assert not moving.returned.any()


def _wrapped(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def test_trajectories_agree_with_solve_ivp(grid):
    """Same perturbations, integrated to t = 4 without early stop, by both integrators."""
    theta0, omega0, _ = perturbed_states(grid, 2, np.pi, 15.0, (0, 0, 1))
    rows = [7, 25, 38]
    y0 = np.concatenate([theta0, omega0], axis=1)[rows]
    config = SimulationConfig(t_max=4.0, t_min=3.0, sync_tolerance=1e-12, rtol=1e-8, atol=1e-10)
    ours = integrate(
        GridTensors.stack([grid]),
        torch.zeros(len(rows), dtype=torch.long),
        torch.tensor(y0),
        config,
    )
    assert np.allclose(ours.t_final, 4.0)
    rhs = numpy_rhs(grid, 0.1)
    for i, start in enumerate(y0):
        ref = solve_ivp(rhs, (0, 4), start, method="DOP853", rtol=1e-10, atol=1e-12).y[:, -1]
        np.testing.assert_allclose(_wrapped(ours.final_state[i, :20] - ref[:20]), 0, atol=1e-5)
        np.testing.assert_allclose(ours.final_state[i, 20:], ref[20:], atol=1e-5)


def test_snbs_is_a_share_and_separates_nodes():
    grids = [make_grid(GridConfig(nodes=10), (4, i)) for i in range(2)]
    config = SimulationConfig(perturbations=6, t_max=60.0)
    result = node_stability(grids, config, [(4, i, 1) for i in range(2)])
    for r in result:
        assert r.snbs.shape == (10,) and r.returned.shape == (10, 6)
        np.testing.assert_array_equal(r.snbs, r.returned.mean(1))
    every = np.concatenate([r.snbs for r in result])
    assert every.std() > 0  # nodes differ in stability (the prediction target is not constant)
    # the same seeds give the same numbers (batch composition does not matter)
    again = node_stability(grids[1:], config, [(4, 1, 1)])
    np.testing.assert_array_equal(again[0].returned, result[1].returned)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GridConfig(nodes=21),
        lambda: GridConfig(nodes=0),
        lambda: GridConfig(p=1.5),
        lambda: SimulationConfig(perturbations=0),
        lambda: SimulationConfig(perturbations=2.5),
        lambda: SimulationConfig(t_min=600.0),
        lambda: SimulationConfig(device="tpu"),
    ],
)
def test_bad_settings_are_one_clear_error(make):
    with pytest.raises(ConfigError) as err:
        make()
    assert "expected" in str(err.value)


def test_odd_node_count_names_the_fix():
    with pytest.raises(ConfigError, match="even number"):
        GridConfig(nodes=21)
