"""The trajectory engine against the naive oracle: one torch.optim instance per optimizer."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
import torch
from oracles import LionAlgorithm2, float64_scalars

from optviz import trajectories
from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.surfaces import SURFACES, parse_surface
from optviz.trajectories import MAX_STARTS, MAX_STEPS, Trajectories, simulate

TORCH_TWINS = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": functools.partial(torch.optim.SGD, nesterov=True),
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
    "adamw": torch.optim.AdamW,
    "amsgrad": functools.partial(torch.optim.Adam, amsgrad=True),
    "nadam": float64_scalars(torch.optim.NAdam),
    "radam": torch.optim.RAdam,
    "adafactor": torch.optim.Adafactor,
    "lion": LionAlgorithm2,  # no torch.optim twin: the paper's Algorithm 2 in NumPy
}
# Step sizes that move every optimizer visibly on the test surfaces without diverging.
RACE = [
    ("sgd", {"lr": 1e-3}),
    ("momentum", {"lr": 5e-4, "momentum": 0.9}),
    ("nesterov", {"lr": 5e-4, "momentum": 0.9}),
    ("adagrad", {"lr": 0.1}),
    ("adadelta", {"lr": 1.0}),
    ("rmsprop", {"lr": 0.01}),
    ("adam", {"lr": 0.02}),
    ("adamax", {"lr": 0.02}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.1}),
    ("amsgrad", {"lr": 0.02}),
    ("nadam", {"lr": 0.02}),
    ("radam", {"lr": 5e-4}),  # its first 5 steps are plain momentum steps, α·m̂
    ("adafactor", {"lr": 0.05}),
    ("lion", {"lr": 0.005}),
]


def naive_race(surface, key, hparams, starts, steps, seed):
    """The baseline: torch.optim's own class, autograd every step, one optimizer at a time.

    Each start is its own parameter, a vector in ℝ² (so Adafactor's norms are per point, as in
    the engine). Returns the path ``(B, T+1, 2)``, the gradient each step saw ``(B, T, 2)`` and
    the optimizer's state of θ's shape after each step, name → ``(B, T, 2)``.
    """
    ours = OPTIMIZERS[key].build([torch.zeros(1, requires_grad=True)], hparams)
    kwargs = {name: value for name, value in ours.defaults.items() if name != "bias_correction"}
    points = [torch.tensor(s, dtype=torch.float64, requires_grad=True) for s in starts]  # (2,)
    optimizer = TORCH_TWINS[key](points, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    path, grads, state = [torch.stack(points).detach().clone()], [], {}
    for _ in range(steps):
        optimizer.zero_grad()
        surface.f(torch.stack(points)).sum().backward()
        if surface.noise > 0:
            noise = torch.randn(len(points), 2, generator=generator, dtype=torch.float64)
            for point, xi in zip(points, noise, strict=True):
                point.grad.add_(xi, alpha=surface.noise)
        grads.append(torch.stack([point.grad for point in points]).clone())
        optimizer.step()
        path.append(torch.stack(points).detach().clone())
        for name, value in optimizer.state[points[0]].items():
            if isinstance(value, torch.Tensor) and value.shape == points[0].shape:
                values = [optimizer.state[point][name] for point in points]
                state.setdefault(name, []).append(torch.stack(values).clone())
    series = {name: torch.stack(values, dim=1).numpy() for name, values in state.items()}
    return torch.stack(path, dim=1).numpy(), torch.stack(grads, dim=1).numpy(), series


def test_every_registered_optimizer_races_in_the_tests():
    assert {key for key, _ in RACE} == set(OPTIMIZERS)


@pytest.mark.parametrize("surface_key", ["rosenbrock", "noisy_quadratic", "himmelblau"])
def test_paths_gradients_and_state_equal_the_naive_torch_optim_loop(surface_key):
    surface = SURFACES[surface_key]
    starts = np.array([surface.start, (0.5, -0.5), (-1.0, 1.0)])
    result = simulate(surface_key, RACE, starts, 150, seed=7)
    assert result.paths.shape == (len(RACE), 3, 151, 2)
    for k, (key, hparams) in enumerate(RACE):
        path, grads, state = naive_race(surface, key, hparams, starts, 150, seed=7)
        np.testing.assert_allclose(result.paths[k], path, rtol=1e-9, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(result.grads[k], grads, rtol=1e-9, atol=1e-12, err_msg=key)
        assert set(result.state[k]) == set(state), key
        for name, values in state.items():
            np.testing.assert_allclose(
                result.state[k][name], values, rtol=1e-9, atol=1e-12, err_msg=f"{key} {name}"
            )


def test_lion_moves_every_coordinate_by_exactly_alpha_and_adafactor_keeps_points_apart():
    """Lion's sign step is ±α per axis, what its path shows on the contour; Adafactor's relative
    step is per point: a start raced alone or beside another moves the same."""
    lion = simulate("rosenbrock", [("lion", {"lr": 0.01})], [(-1.5, 2.0), (0.5, -0.5)], 80)
    np.testing.assert_allclose(np.abs(lion.updates[0]), 0.01, rtol=1e-12)
    runs = [("adafactor", {"lr": 0.05})]
    together = simulate("himmelblau", runs, [(-1.0, 1.0), (4.0, -3.0)], 60)
    alone = simulate("himmelblau", runs, [(-1.0, 1.0)], 60)
    np.testing.assert_allclose(together.paths[0, :1], alone.paths[0], rtol=1e-12, atol=1e-14)


def test_gradients_and_state_of_a_diverged_run_hold_their_last_good_values():
    runs = [("adam", {"lr": 0.02}), ("momentum", {"lr": 0.003})]
    result = simulate("rosenbrock", runs, (-1.5, 2.0), 100)
    s = int(result.diverged_at[1, 0])
    assert s >= 2 and result.diverged_at[0, 0] == -1
    _, grads, state = naive_race(SURFACES["rosenbrock"], *runs[1], [(-1.5, 2.0)], 100, seed=0)
    # Steps 1 … s − 1 led to good points: their gradients and state are the naive loop's.
    np.testing.assert_allclose(result.grads[1, 0, : s - 1], grads[0, : s - 1], rtol=1e-12)
    assert (result.grads[1, 0, s - 1 :] == grads[0, s - 2]).all()
    for name, values in state.items():
        np.testing.assert_allclose(result.state[1][name][0, : s - 1], values[0, : s - 1])
        assert (result.state[1][name][0, s - 1 :] == values[0, s - 2]).all()


# The last three: results that are an input or a constant, which no op writes.
FORMULAS = [
    *("x^2 + 3*y^2", "abs(x) + sqrt(y^2 + 1)", "tanh(x*y) - exp(-x^2)", "x^3 - 3*x*y^2"),
    *("x + y", "x", "x*y"),
]


@pytest.mark.parametrize("surface", [*SURFACES.values(), *map(parse_surface, FORMULAS)])
def test_every_recorded_gradient_is_autograds_to_the_bit(surface):
    # The engine replays a recording of autograd's ops; it must give autograd's values exactly.
    starts = np.random.default_rng(1).uniform(-2, 2, size=(5, 2))
    result = simulate(surface.with_noise(0.0), [("sgd", {"lr": 1e-4})], starts, 3)
    points = torch.as_tensor(result.paths[0, :, :-1])  # (B, T, 2) where each g_t was taken
    value, grad = surface.value_and_grad(points)
    np.testing.assert_array_equal(result.grads[0], grad.numpy())
    np.testing.assert_array_equal(result.losses[0, :, :-1], value.numpy())


def test_a_replay_that_would_differ_from_autograd_is_never_used(monkeypatch):
    # Break the trimmed replay on purpose: every multiplication becomes an addition.
    monkeypatch.setitem(trajectories._OPERATORS, "mul", operator.add)
    surface = parse_surface("x^2*y + 3*x*y^2")  # a new function: recorded afresh
    result = simulate(surface, [("sgd", {"lr": 1e-3})], (0.5, -0.5), 3)
    _, grad = surface.value_and_grad(torch.as_tensor(result.paths[0, :, :-1]))
    np.testing.assert_array_equal(result.grads[0], grad.numpy())


def test_the_trimmed_replay_is_used_where_f_is_nan_at_some_probe_points():
    # The bit-for-bit check probes random points; log(y) is NaN at half of them, on both sides.
    writer = trajectories._value_and_grad(parse_surface("x^2 + log(y)").fn, (2, 3))
    assert isinstance(writer.__self__, torch.fx.GraphModule)  # program.forward, not the fallback


def test_a_formula_in_x_alone_races_with_no_pull_in_y():
    result = simulate(parse_surface("x^2"), [("adam", {"lr": 0.1})], (1.0, 1.0), 20)
    assert (result.grads[0, 0, :, 1] == 0).all() and (result.paths[0, 0, :, 1] == 1.0).all()
    assert result.losses[0, 0, -1] < result.losses[0, 0, 0]


def test_recorded_series_have_documented_shapes_and_are_consistent():
    result = simulate("rosenbrock", RACE[:3], [(-1.5, 2.0), (0.0, 0.0)], 40)
    K, B, T = 3, 2, 40
    assert result.paths.shape == (K, B, T + 1, 2)
    assert result.losses.shape == (K, B, T + 1)
    assert result.grads.shape == (K, B, T, 2)
    assert result.updates.shape == (K, B, T, 2)
    assert result.diverged_at.shape == (K, B) and (result.diverged_at == -1).all()
    surface = SURFACES["rosenbrock"]
    expected_losses = surface.f(torch.as_tensor(result.paths)).numpy()
    np.testing.assert_allclose(result.losses, expected_losses, rtol=1e-12)
    # Plain SGD: every update is exactly −α g_t.
    np.testing.assert_allclose(result.updates[0], -1e-3 * result.grads[0], rtol=1e-9, atol=1e-15)
    assert set(result.state[1]) == {"momentum_buffer"}


def test_adam_moments_are_bias_corrected():
    result = simulate("booth", [("adam", {"lr": 0.1})], (1.0, 1.0), 30)
    moments = result.moments(0)
    g = result.grads[0, 0]  # (T, 2)
    np.testing.assert_allclose(moments["m̂"][0], g[0])  # m̂_1 = g_1
    np.testing.assert_allclose(moments["v̂"][0], g[0] ** 2)  # v̂_1 = g_1²
    # The effective step Δ = α m̂ / (√v̂ + ε) is the recorded update.
    expected = -0.1 * moments["m̂"] / (np.sqrt(moments["v̂"]) + 1e-8)
    np.testing.assert_allclose(result.updates[0, 0], expected, rtol=1e-9)


def test_adam_without_bias_correction_reports_raw_moments():
    result = simulate("booth", [("adam", {"lr": 0.1, "bias_correction": False})], (1.0, 1.0), 5)
    assert {"m", "v"} <= set(result.moments(0))


@pytest.mark.parametrize("key", ["adam", "momentum", "rmsprop"])
def test_a_tuned_optimizer_reaches_the_minimum_of_a_bowl(key):
    hparams = {"adam": {"lr": 0.1}, "momentum": {"lr": 0.01}, "rmsprop": {"lr": 0.01}}[key]
    result = simulate("booth", [(key, hparams)], (-8.0, 8.0), 1500)
    final = result.paths[0, 0, -1]
    assert np.linalg.norm(final - np.array(SURFACES["booth"].minima[0])) < 0.05
    assert result.losses[0, 0, -1] < 1e-2 * result.losses[0, 0, 0]


def test_hyperparameter_sweep_equals_separate_runs():
    lrs = [0.001, 0.01, 0.05, 0.1]
    starts = np.tile(SURFACES["rosenbrock"].start, (4, 1))
    swept = simulate("rosenbrock", [("adam", {"lr": lrs, "beta2": 0.99})], starts, 100)
    for b, lr in enumerate(lrs):
        single = simulate("rosenbrock", [("adam", {"lr": lr, "beta2": 0.99})], starts[b], 100)
        np.testing.assert_allclose(swept.paths[0, b], single.paths[0, 0], rtol=1e-12)
    final_losses = swept.losses[0, :, -1]
    assert len(set(np.round(final_losses, 12))) == 4  # the sweep really varied the step size


def test_noise_repeats_for_a_seed_and_is_shared_by_all_runs():
    runs = [("sgd", {"lr": 0.01}), ("sgd", {"lr": 0.01})]
    first = simulate("noisy_quadratic", runs, (2.0, 1.0), 50, seed=3)
    again = simulate("noisy_quadratic", runs, (2.0, 1.0), 50, seed=3)
    other = simulate("noisy_quadratic", runs, (2.0, 1.0), 50, seed=4)
    np.testing.assert_array_equal(first.paths, again.paths)
    np.testing.assert_array_equal(first.paths[0], first.paths[1])  # same noise: a fair race
    assert not np.allclose(first.paths, other.paths)


def test_noiseless_surface_ignores_seed():
    a = simulate("beale", RACE[6:7], (1.0, 1.0), 30, seed=1)
    b = simulate("beale", RACE[6:7], (1.0, 1.0), 30, seed=2)
    np.testing.assert_array_equal(a.paths, b.paths)


def test_diverging_path_is_frozen_marked_and_finite():
    runs = [("sgd", {"lr": 1.0}), ("adam", {"lr": 0.01})]
    result = simulate("rosenbrock", runs, (-1.5, 2.0), 200)
    step = int(result.diverged_at[0, 0])
    assert step >= 1 and result.diverged_at[1, 0] == -1
    for series in (result.paths, result.losses, result.grads, result.updates):
        assert np.isfinite(series).all()
    for state in result.state:
        assert all(np.isfinite(values).all() for values in state.values())
    frozen = result.paths[0, 0, step - 1]
    assert (result.paths[0, 0, step:] == frozen).all()
    assert (result.updates[0, 0, step - 1 :] == 0).all()


def sweep_to_divergence(surface_key):
    """40 SGD step sizes from 40 starts, with a calm Adam alongside, and each SGD run alone."""
    rng = np.random.default_rng(2)
    starts = np.column_stack([rng.uniform(-2, 2, 40), rng.uniform(-0.1, 0.1, 40)])
    lrs = np.geomspace(1e-3, 0.5, 40)
    result = simulate(surface_key, [("sgd", {"lr": lrs}), ("adam", {"lr": 1e-3})], starts, 300)
    # α as a one-element sweep: the same ops as in the sweep, so the same bits.
    alone = [
        simulate(surface_key, [("sgd", {"lr": [lr]})], start, 300)
        for lr, start in zip(lrs, starts, strict=True)
    ]
    return result, alone


@pytest.mark.parametrize("surface_key", ["rosenbrock", "saddle"])
def test_divergence_is_found_for_every_start_of_a_sweep(surface_key):
    # Overflow on Rosenbrock, escape on the saddle.
    result, alone = sweep_to_divergence(surface_key)
    for b, single in enumerate(alone):
        assert result.diverged_at[0, b] == single.diverged_at[0, 0]
        np.testing.assert_array_equal(result.paths[0, b], single.paths[0, 0])
        np.testing.assert_array_equal(result.losses[0, b], single.losses[0, 0])
    assert (result.diverged_at[1] == -1).all()
    assert np.isfinite(result.paths).all() and np.isfinite(result.grads).all()


def test_a_sweep_diverges_early_late_and_not_at_all():
    # Late: past the first chunk of steps the engine scans for the first bad one.
    steps = set(sweep_to_divergence("saddle")[0].diverged_at[0].tolist())
    assert -1 in steps and min(steps - {-1}) < 64 < max(steps) and len(steps) > 10


def test_a_loss_that_is_not_finite_where_the_gradient_is_counts_as_divergence():
    # y: 0.5 → 0.3 → −1/30, where log y is NaN but ∂f/∂y = 1/y = −30 would carry the path on.
    result = simulate(parse_surface("x^2 + log(y)"), [("sgd", {"lr": 0.1})], (0.0, 0.5), 10)
    assert result.diverged_at[0, 0] == 2
    assert (result.paths[0, 0, 1:] == (0.0, 0.3)).all()
    assert (result.losses[0, 0, 1:] == np.log(0.3)).all()


def test_escaping_far_beyond_the_window_counts_as_divergence():
    # On the saddle, −y² pulls the path away for ever; it must stop, not run to 1e300.
    result = simulate("saddle", [("momentum", {"lr": 0.1})], (-1.0, 0.01), 2000)
    assert result.diverged_at[0, 0] > 0
    x_min, x_max, y_min, y_max = SURFACES["saddle"].bounds
    assert np.abs(result.paths).max() <= 101 * max(x_max - x_min, y_max - y_min)


def test_many_starts_in_one_pass():
    rng = np.random.default_rng(0)
    starts = rng.uniform(-2, 2, size=(256, 2))
    result = simulate("himmelblau", [("adam", {"lr": 0.05})], starts, 400)
    finals = result.paths[0, :, -1]  # (B, 2)
    minima = np.array(SURFACES["himmelblau"].minima)
    nearest = np.linalg.norm(finals[:, None] - minima[None], axis=-1).min(-1)
    assert (nearest < 0.05).mean() > 0.8  # Himmelblau's four basins catch most starts


BAD_CALLS = [
    ({"surface": "nope"}, "unknown surface 'nope'"),
    ({"runs": []}, "at least one optimizer"),
    ({"runs": [("shampoo", {})]}, "unknown optimizer 'shampoo'"),
    ({"runs": [("adam", {"momentum": 0.9})]}, "Adam has no hyperparameter 'momentum'"),
    ({"runs": [("adam", {"lr": float("nan")})]}, "lr must be a finite number"),
    ({"runs": [("adam", {"lr": float("inf")})]}, "lr must be a finite number"),
    ({"runs": [("adam", {"lr": -1.0})]}, "lr must be between"),
    ({"runs": [("adam", {"beta1": 1.0})]}, "beta1 must be between"),
    ({"runs": [("adam", {"lr": "fast"})]}, "lr must be a number"),
    ({"runs": [("adam", {"lr": [0.1, 0.2]})]}, "lr has 2 values for 1 start points"),
    ({"runs": ["adam"]}, "each run must be"),
    ({"steps": 0}, f"steps must be between 1 and {MAX_STEPS}"),
    ({"steps": MAX_STEPS + 1}, f"steps must be between 1 and {MAX_STEPS}"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"steps": True}, "steps must be a whole number"),
    ({"start": (1.0,)}, "start must be"),
    ({"start": (float("nan"), 0.0)}, "start points must be finite"),
    ({"start": "here"}, "start must be"),
    ({"start": np.zeros((MAX_STARTS + 1, 2))}, f"at most {MAX_STARTS} start points"),
    ({"runs": [("sgd", {})] * 17}, "at most 16 optimizers"),
]


@pytest.mark.parametrize(("change", "message"), BAD_CALLS)
def test_bad_input_raises_a_clear_value_error(change, message):
    call = {"surface": "rosenbrock", "runs": [("adam", {})], "start": (0.0, 0.0), "steps": 10}
    call |= change
    with pytest.raises(ValueError, match=message):
        simulate(call["surface"], call["runs"], call["start"], call["steps"])


def test_engine_restores_torch_thread_count():
    before = torch.get_num_threads()
    simulate("rosenbrock", RACE, (0.0, 0.0), 5)
    assert torch.get_num_threads() == before


def test_a_start_where_f_is_not_finite_is_reported_and_the_path_stays_at_the_start():
    surface = parse_surface("log(x) + y**2")
    result = simulate(surface, [("adam", {"lr": 0.1})], (-1.0, 0.5), 20)
    assert result.diverged_at[0, 0] == 0
    assert (result.paths[0, 0] == (-1.0, 0.5)).all()
    assert np.isfinite(result.losses).all() and np.isfinite(result.grads).all()


# --- schedules, time-varying losses, projection -------------------------------------------------

SCHEDULED = {
    "inv_sqrt": {},
    "step": {"step_size": 40, "gamma": 0.5},
    "cosine": {"T_max": 60},  # past its period within the race
    "warmup": {"start_factor": 0.1, "total_iters": 30},
}


def plain_loop(surface, key, hparams, start, steps, schedule=None, box=None):
    """The reference: one optimizer of our class on one point, autograd every step, the torch
    scheduler stepped after every step, the point clamped into ``box`` after every step."""
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = OPTIMIZERS[key].build([point], hparams)
    scheduler = None if schedule is None else SCHEDULES[schedule[0]].build(optimizer, schedule[1])
    path = [point.detach().clone()]
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        surface.f(point, t).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if box is not None:
            with torch.no_grad():
                point[0].clamp_(box[0], box[1])
                point[1].clamp_(box[2], box[3])
        path.append(point.detach().clone())
    return torch.stack(path).numpy(), optimizer.state[point]


@pytest.mark.parametrize("schedule", SCHEDULED)
def test_scheduled_paths_and_state_equal_a_plain_loop_with_the_torch_scheduler(schedule):
    surface = SURFACES["himmelblau"]
    starts = [(-1.0, 1.0), (0.5, -0.5)]
    schedules = [(schedule, SCHEDULED[schedule])] * len(RACE)
    result = simulate(surface, RACE, starts, 120, schedules=schedules)
    constant = simulate(surface, RACE, starts, 120)
    for k, (key, hparams) in enumerate(RACE):
        for b, start in enumerate(starts):
            path, state = plain_loop(surface, key, hparams, start, 120, schedules[k])
            np.testing.assert_allclose(
                result.paths[k, b], path, rtol=1e-10, atol=1e-12, err_msg=key
            )
            # The replayed state retraces the scheduled race (same α_t, same θ).
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == (2,):
                    np.testing.assert_allclose(
                        result.state[k][name][b, -1], value, rtol=1e-9, atol=1e-12, err_msg=name
                    )
        assert not np.allclose(result.paths[k], constant.paths[k]), key  # the schedule acts


def test_a_schedule_acts_on_its_run_only_and_on_every_value_of_a_sweep():
    runs = [("adam", {"lr": [0.01, 0.05]}), ("sgd", {"lr": 1e-3})]
    schedules = [("cosine", {"T_max": 50}), None]
    result = simulate("rosenbrock", runs, [(-1.5, 2.0), (-1.5, 2.0)], 80, schedules=schedules)
    plain = simulate("rosenbrock", runs, [(-1.5, 2.0), (-1.5, 2.0)], 80)
    np.testing.assert_array_equal(result.paths[1], plain.paths[1])
    for b, lr in enumerate((0.01, 0.05)):
        path, _ = plain_loop(
            SURFACES["rosenbrock"], "adam", {"lr": lr}, (-1.5, 2.0), 80, schedules[0]
        )
        np.testing.assert_allclose(result.paths[0, b], path, rtol=1e-10, atol=1e-12)
    assert result.schedules == (("cosine", {"T_max": 50}), ("constant", {}))


def online_quadratic(x, y, t):
    """f_t = (x − sin(t/20))² + (y − cos(t/20))²/2: a target that moves with the step."""
    return (x - torch.sin(t / 20)) ** 2 + 0.5 * (y - torch.cos(t / 20)) ** 2


def test_time_varying_loss_and_box_projection_equal_a_plain_loop():
    from optviz.surfaces import Surface

    surface = Surface(
        "online", "online", online_quadratic, (-2, 2, -2, 2), (0.0, 0.0), time_varying=True
    )
    box = (-0.5, 0.5, -1.0, 0.25)
    runs = [("sgd", {"lr": 0.1}), ("adam", {"lr": 0.05}), ("amsgrad", {"lr": 0.05})]
    result = simulate(surface, runs, (0.0, 0.0), 200, box=box)
    for k, (key, hparams) in enumerate(runs):
        path, _ = plain_loop(surface, key, hparams, (0.0, 0.0), 200, box=box)
        np.testing.assert_allclose(result.paths[k, 0], path, rtol=1e-12, atol=1e-14, err_msg=key)
    # The box binds (the target leaves it) and holds every point.
    assert (result.paths[..., 0] == 0.5).any() and (result.paths[..., 1] == 0.25).any()
    assert (result.paths[..., 0] >= -0.5).all() and (result.paths[..., 1] <= 0.25).all()
    # Losses are the online losses f_{t+1}(θ_t); gradients are those of f_t at θ_{t−1}.
    theta = torch.from_numpy(result.paths[1, 0])  # (T + 1, 2)
    t = torch.arange(1, 202, dtype=torch.float64)
    np.testing.assert_allclose(result.losses[1, 0], surface.f(theta, t), rtol=1e-14)
    _, grads = surface.value_and_grad(theta[:-1], t[:-1, None].squeeze(-1))
    np.testing.assert_allclose(result.grads[1, 0], grads, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedules": [("cosine", {})]}, "1 schedules for 2 runs"),
        ({"schedules": [("cyclic", {}), None]}, "unknown schedule 'cyclic'"),
        ({"schedules": [("step", {"gamma": 2}), None]}, "gamma must be between"),
        ({"box": (1, 0, 0, 1)}, "box needs finite x_min"),
        ({"box": (-1, 1, -1, 1)}, "start points must lie in the box"),
        ({"box": "unit"}, "box must be"),
    ],
)
def test_bad_schedules_and_boxes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate("rosenbrock", [("sgd", {}), ("adam", {})], (-1.5, 2.0), 10, **kwargs)


def test_take_is_the_race_of_those_runs_alone_and_join_undoes_it():
    runs = [("sgd", {"lr": 0.01}), ("adam", {"lr": 0.05}), ("lion", {"lr": 0.01})]
    starts = [(1.0, -1.0), (-0.5, 1.5)]
    race = simulate("noisy_quadratic", runs, starts, 60, seed=3)
    alone = simulate("noisy_quadratic", runs[1:], starts, 60, seed=3)
    part = race.take([1, 2])
    np.testing.assert_array_equal(part.paths, alone.paths)
    np.testing.assert_array_equal(part.diverged_at, alone.diverged_at)
    assert part.runs == alone.runs and part.schedules == alone.schedules
    again = Trajectories.join([race.take([0]), part])
    np.testing.assert_array_equal(again.paths, race.paths)
    np.testing.assert_array_equal(again.losses, race.losses)
    assert again.runs == race.runs


@pytest.mark.parametrize(
    "other",
    [
        lambda: simulate("rosenbrock", [("sgd", {})], (0.0, 0.0), 60),  # another surface
        lambda: simulate("noisy_quadratic", [("sgd", {})], (1.0, -1.0), 60, seed=4),  # noise
        lambda: simulate("noisy_quadratic", [("sgd", {})], (1.0, -1.0), 30, seed=3),  # steps
    ],
)
def test_join_refuses_races_that_are_not_one_race(other):
    race = simulate("noisy_quadratic", [("adam", {})], (1.0, -1.0), 60, seed=3)
    with pytest.raises(ValueError, match="only races"):
        Trajectories.join([race, other()])
