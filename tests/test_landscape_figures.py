"""The Landscapes figures: what a person sees in them, and only finite numbers sent."""

import numpy as np
import pytest
from test_figures import assert_all_finite

from optviz import landscapes
from optviz.figures import landscapes as figures
from optviz.optim import OPTIMIZERS

START = (-1.5, 2.0)


@pytest.fixture(scope="module")
def sensitivity():
    return landscapes.alpha_sensitivity(
        "rosenbrock", ["sgd", "adam", "rmsprop"], START, 200, alphas=41, starts=2
    )


@pytest.fixture(scope="module")
def adam_map():
    return landscapes.hyper_map(
        "rosenbrock", "adam", ("lr", "beta1"), START, 100, cells=32, starts=2
    )


@pytest.fixture(scope="module")
def himmelblau_basins():
    return landscapes.basins(
        "himmelblau",
        ["sgd", "adam", "momentum"],
        150,
        hparams={"sgd": {"lr": 0.03}, "adam": {"lr": 0.1}, "momentum": {"lr": 0.001}},
        cells=24,
    )


def test_sensitivity_has_one_curve_per_optimizer_a_band_and_marks_failures(sensitivity):
    fig = figures.sensitivity_figure(sensitivity)
    assert_all_finite(fig)
    assert {t.type for t in fig.data} == {"scatter"}
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == ["SGD", "Adam", "RMSprop"]
    lines = [t for t in fig.data if t.mode == "lines+markers" and t.xaxis == "x"]
    found = sensitivity.outcomes
    for k, line in enumerate(lines):
        assert line.line.color == OPTIMIZERS[sensitivity.keys[k]].color
        holes = np.array([y is None for y in line.y])
        assert np.array_equal(holes, found.failed[k])  # failed α: no value on the curve
        shown = np.array([y for y in line.y if y is not None], dtype=float)
        assert np.allclose(np.log10(shown), found.log_gap[k][~found.failed[k]], atol=1e-5)
    marks = [t for t in fig.data if t.mode == "markers" and t.xaxis == "x"]
    marked = sum(len(t.x) for t in marks)
    assert marked == found.failed.sum() > 0  # each failed α once, × or ▲
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    fills = [t for t in fig.data if t.fill == "tonexty"]
    assert len(fills) == 2 * len(sensitivity.keys)  # a band in each panel


@pytest.mark.parametrize("metric", ["gap", "steps"])
def test_map_colours_values_on_viridis_and_failures_on_a_grey_layer(adam_map, metric):
    fig = figures.map_figure(adam_map, metric)
    assert_all_finite(fig)
    neutral, values, cells = fig.data
    assert (neutral.type, values.type, cells.type) == ("heatmap", "heatmap", "scatter")
    assert values.colorscale[0][1] == "#440154"  # Viridis
    z = np.array([[v is not None for v in row] for row in values.z])
    grey = np.array([[v is not None for v in row] for row in neutral.z])
    assert np.array_equal(z, ~grey)  # every cell is a value or grey, never both
    found = adam_map.outcomes
    assert np.array_equal(
        np.array(neutral.z, dtype=object)[found.failed[0]], [1.0] * found.failed.sum()
    )
    assert found.failed.any() and (~found.failed).any()
    if metric == "gap":
        assert np.array_equal(grey, found.failed[0])
    assert len(cells.x) == 32 * 32 and fig.layout.clickmode == "event+select"


def test_a_picked_marker_is_its_cell(adam_map):
    fig = figures.map_figure(adam_map)
    cells = fig.data[2]
    for index in (0, 5, 32 * 7 + 3, 1023):
        i, j = figures.map_cell(adam_map, index)
        assert (cells.y[index], cells.x[index]) == (i, j)
        lr, beta1 = adam_map.cell(i, j)["lr"], adam_map.cell(i, j)["beta1"]
        assert cells.customdata[index] == f"α = {lr:.4g}, β1 = {beta1:.4g}"


def test_map_metric_must_be_known(adam_map):
    with pytest.raises(ValueError, match="metric must be one of gap, steps"):
        figures.map_figure(adam_map, "speed")


def test_basins_are_small_multiples_coloured_by_minimum(himmelblau_basins):
    fig = figures.basins_figure(himmelblau_basins)
    assert_all_finite(fig)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 3 and [t.xaxis for t in heatmaps] == ["x", "x2", "x3"]
    scale = heatmaps[0].colorscale
    palette = [color for _, color in scale[::2]]

    def colour(z):
        return palette[int(z)]

    for k, heatmap in enumerate(heatmaps):
        labels = himmelblau_basins.labels[k]
        z = np.array(heatmap.z, dtype=float)
        assert np.array_equal(z, labels + 3)
        for label in np.unique(labels):
            expected = {
                landscapes.DIVERGED: figures.FAILED_GREY,
                landscapes.LEFT: figures.LEFT_GREY,
                landscapes.MOVING: figures.UNREACHED_GREY,
            }.get(label) or figures.BASIN_COLORS[label % len(figures.BASIN_COLORS)]
            assert colour(label + 3) == expected
    # SGD at α = 0.03 diverges from part of the window: grey there.
    assert (himmelblau_basins.labels[0] == landscapes.DIVERGED).any()
    legend = [t.name for t in fig.data if t.showlegend is not False and t.type == "scatter"]
    assert legend[:4] == ["(3, 2)", "(-2.81, 3.13)", "(-3.78, -3.28)", "(3.58, -1.85)"]


def test_single_minimum_basins_show_steps():
    found = landscapes.basins(
        "booth", ["adam", "sgd"], 200, hparams={"adam": {"lr": 0.5}, "sgd": {"lr": 0.2}}, cells=8
    )
    assert not found.several
    fig = figures.basins_figure(found)
    assert_all_finite(fig)
    values = [t for t in fig.data if t.type == "heatmap" and t.name]
    assert values[0].colorscale[0][1] == "#440154"
    steps = np.array([[np.nan if v is None else v for v in row] for row in values[0].z])
    assert np.array_equal(np.nan_to_num(steps, nan=-1), found.outcomes.steps[0, 0])


def test_tuning_rows_rank_the_winners():
    tuned = landscapes.tune_all("rosenbrock", ["sgd", "adam"], START, 100, starts=2)
    rows = figures.tuning_rows(tuned)
    assert [row["rank"] for row in rows] == [1, 2]
    assert [row["optimizer"] for row in rows] == [OPTIMIZERS[t.key].label for t in tuned]
    best = tuned[0].configs[tuned[0].best]
    assert rows[0]["best configuration"].startswith(f"α = {best['lr']:g}")
    assert rows[0]["score (mean log10(f − f*))"] <= rows[1]["score (mean log10(f − f*))"]
