"""Presets: α tuned by grid search (the paper's §6 protocol) beats the paper's default α."""

from __future__ import annotations

import numpy as np
import pytest

from optviz.optim import OPTIMIZERS
from optviz.presets import MAX_JUMP, paper_defaults, tune_learning_rates, tuning_starts
from optviz.surfaces import SURFACES, parse_surface
from optviz.trajectories import simulate


def test_paper_defaults_are_algorithm_1s_for_adam():
    assert paper_defaults("adam") == {
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,  # no L2 penalty: Algorithm 1 has none
        "bias_correction": True,
    }


def test_tuned_rates_come_from_the_slider_grid_and_beat_the_default():
    keys = ["sgd", "momentum", "adam"]
    start = SURFACES["rosenbrock"].start
    tuned = tune_learning_rates("rosenbrock", keys, start, 200)
    assert set(tuned) == set(keys)
    for key in keys:
        assert tuned[key] in OPTIMIZERS[key].hyperparams[0].options()
    runs = [(key, {"lr": tuned[key]}) for key in keys] + [(key, {}) for key in keys]
    result = simulate("rosenbrock", runs, start, 200)
    assert (result.diverged_at == -1).all()
    final = result.losses[:, 0, -1]
    assert (final[:3] <= final[3:]).all()  # tuned α ends no higher than the default α …
    assert final[2] < final[5]  # … and Adam, whose default α is far too small here, far lower


def test_tuned_paths_stay_in_the_plot_window():
    start = SURFACES["beale"].start
    tuned = tune_learning_rates("beale", list(OPTIMIZERS), start, 150)
    result = simulate("beale", [(k, {"lr": lr}) for k, lr in tuned.items()], start, 150)
    x_min, x_max, y_min, y_max = SURFACES["beale"].bounds
    x, y = result.paths[..., 0], result.paths[..., 1]
    assert ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all()
    assert np.isfinite(result.losses).all()


@pytest.mark.parametrize("surface", ["rosenbrock", "noisy_quadratic"])
def test_each_optimizer_is_tuned_on_its_own_runs(surface):
    """Alone it gets the α it gets in company, also on a noisy surface and for AdaDelta, whose
    α grid is shorter than the others' (the explorer caches each optimizer's α on its own)."""
    start = SURFACES[surface].start
    together = tune_learning_rates(surface, list(OPTIMIZERS), start, 100)
    for key in ("sgd", "adam", "adadelta"):
        assert tune_learning_rates(surface, [key], start, 100) == {key: together[key]}


def test_tuned_rate_is_readable_from_every_nearby_start():
    surface = SURFACES["rosenbrock"]
    tuned = tune_learning_rates(surface, ["momentum", "adam"], surface.start, 300)
    starts = tuning_starts(surface, surface.start)
    assert len(starts) > 1 and (starts[0] == surface.start).all()
    runs = [(k, {"lr": lr}) for k, lr in tuned.items()]
    result = simulate(surface, runs, starts, 300)
    assert (result.diverged_at == -1).all()
    x_min, x_max, y_min, y_max = surface.bounds
    short = min(x_max - x_min, y_max - y_min)
    assert np.linalg.norm(result.updates, axis=-1).max() <= MAX_JUMP * short
    # The α just above it is not: the tuner takes the largest readable α on Rosenbrock.
    grid = OPTIMIZERS["momentum"].hp("lr").options()
    above = grid[grid.index(tuned["momentum"]) + 1]
    result = simulate(surface, [("momentum", {"lr": above})], starts, 300)
    x, y = result.paths[..., 0], result.paths[..., 1]
    inside = (x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)
    assert (result.diverged_at >= 0).any() or not inside.all()


def test_no_readable_rate_gives_the_smallest_of_the_grid():
    steep = parse_surface("1e12*(x^2 + y^2)")
    assert tune_learning_rates(steep, ["sgd"], steep.start, 20) == {"sgd": 1e-5}


def test_tuning_under_a_schedule_scores_the_scheduled_race():
    """α/√t decays the step, so the tuner may pick a larger α than at constant α; whatever it
    picks, the scheduled race it predicts stays readable from the start."""
    surface = SURFACES["rosenbrock"]
    keys = ["sgd", "momentum", "adam", "rmsprop"]
    schedule = ("inv_sqrt", {})
    constant = tune_learning_rates(surface, keys, surface.start, 300)
    scheduled = tune_learning_rates(surface, keys, surface.start, 300, schedule=schedule)
    assert scheduled != constant  # the schedule reached the tuner's race
    runs = [(k, {"lr": scheduled[k]}) for k in keys]
    result = simulate(surface, runs, surface.start, 300, schedules=[schedule] * len(keys))
    x_min, x_max, y_min, y_max = surface.bounds
    x, y = result.paths[..., 0], result.paths[..., 1]
    assert ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all()
    assert (result.diverged_at == -1).all()
