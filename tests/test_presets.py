"""Presets: α tuned by grid search (the paper's §6 protocol) beats the paper's default α."""

from __future__ import annotations

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.presets import paper_defaults, tune_learning_rates
from optviz.surfaces import SURFACES
from optviz.trajectories import simulate


def test_paper_defaults_are_algorithm_1s_for_adam():
    assert paper_defaults("adam") == {
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
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
    assert (final[:3] < final[3:]).all()  # tuned α ends lower than the default α


def test_tuned_paths_stay_in_the_plot_window():
    start = SURFACES["beale"].start
    tuned = tune_learning_rates("beale", list(OPTIMIZERS), start, 150)
    result = simulate("beale", [(k, {"lr": lr}) for k, lr in tuned.items()], start, 150)
    x_min, x_max, y_min, y_max = SURFACES["beale"].bounds
    x, y = result.paths[..., 0], result.paths[..., 1]
    assert ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all()
    assert np.isfinite(result.losses).all()
