"""The Experiments page's experiments: the engine against a NumPy transcription, and each
experiment's documented outcome."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oracles import projected_online_1d

from optviz import experiments
from optviz.figures.experiments import fixed_points_figure, log_spaced_steps, online_figure


@pytest.mark.parametrize("setting", experiments.SETTINGS)
def test_the_online_race_equals_a_numpy_transcription(setting):
    steps = 3000
    race = experiments.online_race(setting, steps)
    surface = race.result.surface
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    coefficients = surface.evaluate(torch.ones_like(t), torch.zeros_like(t), t).numpy()  # c_t
    for k, (key, hparams) in enumerate(race.result.runs):
        betas = (hparams.get("beta1", 0.0), hparams.get("beta2", 0.0))
        path = projected_online_1d(
            key, coefficients, experiments.ONLINE_LR, betas, 1e-8, 0.0, (-1.0, 1.0)
        )
        np.testing.assert_allclose(race.result.paths[k, 0, :, 0], path, rtol=1e-10, atol=1e-12)
        assert (race.result.paths[k, 0, :, 1] == 0).all()
        # R_t/t against x* = −1, by its definition.
        regret = np.cumsum(coefficients * path[:-1] - coefficients * -1.0) / np.arange(1, steps + 1)
        np.testing.assert_allclose(race.average_regret[k], regret, rtol=1e-9, atol=1e-12)
    if setting == "deterministic":  # c_t = 3, −1, −1, 3, …
        assert coefficients[:6].tolist() == [3, -1, -1, 3, -1, -1]
    else:
        assert set(coefficients) == {1010.0, -10.0}
        assert 0.005 < (coefficients == 1010).mean() < 0.015


@pytest.fixture(scope="module")
def long_deterministic():
    return experiments.online_race("deterministic", 100_000)


def test_adam_goes_to_the_worst_point_and_amsgrad_to_the_optimum(long_deterministic):
    """Reddi et al.'s Theorem 1: after 10⁵ steps Adam ≈ +1.00, AMSGrad ≈ −1.00 (and AdaMax
    fails like Adam, SGD converges like AMSGrad)."""
    x = dict(
        zip(
            experiments.ONLINE_OPTIMIZERS, long_deterministic.result.paths[:, 0, -1, 0], strict=True
        )
    )
    assert round(x["adam"], 2) == 1.0 and round(x["adamax"], 2) == 1.0
    assert round(x["amsgrad"], 2) == -1.0 and round(x["sgd"], 2) == -1.0
    regret = dict(
        zip(experiments.ONLINE_OPTIMIZERS, long_deterministic.average_regret[:, -1], strict=True)
    )
    # At x = +1 every 3 steps cost 2·(C − 2) = 2 more than at −1: R_T/T → 2/3, not 0.
    assert abs(regret["adam"] - 2 / 3) < 0.01 and regret["amsgrad"] < 0.01


def test_in_the_stochastic_setting_adam_and_adamax_settle_at_the_worst_point():
    race = experiments.online_race("stochastic", 10_000)
    last = race.result.paths[:, 0, -1000:, 0].mean(axis=1)  # the last thousand steps
    x = dict(zip(experiments.ONLINE_OPTIMIZERS, last, strict=True))
    assert x["adam"] > 0.9 and x["adamax"] > 0.9
    assert x["amsgrad"] < x["adam"]


def test_adam_with_l2_and_adamw_converge_to_their_own_fixed_points():
    result = experiments.weight_decay_race()
    l2, decoupled = experiments.l2_fixed_point(), experiments.decoupled_fixed_point()
    adam, adamw = result.paths[0, 0, -1], result.paths[1, 0, -1]
    assert np.linalg.norm(adam - l2) < 1e-3
    assert np.linalg.norm(adamw - decoupled) < 5e-3
    assert np.linalg.norm(np.subtract(l2, decoupled)) > 0.4  # two different points
    # The L2 penalty shrinks the flat coordinate more; decoupled decay caps both alike at 1/λ.
    assert l2[0] < l2[1] and decoupled[0] == pytest.approx(decoupled[1], abs=1e-6)
    assert decoupled[0] == pytest.approx(1 / experiments.DECAY, abs=1e-6)


def test_the_decoupled_fixed_point_solves_its_equation():
    for (h, c), theta in zip(
        zip(experiments.CURVATURES, experiments.CENTRE, strict=True),
        experiments.decoupled_fixed_point(eps=0.1),
        strict=True,
    ):
        g = h * (theta - c)
        assert g / (abs(g) + 0.1) == pytest.approx(-experiments.DECAY * theta, rel=1e-12)


@pytest.mark.parametrize("degrees", [30.0, -75.0])
def test_rotating_the_problem_rotates_sgd_and_momentum_paths_not_adams(degrees):
    gaps = experiments.rotation_gaps(degrees)
    assert gaps["sgd"] < 1e-12 and gaps["momentum"] < 1e-12
    assert gaps["adam"] > 0.05 and gaps["lion"] > 0.05 and gaps["adagrad"] > 0.05


def test_the_rotated_start_and_surface_are_the_turned_ones():
    surface = experiments.rotated_quadratic(90.0)
    x, y = experiments.ROTATION_START
    assert surface.start == pytest.approx((-y, x))
    upright = experiments.rotated_quadratic(0.0)
    point = torch.tensor([[0.3, -1.1]], dtype=torch.float64)
    turned = torch.tensor([[1.1, 0.3]], dtype=torch.float64)  # the point turned by 90°
    assert surface.f(turned).item() == pytest.approx(upright.f(point).item(), rel=1e-14)


def test_the_figures_show_every_run_and_the_fixed_points():
    race = experiments.online_race("deterministic", 2000)
    fig = online_figure(race.result, race.average_regret)
    assert len(fig.data) == 2 * len(experiments.ONLINE_OPTIMIZERS)
    assert [t.name for t in fig.data[:4]] == [t.name for t in fig.data[4:]]
    assert fig.layout.xaxis.type == "log" and fig.data[0].x[-1] == 2000
    assert all(np.isfinite(np.asarray(t.y, dtype=float)).all() for t in fig.data)
    result = experiments.weight_decay_race()
    points = [("L2", experiments.l2_fixed_point()), ("W", experiments.decoupled_fixed_point())]
    marks = fixed_points_figure(result, points).data[-2:]
    assert [(m.name, m.x[0], m.y[0]) for m in marks] == [(n, *p) for n, p in points]


def test_log_spaced_steps_cover_the_race():
    steps = log_spaced_steps(100_000)
    assert steps[0] == 1 and steps[-1] == 100_000 and len(steps) <= 800
    assert (np.diff(steps) > 0).all() and steps[:10].tolist() == list(range(1, 11))
    assert log_spaced_steps(50).tolist() == list(range(1, 51))
