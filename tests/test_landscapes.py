"""The Landscapes computations: every cell is the race a separate ``simulate`` call would run."""

import numpy as np
import pytest

from optviz import landscapes
from optviz.optim import OPTIMIZERS
from optviz.surfaces import SURFACES
from optviz.trajectories import simulate

START = (-1.5, 2.0)  # Rosenbrock's own start
BETAS = ("beta1", "beta2")
PAPER = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax"]


def single(surface, key, hparams, start, steps, tol, *, swept=()):
    """The outcome of one separate race: (gap, steps to tol, diverged, left).

    ``swept``: the hyperparameters the batch swept, given here as one-value sequences, so the
    optimizer takes the same tensor code path as in the batch."""
    hparams = {k: [v] if k in swept else v for k, v in hparams.items()}
    result = simulate(surface, [(key, hparams)], start, steps)
    found = landscapes.outcomes(result, 1, (1,), tol)
    return (
        found.gap[0, 0, 0],
        found.steps[0, 0, 0],
        found.diverged[0, 0, 0],
        found.left[0, 0, 0],
    )


def cell_outcome(found, k, r, *cell):
    index = (k, r, *cell)
    return (
        found.gap[index],
        found.steps[index],
        found.diverged[index],
        found.left[index],
    )


@pytest.fixture(scope="module")
def adam_map():
    return landscapes.hyper_map(
        "rosenbrock", "adam", ("beta1", "beta2"), START, 150, hparams={"lr": 0.05}, cells=32
    )


def test_map_cells_equal_separate_runs_bit_for_bit(adam_map):
    origins = landscapes.replica_starts(SURFACES["rosenbrock"], START, 4, 1)
    found = adam_map.outcomes
    assert found.gap.shape == (1, 4, 32, 32)
    for i, j, r in [(0, 0, 0), (5, 17, 1), (31, 31, 3), (20, 2, 2), (31, 0, 0)]:
        cell = adam_map.cell(i, j)
        expected = single("rosenbrock", "adam", cell, origins[r], 150, found.tol, swept=BETAS)
        assert cell_outcome(found, 0, r, i, j) == expected
    # The map spans good and failing settings, so the cells above test both.
    assert found.failed.any() and not found.failed.all()


def test_map_cells_equal_scalar_runs_to_round_off(adam_map):
    """With numbers for hyperparameters the optimizers take torch.optim's fused ops
    (``addcdiv_(…, value=-α)``), which round differently from the broadcasting ops of a
    sweep: equal to round-off over a short race."""
    origins = landscapes.replica_starts(SURFACES["rosenbrock"], START, 4, 1)
    short = landscapes.hyper_map(
        "rosenbrock", "adam", ("beta1", "beta2"), START, 20, hparams={"lr": 0.05}, cells=32
    )
    for i, j in [(3, 4), (16, 30)]:
        gap, *_ = single("rosenbrock", "adam", short.cell(i, j), origins[0], 20, 1e-3)
        assert short.outcomes.gap[0, 0, i, j] == pytest.approx(gap, rel=1e-10)


@pytest.mark.parametrize(
    ("key", "names"), [(k, pair) for k, s in OPTIMIZERS.items() for pair in s.maps]
)
def test_every_registered_map_runs_its_whole_grid(key, names):
    """Every pair the registry maps is valid over its whole dense grid (no value the optimizer
    rejects, such as Nesterov's μ = 0) and a sampled cell equals its separate race."""
    found = landscapes.hyper_map("booth", key, names, (4.0, -4.0), 30, cells=32, starts=1)
    assert found.x.size == found.y.size == 32
    assert np.all(np.diff(found.x) > 0) and np.all(np.diff(found.y) > 0)
    cell = found.cell(7, 25)
    expected = single("booth", key, cell, (4.0, -4.0), 30, found.outcomes.tol, swept=names)
    assert cell_outcome(found.outcomes, 0, 0, 7, 25) == expected


