"""Every built-in surface's default race shows what its caption (``Surface.teaches``) says.

The default race is what a visitor sees on opening a surface: the default optimizers from the
surface's start for the default steps, each at the α ``tune_learning_rates`` picks. A caption
must never contradict that picture, and no default path may leave the plot window.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from optviz.links import DEFAULT_OPTIMIZERS, ExplorerState
from optviz.optim import OPTIMIZERS
from optviz.presets import tune_learning_rates
from optviz.surfaces import SURFACES
from optviz.trajectories import Trajectories, simulate

STEPS = ExplorerState().steps
ALL = tuple(OPTIMIZERS)


@functools.cache
def tuned(surface: str) -> dict[str, float]:
    """The tuned α of every optimizer (each optimizer's α depends on its own runs only, which
    ``tests/test_presets.py`` checks, so the default race's α are a subset of these)."""
    return tune_learning_rates(surface, ALL, SURFACES[surface].start, STEPS)


@functools.cache
def race(surface: str, keys: tuple[str, ...] = DEFAULT_OPTIMIZERS) -> Trajectories:
    rates = tuned(surface)
    runs = [(key, {"lr": rates[key]}) for key in keys]
    return simulate(surface, runs, SURFACES[surface].start, STEPS)


def ends(surface: str) -> dict[str, np.ndarray]:
    result = race(surface)
    return {key: result.paths[k, 0, -1] for k, key in enumerate(DEFAULT_OPTIMIZERS)}


def final_f(surface: str) -> dict[str, float]:
    result = race(surface)
    return {key: float(result.losses[k, 0, -1]) for k, key in enumerate(DEFAULT_OPTIMIZERS)}


def distance(point: np.ndarray, target: tuple[float, float]) -> float:
    return float(np.hypot(*(np.asarray(point) - np.asarray(target))))


def mean_step(surface: str, key: str, steps: slice) -> float:
    result = race(surface)
    k = DEFAULT_OPTIMIZERS.index(key)
    return float(np.linalg.norm(result.updates[k, 0, steps], axis=-1).mean())


@pytest.mark.parametrize("keys", [DEFAULT_OPTIMIZERS, ALL], ids=["default", "all"])
@pytest.mark.parametrize("surface", SURFACES)
def test_no_default_path_leaves_the_plot_window(surface, keys):
    result = race(surface, keys)
    x_min, x_max, y_min, y_max = SURFACES[surface].bounds
    x, y = result.paths[..., 0], result.paths[..., 1]
    assert ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all()
    assert (result.diverged_at == -1).all()


def test_default_race_is_the_four_optimizers_these_lessons_name():
    assert DEFAULT_OPTIMIZERS == ("sgd", "momentum", "rmsprop", "adam")


def test_rosenbrock_sgd_crawls_momentum_and_adam_travel_rmsprop_rattles():
    end, f = ends("rosenbrock"), final_f("rosenbrock")
    assert distance(end["momentum"], (1, 1)) < 0.6 and f["momentum"] < 0.1
    assert distance(end["adam"], (1, 1)) < 0.6 and f["adam"] < 0.1
    assert distance(end["sgd"], (1, 1)) > 2.0  # still near the start of the floor
    assert abs(end["sgd"][1] - end["sgd"][0] ** 2) < 0.1  # … but on the floor, y ≈ x²
    assert f["rmsprop"] > 1.0  # stalled between the walls
    assert tuned("rosenbrock")["sgd"] <= 0.002  # the walls cap SGD's α


def test_ravine_sgd_crawls_along_the_floor_adam_goes_straight_to_the_minimum():
    end = ends("ravine")
    assert distance(end["sgd"], (0, 0)) > 1.0 and abs(end["sgd"][1]) < 0.01
    assert distance(end["adam"], (0, 0)) < 0.01


def test_booth_every_default_optimizer_reaches_the_minimum():
    for key, point in ends("booth").items():
        assert distance(point, (1, 3)) < 0.05, key


def test_saddle_sgd_lingers_while_adaptive_methods_escape_at_once():
    result = race("saddle")
    y50 = {key: result.paths[k, 0, 50, 1] for k, key in enumerate(DEFAULT_OPTIMIZERS)}
    end, f = ends("saddle"), final_f("saddle")
    for key in ("sgd", "momentum"):
        assert abs(y50[key]) < 0.01 and distance(end[key], (0, 0)) < 0.1, key
    for key in ("rmsprop", "adam"):
        assert y50[key] > 0.1 and f[key] < -0.5, key


def test_plateau_sgd_starts_as_a_crawl_while_adam_moves_about_alpha_per_step():
    alpha = tuned("plateau")["adam"]
    assert 0.5 * alpha < mean_step("plateau", "adam", slice(0, 10)) < 2 * alpha
    assert mean_step("plateau", "sgd", slice(0, 10)) < 0.05 * mean_step(
        "plateau", "adam", slice(0, 10)
    )
    sgd = mean_step("plateau", "sgd", slice(0, 10))
    assert mean_step("plateau", "sgd", slice(60, 160)) > 2 * sgd  # grows with the slope
    for key, point in ends("plateau").items():
        assert distance(point, (0, 0)) < 0.01, key


def test_noisy_quadratic_sgd_keeps_jittering_while_adam_s_steps_shrink():
    rates = tuned("noisy_quadratic")
    late = slice(-100, None)
    sigma = SURFACES["noisy_quadratic"].noise
    assert mean_step("noisy_quadratic", "sgd", late) > 0.5 * rates["sgd"] * sigma
    assert mean_step("noisy_quadratic", "adam", late) < 0.2 * rates["adam"]
    assert mean_step("noisy_quadratic", "adam", late) < mean_step("noisy_quadratic", "sgd", late)
    for key, point in ends("noisy_quadratic").items():
        assert distance(point, (0, 0)) < 0.3, key


def test_beale_walls_cap_sgd_and_momentum_while_adam_walks_down():
    rates = tuned("beale")
    assert rates["sgd"] <= 0.01 and rates["momentum"] <= 0.01
    assert rates["adam"] >= 0.1
    assert distance(ends("beale")["adam"], (3, 0.5)) < 0.01
    start = SURFACES["beale"].start
    at_0_1 = simulate("beale", [("sgd", {"lr": 0.1}), ("momentum", {"lr": 0.1})], start, 10)
    assert (at_0_1.diverged_at[:, 0] >= 0).all()


def test_himmelblau_the_dynamics_pick_different_minima():
    minima = SURFACES["himmelblau"].minima
    picked = set()
    for key, point in ends("himmelblau").items():
        nearest = min(range(len(minima)), key=lambda i: distance(point, minima[i]))
        assert distance(point, minima[nearest]) < 0.05, key
        picked.add(nearest)
    assert len(picked) >= 2


def test_six_hump_camel_only_momentum_carries_over_the_hump():
    end, f = ends("six_hump_camel"), final_f("six_hump_camel")
    minima = SURFACES["six_hump_camel"].minima
    assert min(distance(end["momentum"], m) for m in minima) < 0.05
    for key in ("sgd", "rmsprop", "adam"):
        assert f[key] > 1.0, key  # a poor local minimum near the edge


def test_styblinski_tang_every_method_stops_in_the_nearest_shallow_minimum():
    for key, f in final_f("styblinski_tang").items():
        assert -51 < f < -49, key  # the shallow corner minimum, not f* ≈ −78.3


def test_rastrigin_every_method_stops_in_the_nearest_dimple():
    start = np.array(SURFACES["rastrigin"].start)
    for key, point in ends("rastrigin").items():
        assert distance(point, (-3.98, 3.98)) < 0.05, key
        assert distance(point, start) < 0.5, key


def test_ackley_small_steps_stop_in_the_first_dimple_adam_hops_but_not_to_the_centre():
    end, f = ends("ackley"), final_f("ackley")
    first = end["sgd"]
    assert distance(first, SURFACES["ackley"].start) < 1.0
    for key in ("momentum", "rmsprop"):
        assert distance(end[key], first) < 0.05, key
    assert f["adam"] < f["sgd"] - 2.0
    for key, point in end.items():
        assert distance(point, (0, 0)) > 0.5, key