def test_a_map_of_a_pair_the_registry_does_not_list_is_refused():
    with pytest.raises(ValueError, match="SGD has no map of lr × momentum"):
        landscapes.hyper_map("booth", "sgd", ("lr", "momentum"), (1.0, 1.0), 10)


def test_alpha_sensitivity_grid_and_sampled_points_equal_separate_runs():
    result = landscapes.alpha_sensitivity("rosenbrock", PAPER, START, 120, starts=2)
    assert result.alphas.shape == (8, 41)
    assert result.alphas[0, 0] == pytest.approx(1e-5) and result.alphas[0, -1] == pytest.approx(10)
    found = result.outcomes
    assert found.gap.shape == (8, 2, 41)
    origins = landscapes.replica_starts(SURFACES["rosenbrock"], START, 2, 1)
    for k, n, r in [(0, 10, 0), (6, 30, 1), (5, 40, 0), (4, 3, 1)]:
        expected = single(
            "rosenbrock",
            PAPER[k],
            {"lr": result.alphas[k, n]},
            origins[r],
            120,
            found.tol,
            swept=("lr",),
        )
        assert cell_outcome(found, k, r, n) == expected
    # Large α diverges or leaves the plot for some optimizer, small α is safe for all.
    assert found.failed[:, -1].any() and not found.failed[:, 0].any()


def test_noisy_surfaces_repeat_each_start_once_per_seed():
    surface = SURFACES["noisy_quadratic"]
    origins = landscapes.replica_starts(surface, surface.start, 2, 3)
    assert origins.shape == (6, 2)
    assert np.array_equal(origins[:3], np.repeat(origins[:1], 3, axis=0))
    found = landscapes.alpha_sensitivity(
        surface, ["sgd"], surface.start, 50, starts=2, seeds=3
    ).outcomes
    # Each replica drew its own noise: replicas of one start end at different losses.
    assert len(np.unique(found.gap[0, :3, 20])) == 3
    # Without noise a seed repeats the race, so there is one replica per start.
    assert landscapes.replica_starts(SURFACES["booth"], (1.0, 1.0), 2, 3).shape == (2, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: landscapes.replica_starts(SURFACES["booth"], (0, 0), 9, 1), "starts must be"),
        (
            lambda: landscapes.replica_starts(SURFACES["noisy_quadratic"], (0, 0), 5, 5),
            "starts × seeds must be at most 8",
        ),
        (lambda: landscapes.start_grid(SURFACES["booth"], 65), "from 2 to 64"),
        (
            lambda: landscapes.hyper_map(
                "booth", "adam", ("beta1", "beta2"), (1, 1), 10, cells=64, starts=2
            ),
            "runs at most 4,096 at once",
        ),
        (
            lambda: landscapes.basins("booth", PAPER[:4], 800, cells=64),
            "at most 12,000,000 fit in memory",
        ),
    ],
)
def test_work_beyond_the_caps_is_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- basins ---------------------------------------------------------------------------------


def test_each_start_next_to_a_himmelblau_minimum_ends_in_that_basin():
    surface = SURFACES["himmelblau"]
    starts = np.array(surface.minima) + 0.3  # a start beside each of the four minima
    result = simulate(surface, [("adam", {"lr": 0.05}), ("sgd", {"lr": 0.005})], starts, 400)
    labels, minima = landscapes.basin_labels(result)
    assert minima == surface.minima  # no settled point apart from the known minima
    assert labels.tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_the_basin_of_a_converging_start_is_the_minimum_nearest_its_end():
    found = landscapes.basins(
        "himmelblau", ["sgd", "adam"], 300, hparams={"sgd": {"lr": 0.01}, "adam": {"lr": 0.1}}
    )
    assert found.labels.shape == (2, 64, 64) and found.several
    *_, starts = landscapes.start_grid(SURFACES["himmelblau"], 64)
    result = simulate(
        "himmelblau", [("sgd", {"lr": 0.01}), ("adam", {"lr": 0.1})], starts[::97], 300
    )
    ends = result.paths[:, :, -1]  # (2, N, 2)
    nearest = np.linalg.norm(ends[:, :, None] - np.array(found.minima), axis=-1).argmin(-1)
    labels = found.labels.reshape(2, -1)[:, ::97]
    converged = labels >= 0
    assert converged.mean() > 0.9
    assert np.array_equal(labels[converged], nearest[converged])
    # Every start of the four basins: each minimum gets a share.
    assert set(np.unique(found.labels[0])) >= {0, 1, 2, 3}


def test_basins_of_a_diverging_optimizer_are_marked_diverged():
    found = landscapes.basins("himmelblau", ["sgd"], 50, hparams={"sgd": {"lr": 1.0}}, cells=8)
    assert (found.labels == landscapes.DIVERGED).mean() > 0.5
    assert np.array_equal(found.labels == landscapes.DIVERGED, found.outcomes.diverged[:, 0])


def test_local_minima_are_found_where_paths_settle_on_rastrigin():
    found = landscapes.basins("rastrigin", ["sgd"], 200, hparams={"sgd": {"lr": 0.002}}, cells=16)
    assert found.minima[0] == (0.0, 0.0) and len(found.minima) > 10
    # Rastrigin's local minima sit near the integer lattice.
    lattice = np.abs(np.array(found.minima) - np.round(found.minima)).max()
    assert lattice < 0.1


def test_single_minimum_surfaces_colour_by_steps():
    found = landscapes.basins("booth", ["adam"], 200, hparams={"adam": {"lr": 0.5}}, cells=8)
    assert not found.several
    assert (found.outcomes.steps >= 0).all()


# --- tune all -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned():
    return landscapes.tune_all("rosenbrock", ["sgd", "momentum", "adam"], START, 150, starts=2)


def test_the_tuners_winner_is_reproducible_and_never_failed(tuned):
    again = landscapes.tune_all("rosenbrock", ["adam", "momentum", "sgd"], START, 150, starts=2)
    assert {t.key: t.configs[t.best] for t in tuned} == {t.key: t.configs[t.best] for t in again}
    origins = landscapes.replica_starts(SURFACES["rosenbrock"], START, 2, 1)
    for t in tuned:
        assert t.best >= 0 and not np.isinf(t.scores).all()
        assert np.isinf(t.scores).any()  # the grid holds failing configurations to avoid
        for start in origins:
            config = t.configs[t.best]
            _, _, diverged, left = single("rosenbrock", t.key, config, start, 150, 1e-3)
            assert not diverged and not left
    # Ranked: the best score first.
    best = [t.scores[t.best] for t in tuned]
    assert best == sorted(best)


def test_the_tuners_score_is_the_mean_final_log_loss_and_robustness_its_share(tuned):
    t = next(t for t in tuned if t.key == "momentum")
    origins = landscapes.replica_starts(SURFACES["rosenbrock"], START, 2, 1)
    config = t.configs[t.best]
    gaps = [
        single("rosenbrock", "momentum", config, s, 150, 1e-3, swept=config)[0] for s in origins
    ]
    assert t.scores[t.best] == pytest.approx(np.mean(np.log10(gaps)), rel=1e-9)
    within = np.isfinite(t.scores) & (t.scores <= t.scores[t.best] + 1)
    assert t.robustness == pytest.approx(within.mean())
    assert 0 < t.robustness <= 1


def test_the_tuning_grid_is_alpha_times_the_coarse_grid_of_the_mapped_hyperparameters():
    grid = landscapes.tuning_grid("adam")
    assert len(grid) == len(OPTIMIZERS["adam"].hp("lr").options()) * 4 * 4
    assert {tuple(sorted(c)) for c in grid} == {("beta1", "beta2", "lr")}
    assert len(landscapes.tuning_grid("sgd")) == len(OPTIMIZERS["sgd"].hp("lr").options())
