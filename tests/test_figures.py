"""The Plotly builders: what a user would see in each figure, and what the browser is sent."""

from __future__ import annotations

import ast
import base64
import csv
import io
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from optviz import analyses, export, figures
from optviz.figures import curves, layout
from optviz.figures import experiments as experiment_figures
from optviz.optim import OPTIMIZERS
from optviz.surfaces import SURFACES, parse_surface
from optviz.trajectories import simulate

RACE = [("momentum", {"lr": 5e-4}), ("rmsprop", {"lr": 0.01}), ("adam", {"lr": 0.05})]
FOUR = [*RACE, ("sgd", {"lr": 1e-3})]
# Plain SGD at this rate overshoots Rosenbrock's valley wall and escapes within a few steps.
DIVERGING = [("sgd", {"lr": 3e-3}), ("adam", {"lr": 0.05})]
ROSENBROCK_START = (-1.5, 2.0)
DTYPES = {"f8": np.float64, "f4": np.float32, "i4": np.int32, "u4": np.uint32, "i2": np.int16}
DTYPES |= {"u2": np.uint16, "i1": np.int8, "u1": np.uint8}


@pytest.fixture(scope="module")
def race():
    return simulate("rosenbrock", RACE, ROSENBROCK_START, 120)


@pytest.fixture(scope="module")
def diverging():
    result = simulate("rosenbrock", DIVERGING, ROSENBROCK_START, 60)
    assert result.diverged_at[0, 0] > 0 and result.diverged_at[1, 0] == -1
    return result


@pytest.fixture(scope="module")
def race_fig(race):
    return figures.race_figure(race)


# ------------------------------------------------------------------------------------ helpers


def decode(value):
    """A plotly base64 typed array ({"dtype", "bdata", "shape"}) as a numpy array."""
    array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=DTYPES[value["dtype"]])
    if "shape" in value:
        array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
    return array


def numbers(node, path="fig"):
    """Every number in a plotly JSON tree, as (where, array) pairs, typed arrays decoded."""
    if isinstance(node, dict) and "bdata" in node and "dtype" in node:
        yield path, decode(node).astype(np.float64)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from numbers(value, f"{path}.{key}")
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from numbers(value, f"{path}[{i}]")
    elif isinstance(node, np.ndarray) and node.dtype.kind in "fiu":
        yield path, node.astype(np.float64)
    elif isinstance(node, float | int | np.number) and not isinstance(node, bool):
        yield path, np.asarray(node, dtype=np.float64)


def assert_all_finite(fig):
    checked = 0
    for where, values in numbers(fig.to_plotly_json()):
        assert np.isfinite(values).all(), f"non-finite number in {where}"
        checked += values.size
    assert checked > 0


def array(value):
    """A trace's data array, whether a list, numpy or a plotly base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        return decode(value).astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def traces_named(fig, text):
    return [trace for trace in fig.data if text in (trace.name or "")]


def horizontal_lines(fig):
    """Traces that are one horizontal segment (the reference lines), by name → y value."""
    return {
        trace.name: float(array(trace.y)[0])
        for trace in fig.data
        if len(trace.y) == 2 and array(trace.y)[0] == array(trace.y)[1]
    }


def race_parts(fig, K):
    """Indices of the race figure's traces by role."""
    surfaces = [i for i, t in enumerate(fig.data) if t.type == "heatmap"]
    paths = [i for i, t in enumerate(fig.data) if t.type == "scatter" and t.mode == "lines"]
    heads = [i for i, t in enumerate(fig.data) if t.showlegend is False and t.legendgroup]
    heads = [i for i in heads if fig.data[i].legendgroup not in {"minimum", "start"}]
    assert len(paths) == K and len(heads) == K
    return surfaces, paths, heads


# ------------------------------------------------------------------------------- race figure


def test_race_has_a_surface_the_minimum_the_start_and_a_path_and_head_per_run(race, race_fig):
    kinds = [trace.type for trace in race_fig.data]
    assert kinds.count("heatmap") == 1 and set(kinds) == {"heatmap", "scatter"}
    _, paths, heads = race_parts(race_fig, 3)
    assert len(race_fig.data) == 1 + 2 + 3 + 3  # surface, minimum, start, paths, heads
    # The image shows the surface; the heatmap over it is invisible, for hover and colour bar.
    surface = race_fig.data[0]
    assert surface.opacity == 0 and surface.coloraxis == "coloraxis"
    assert "%{z" in surface.hovertemplate
    (minimum,) = traces_named(race_fig, "global minimum")
    assert minimum.marker.symbol == "star"
    assert (array(minimum.x)[0], array(minimum.y)[0]) == (1.0, 1.0)
    assert minimum.hovertext[0] == "global minimum (1, 1)"
    (start,) = traces_named(race_fig, "start")
    assert (array(start.x)[0], array(start.y)[0]) == ROSENBROCK_START
    for k, (key, _) in enumerate(RACE):
        spec = OPTIMIZERS[key]
        assert race_fig.data[paths[k]].name == f"{spec.label} (α = {RACE[k][1]['lr']:g})"
        assert race_fig.data[paths[k]].line.color == spec.color
        assert race_fig.data[heads[k]].marker.color == spec.color
        assert race_fig.data[heads[k]].marker.symbol == "circle"


def player_runs(fig):
    """What the race player animates (``layout.meta.race.runs``), paths decoded."""
    runs = fig.layout.meta["race"]["runs"]
    for run in runs:
        assert set(run) == {"path", "head", "x", "y", "last", "marker", "ended"}
    return [
        run
        | {
            "x": decode({"dtype": "f4", "bdata": run["x"]}),
            "y": decode({"dtype": "f4", "bdata": run["y"]}),
        }
        for run in runs
    ]


def test_race_initially_shows_the_complete_paths_and_gives_the_player_every_step(race, race_fig):
    _, paths, heads = race_parts(race_fig, 3)
    meta = race_fig.layout.meta["race"]
    assert meta["steps"] == race.steps and meta["seconds"] == figures.race.play_seconds(race.steps)
    assert meta["id"] == figures.race.race_id(race)
    for k, run in enumerate(player_runs(race_fig)):
        path = race_fig.data[paths[k]]
        expected = race.paths[k, 0].astype(np.float32)  # (T + 1, 2): every step, never thinned
        np.testing.assert_array_equal(array(path.x), expected[:, 0])
        np.testing.assert_array_equal(array(path.y), expected[:, 1])
        assert (run["path"], run["head"], run["last"]) == (paths[k], heads[k], race.steps)
        np.testing.assert_array_equal(run["x"], expected[:, 0])
        np.testing.assert_array_equal(run["y"], expected[:, 1])
        head = race_fig.data[heads[k]]
        np.testing.assert_allclose([head.x[0], head.y[0]], race.paths[k, 0, -1], rtol=1e-6)
        assert run["marker"]["symbol"] == run["ended"]["symbol"] == "circle"


def test_race_sends_no_animation_frames_and_no_plotly_controls(race_fig):
    """The player (race_player.js) cuts the paths in the browser: the figure needs no frames."""
    assert race_fig.frames == ()
    assert race_fig.layout.updatemenus == () and race_fig.layout.sliders == ()


def test_race_id_names_the_paths_and_play_lasts_a_step_a_frame_within_bounds(race):
    assert figures.race.race_id(race) == figures.race.race_id(race)
    other = simulate("rosenbrock", RACE[:2], ROSENBROCK_START, 120)
    assert figures.race.race_id(other) != figures.race.race_id(race)
    assert figures.race.play_seconds(300) == 5.0  # 60 steps a second
    assert figures.race.play_seconds(30) == 3.0 and figures.race.play_seconds(2000) == 12.0


def test_default_race_view_is_well_under_a_megabyte_and_grows_with_steps_only():
    sizes = [
        len(figures.race_figure(simulate("rosenbrock", FOUR, ROSENBROCK_START, n)).to_json())
        for n in (300, 2000)
    ]
    assert sizes[0] <= 300_000, f"{sizes[0]:,} bytes"
    # Each point is sent twice (the trace, the player's copy) as float32 base64: ≈ 24 bytes.
    assert sizes[1] - sizes[0] <= 4 * 1700 * 2 * 2 * 8 * 1.5, sizes


def test_race_axes_are_fixed_to_the_surface_window_with_zoom_kept_across_reruns(race_fig):
    assert tuple(race_fig.layout.xaxis.range) == (-2.0, 2.0)
    assert tuple(race_fig.layout.yaxis.range) == (-1.0, 3.0)
    assert race_fig.layout.uirevision
    assert race_fig.layout.legend.orientation == "h"
    (image,) = race_fig.layout.images
    assert (image.x, image.y, image.sizex, image.sizey) == (-2.0, 3.0, 4.0, 4.0)
    assert image.layer == "below"


def test_race_backdrop_is_a_png_of_the_surface_for_playback(race_fig):
    """The surface is drawn once, as an image: a contour trace costs the browser far more to
    redraw, and a redraw-free animation would drop it."""
    (image,) = race_fig.layout.images
    prefix = "data:image/png;base64,"
    assert image.source.startswith(prefix)
    png = base64.b64decode(image.source[len(prefix) :])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == height == 3 * 120
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4 : idat], "big")
    rows = np.frombuffer(zlib.decompress(png[idat + 4 : idat + 4 + length]), np.uint8)
    pixels = rows.reshape(height, 1 + 3 * width)[:, 1:].reshape(height, width, 3).astype(int)
    # Low f is darker: the valley floor near the minimum (1, 1) against the corner (-2, -1).
    x_pixel, y_pixel = round(3 / 4 * (width - 1)), round(2 / 4 * (height - 1))
    assert pixels[y_pixel, x_pixel].sum() < pixels[height - 1, 0].sum()


@pytest.mark.parametrize(("surface", "runs"), [("rosenbrock", 4), ("rosenbrock", 8), ("ravine", 3)])
def test_race_panels_take_the_windows_shape_with_no_empty_bands(surface, runs):
    """Equal scale in every panel without plotly.js shrinking a domain to keep it: the figure's
    size gives each panel the window's aspect, one panel or side by side."""
    keys = list(OPTIMIZERS)[:runs]
    result = simulate(surface, [(k, {}) for k in keys], SURFACES[surface].start, 5)
    x_min, x_max, y_min, y_max = SURFACES[surface].bounds
    for side_by_side in (False, True):
        layout = figures.race_figure(result, side_by_side=side_by_side).layout
        plot_width = layout.width - layout.margin.l - layout.margin.r
        plot_height = layout.height - layout.margin.t - layout.margin.b
        for x_axis, y_axis in [(layout.xaxis, layout.yaxis)] + (
            [(layout[f"xaxis{p}"], layout[f"yaxis{p}"]) for p in range(2, runs + 1)]
            if side_by_side
            else []
        ):
            (x0, x1), (y0, y1) = x_axis.domain or (0, 1), y_axis.domain or (0, 1)
            width, height = (x1 - x0) * plot_width, (y1 - y0) * plot_height
            assert width / height == pytest.approx((x_max - x_min) / (y_max - y_min), rel=0.02)


def test_side_by_side_has_one_panel_per_run_and_one_player_for_all(race):
    fig = figures.race_figure(race, side_by_side=True)
    surfaces, paths, heads = race_parts(fig, 3)
    panels = [(fig.data[i].xaxis, fig.data[i].yaxis) for i in surfaces]
    assert len(set(panels)) == 3
    for k in range(3):
        assert (fig.data[paths[k]].xaxis, fig.data[paths[k]].yaxis) == panels[k]
        assert (fig.data[heads[k]].xaxis, fig.data[heads[k]].yaxis) == panels[k]
    assert [a.text for a in fig.layout.annotations] == figures.run_names(race)
    assert [(run["path"], run["head"]) for run in player_runs(fig)] == list(
        zip(paths, heads, strict=True)
    )
    assert len(fig.layout.images) == 3
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert tuple(fig.layout[axis].range) == (-2.0, 2.0)


def test_side_by_side_wraps_after_four_panels():
    result = simulate("rosenbrock", [*FOUR, ("adamax", {"lr": 0.02})], ROSENBROCK_START, 20)
    fig = figures.race_figure(result, side_by_side=True)
    domains = {tuple(fig.layout[f"xaxis{i or ''}"].domain) for i in ["", 2, 3, 4, 5]}
    assert len(domains) == 4  # the fifth panel sits under the first


def test_a_path_that_leaves_the_plot_is_cut_at_the_edge_with_an_arrow_and_a_note():
    result = simulate("rosenbrock", [("adam", {"lr": 3.0}), RACE[0]], ROSENBROCK_START, 60)
    fig = figures.race_figure(result)
    _, paths, heads = race_parts(fig, 2)
    step, edge = figures.race.window_exit(result, 0)
    assert step == 1 and result.diverged_at[0, 0] == -1
    name = figures.run_names(result)[0]
    assert name == "Adam (α = 3)"
    note = f"{name} left the plot at step {step}"
    path = fig.data[paths[0]]
    assert path.name == f"{name}, left the plot at step {step}"
    x, y = array(path.x), array(path.y)
    assert len(x) == step + 1 and (x[-1], y[-1]) == tuple(edge.astype(np.float32))
    assert -2.0 <= x[-1] <= 2.0 and -1.0 <= y[-1] <= 3.0
    assert x[-1] in (-2.0, 2.0) or y[-1] in (-1.0, 3.0)  # on the window's edge
    # Between θ_0 and θ_1: the edge point lies on the segment the optimizer stepped along.
    start, beyond = result.paths[0, 0, 0], result.paths[0, 0, 1]
    (ux, uy), (vx, vy) = beyond - start, edge - start
    assert abs(ux * vy - uy * vx) < 1e-9 * (ux * ux + uy * uy)  # collinear
    assert 0 < vx / ux < 1 if ux else 0 < vy / uy < 1  # and short of θ_1
    head = fig.data[heads[0]]
    assert head.marker.symbol == "arrow" and note in head.hovertemplate
    run, other = player_runs(fig)
    assert run["last"] == step and run["ended"]["symbol"] == "arrow"
    assert other["last"] == 60 and other["ended"]["symbol"] == "circle"
    (annotation,) = fig.layout.annotations
    assert annotation.text == note and (annotation.x, annotation.y) == (x[-1], y[-1])
    assert_all_finite(fig)


def test_a_run_that_leaves_the_plot_and_diverges_ends_in_an_x_on_the_edge(diverging):
    fig = figures.race_figure(diverging)
    step, _ = figures.race.window_exit(diverging, 0)
    diverged = int(diverging.diverged_at[0, 0])
    assert 0 < step < diverged
    name = figures.run_names(diverging)[0]
    note = f"{name} left the plot at step {step} and diverged at step {diverged}"
    _, paths, heads = race_parts(fig, 2)
    assert fig.data[paths[0]].name == f"{name}, " + note.removeprefix(f"{name} ")
    assert fig.data[heads[0]].marker.symbol == "x"
    assert fig.data[heads[1]].marker.symbol == "circle"
    assert [a.text for a in fig.layout.annotations] == [note]
    run, _ = player_runs(fig)
    assert run["marker"]["symbol"] == "circle" and run["ended"]["symbol"] == "x"
    assert_all_finite(fig)


def test_a_run_that_diverges_inside_the_plot_ends_in_an_x_at_its_last_finite_point():
    # √x is not finite left of x = 0, which SGD's large steps reach inside the window.
    surface = parse_surface("sqrt(x) + y**2")
    result = simulate(surface, [("sgd", {"lr": 0.5})], surface.start, 30)
    diverged = int(result.diverged_at[0, 0])
    assert diverged > 0 and figures.race.window_exit(result, 0) is None
    fig = figures.race_figure(result)
    _, (path,), (head,) = race_parts(fig, 1)
    assert len(array(fig.data[path].x)) == diverged  # θ_0 … θ_{s−1}: the frozen tail is not drawn
    assert fig.data[head].marker.symbol == "x"
    (annotation,) = fig.layout.annotations
    assert (
        annotation.text
        == figures.divergence_note(result, 0)
        == f"SGD (α = 0.5) diverged at step {diverged}"
    )
    np.testing.assert_allclose(
        (annotation.x, annotation.y), result.paths[0, 0, diverged - 1], rtol=1e-6
    )
    (run,) = player_runs(fig)
    assert run["last"] == diverged - 1 and run["ended"]["symbol"] == "x"
    assert_all_finite(fig)


def test_log_scale_surface_gets_a_log_z_finite_where_f_is_its_minimum():
    # A 9 × 9 grid over Rosenbrock's window hits the minimum (1, 1) exactly: f = f* = 0 there.
    result = simulate("rosenbrock", RACE, ROSENBROCK_START, 10)
    fig = figures.race_figure(result, grid=9)
    _, _, Z = SURFACES["rosenbrock"].grid(9)
    Z = Z[::2, ::2]  # the hover layer's samples: every second point of the grid, (1, 1) among them
    assert Z.min() == 0.0
    z = array(fig.data[0].z)
    assert np.isfinite(z).all() and z.argmin() == Z.argmin()
    delta = 10 ** z.min()  # z = log10(f − f* + δ)
    np.testing.assert_allclose(10**z - delta, Z, rtol=1e-4, atol=1e-6 * Z.max())
    colorbar = fig.layout.coloraxis.colorbar
    assert colorbar.title.text == "f"
    for value, text in zip(colorbar.tickvals, colorbar.ticktext, strict=True):
        f = 10.0 ** int(text.split("<sup>")[1].split("<")[0]) if "<sup>" in text else float(text)
        assert math.isclose(10**value - delta, f, rel_tol=1e-6)


def test_linear_surface_z_is_f_itself():
    result = simulate("ravine", RACE, SURFACES["ravine"].start, 10)
    fig = figures.race_figure(result, grid=30)
    _, _, Z = SURFACES["ravine"].grid(30)
    np.testing.assert_array_equal(array(fig.data[0].z), Z[::2, ::2].astype(np.float32))
    assert fig.layout.coloraxis.colorbar.tickvals is None


def test_runs_of_the_same_optimizer_are_told_apart_by_hyperparameter_and_dash():
    runs = [("adam", {"lr": 0.05}), ("adam", {"lr": 0.01}), ("adam", {"lr": 0.01, "beta1": 0.5})]
    result = simulate("rosenbrock", runs, ROSENBROCK_START, 10)
    fig = figures.race_figure(result)
    _, paths, _ = race_parts(fig, 3)
    assert [fig.data[i].name for i in paths] == [
        "Adam (α = 0.05, β1 = 0.9)",
        "Adam (α = 0.01, β1 = 0.9)",
        "Adam (α = 0.01, β1 = 0.5)",
    ]
    assert len({fig.data[i].line.dash for i in paths}) == 3
    assert {fig.data[i].line.color for i in paths} == {OPTIMIZERS["adam"].color}


# ------------------------------------------------------------------------------------ 3-D


def test_3d_figure_has_the_surface_a_lifted_path_per_run_and_the_minimum(race):
    fig = figures.surface_3d_figure(race, grid=40)
    kinds = [trace.type for trace in fig.data]
    assert kinds.count("surface") == 1 and kinds.count("scatter3d") == 2 * 3 + 1
    lines = [t for t in fig.data if t.type == "scatter3d" and t.mode == "lines"]
    assert [t.line.color for t in lines] == [OPTIMIZERS[k].color for k, _ in RACE]
    surface_z = array(fig.data[0].z)
    for k, line in enumerate(lines):
        z, losses = array(line.z), race.losses[k, 0]
        # Same monotone transform as the surface: z rises exactly where the loss rises.
        assert (np.sign(np.diff(z)) == np.sign(np.diff(losses))).mean() > 0.95
        assert z.min() >= surface_z.min()
    (minimum,) = traces_named(fig, "global minimum")
    assert array(minimum.z)[0] <= surface_z.min() + 0.02 * np.ptp(surface_z)
    assert_all_finite(fig)


# The explorer's default race on Rosenbrock (its tuned rates): paths down the whole valley.
EXPLORER_RACE = [
    ("sgd", {"lr": 1e-3}),
    ("momentum", {"lr": 1e-3}),
    ("rmsprop", {"lr": 0.02}),
    ("adam", {"lr": 0.5}),
]


@pytest.fixture(scope="module")
def explorer_race():
    return simulate("rosenbrock", EXPLORER_RACE, ROSENBROCK_START, 300)


def mesh_at(surface_trace, x, y):
    """The 3-D mesh's z at points (x, y), interpolated between its nodes as the cells are."""
    xs, ys, z = (array(surface_trace[axis]) for axis in "xyz")
    i = np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2)
    j = np.clip(np.searchsorted(ys, y) - 1, 0, len(ys) - 2)
    u, v = (x - xs[i]) / (xs[i + 1] - xs[i]), (y - ys[j]) / (ys[j + 1] - ys[j])
    return (
        z[j, i] * (1 - u) * (1 - v)
        + z[j, i + 1] * u * (1 - v)
        + z[j + 1, i] * (1 - u) * v
        + z[j + 1, i + 1] * u * v
    )


def test_3d_mesh_follows_rosenbrocks_valley_floor_without_a_sawtooth(explorer_race):
    # Sampled at its nodes, the mesh rose up to 2 decades above the narrow valley's floor
    # between them, in teeth along its length (and hid the paths that run along it).
    fig = figures.surface_3d_figure(explorer_race)
    surface = explorer_race.surface
    scale = figures.surface.surface_mesh(surface, 120)[3]
    x = np.linspace(-1.7, 1.7, 4001)
    floor = np.stack([x, x**2], axis=-1)  # Rosenbrock's valley floor, y = x²
    with torch.no_grad():
        true = scale(surface.f(torch.as_tensor(floor)).numpy())
    gap = mesh_at(fig.data[0], x, x**2) - true
    assert gap.max() <= 0.01 and gap.min() >= -0.2  # decades of f − f*
    # Anywhere in the window the mesh stays at or under the surface it draws.
    xy = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(20_000, 2))
    with torch.no_grad():
        true = scale(surface.f(torch.as_tensor(xy)).numpy())
    assert (mesh_at(fig.data[0], xy[:, 0], xy[:, 1]) - true).max() <= 0.01
    # Its colours are the 2-D view's: the same z range at the race's grid.
    contour = figures.race_figure(explorer_race).layout.coloraxis
    assert (fig.data[0].cmin, fig.data[0].cmax) == (contour.cmin, contour.cmax)
    assert fig.data[0].colorscale == contour.colorscale


def test_3d_paths_lie_on_the_mesh_at_every_step_and_above_it_along_every_segment(explorer_race):
    fig = figures.surface_3d_figure(explorer_race)
    mesh = fig.data[0]
    z_range = np.ptp(array(mesh.z))
    lines = [t for t in fig.data if t.type == "scatter3d" and t.mode == "lines"]
    assert len(lines) == 4
    for line in lines:
        x, y, z = (array(line[axis]) for axis in "xyz")
        height = z - mesh_at(mesh, x, y)
        assert height.min() > 0  # never under the mesh …
        assert np.median(height) <= 0.02 * z_range  # … and on it, not floating above
        # Straight segments between steps stay above the mesh all along.
        f = np.linspace(0, 1, 17)[:, None]  # (17, 1)
        sx, sy, sz = (a[:-1] + f * (a[1:] - a[:-1]) for a in (x, y, z))  # (17, T) each
        assert (sz - mesh_at(mesh, sx, sy)).min() > 0


def test_3d_figure_names_its_race_and_carries_each_lifted_path_for_the_player(race):
    fig = figures.surface_3d_figure(race, grid=40)
    meta = fig.layout.meta["race3d"]
    assert meta["id"] == figures.race_figure(race).layout.meta["race"]["id"]
    assert meta["steps"] == race.steps and len(meta["runs"]) == len(RACE)
    for k, run in enumerate(meta["runs"]):
        path, head = fig.data[run["path"]], fig.data[run["head"]]
        assert path.mode == "lines" and head.mode == "markers"
        assert path.name == head.legendgroup == path.legendgroup
        assert run["last"] == race.steps and run["ended"] == run["marker"]
        for axis in "xyz":
            decoded = decode({"dtype": "f4", "bdata": run[axis]})
            np.testing.assert_array_equal(decoded, path[axis])
            assert decoded[-1] == head[axis][0]
        np.testing.assert_allclose(array(path.x), race.paths[k, 0, :, 0], rtol=1e-6)


def test_3d_figure_marks_a_diverged_runs_head_for_the_player(diverging):
    fig = figures.surface_3d_figure(diverging, grid=30)
    sgd, adam = fig.layout.meta["race3d"]["runs"]
    assert sgd["last"] == diverging.diverged_at[0, 0] - 1 and sgd["ended"]["symbol"] == "x"
    assert sgd["marker"]["symbol"] == "circle" and adam["ended"] == adam["marker"]
    assert len(array(fig.data[sgd["path"]].x)) == sgd["last"] + 1


# -------------------------------------------------------------------------- loss and distance


def test_loss_figure_plots_the_gap_to_f_star_on_a_log_axis_in_registry_colours(race):
    fig = figures.loss_figure(race)
    assert len(fig.data) == 3 and fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.title.text == "f(θ_t) − f*"
    for k, trace in enumerate(fig.data):
        assert trace.line.color == OPTIMIZERS[RACE[k][0]].color
        np.testing.assert_allclose(array(trace.y), race.losses[k, 0], rtol=1e-5, atol=1e-9)


def test_loss_figure_handles_negative_f_on_styblinski_tang():
    surface = SURFACES["styblinski_tang"]
    result = simulate("styblinski_tang", RACE, surface.start, 200)
    assert result.losses.min() < 0
    fig = figures.loss_figure(result)
    for k, trace in enumerate(fig.data):
        y = array(trace.y)
        assert (y > 0).all()
        np.testing.assert_allclose(y, result.losses[k, 0] - surface.f_min, rtol=1e-4, atol=1e-6)


def test_loss_figure_on_the_unbounded_saddle_measures_from_the_lowest_value_reached():
    result = simulate("saddle", RACE, SURFACES["saddle"].start, 100)
    fig = figures.loss_figure(result)
    assert "unknown" in fig.layout.yaxis.title.text
    lowest = min(array(trace.y).min() for trace in fig.data)
    assert 0 < lowest < 1e-3
    assert_all_finite(fig)


def test_loss_figure_marks_where_a_run_diverged(diverging):
    fig = figures.loss_figure(diverging)
    step = int(diverging.diverged_at[0, 0])
    (marker,) = [t for t in fig.data if t.mode == "markers"]
    assert marker.marker.symbol == "x" and array(marker.x)[0] == step - 1
    assert len(fig.data[0].x) == step  # the line stops at the last good point
    assert figures.divergence_note(diverging, 0) in marker.hovertemplate


def test_a_run_that_cannot_start_is_told_so_with_its_legend_name():
    surface = parse_surface("log(x) + y**2")
    runs = [("adam", {"lr": 0.1}), ("adam", {"lr": 0.2})]
    result = simulate(surface, runs, (-1.0, 0.5), 20)
    assert figures.divergence_note(result, 1) == (
        "Adam (α = 0.2) cannot start: f or its gradient is not finite at the start point"
    )


def test_distance_figure_measures_to_the_nearest_global_minimum():
    surface = SURFACES["himmelblau"]
    result = simulate("himmelblau", RACE, surface.start, 150)
    fig = figures.distance_figure(result)
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 3
    minima = np.array(surface.minima)
    for k, trace in enumerate(fig.data):
        expected = np.linalg.norm(result.paths[k, 0, :, None] - minima, axis=-1).min(-1)
        np.testing.assert_allclose(array(trace.y), expected, rtol=1e-5, atol=1e-9)
        assert trace.line.color == OPTIMIZERS[RACE[k][0]].color


def test_progress_figure_puts_loss_and_distance_side_by_side_with_one_legend(race):
    fig = figures.progress_figure(race)
    loss, distance = figures.loss_figure(race), figures.distance_figure(race)
    assert [a.text for a in fig.layout.annotations] == [
        loss.layout.title.text,
        distance.layout.title.text,
    ]
    assert len(fig.data) == len(loss.data) + len(distance.data)
    for panel, source in (("x", loss), ("x2", distance)):
        drawn = [t for t in fig.data if t.xaxis == panel]
        assert [array(t.y).tolist() for t in drawn] == [array(t.y).tolist() for t in source.data]
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == figures.run_names(race)  # each run once


def test_progress_figure_on_a_surface_without_a_minimum_is_the_loss_alone():
    result = simulate("saddle", RACE, SURFACES["saddle"].start, 10)
    assert figures.progress_figure(result) == figures.loss_figure(result)


def test_distance_figure_on_the_saddle_explains_there_is_no_minimum():
    result = simulate("saddle", RACE, SURFACES["saddle"].start, 20)
    fig = figures.distance_figure(result)
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == [curves.NO_MINIMUM_MESSAGE]


# ------------------------------------------------------------------------- Adam's internals


@pytest.mark.parametrize(("beta1", "beta2"), [(0.9, 0.999), (0.8, 0.99), (0.95, 0.99)])
def test_step_size_figure_draws_adams_section_2_1_bound(beta1, beta2):
    lr = 0.02
    runs = [("adam", {"lr": lr, "beta1": beta1, "beta2": beta2})]
    result = simulate("rosenbrock", runs, ROSENBROCK_START, 80)
    fig = figures.step_size_figure(result, 0)
    bound = lr * (1 - beta1) / math.sqrt(1 - beta2) if 1 - beta1 > math.sqrt(1 - beta2) else lr
    (bound_line,) = [y for name, y in horizontal_lines(fig).items() if "bound" in name]
    assert math.isclose(bound_line, bound, rel_tol=1e-6)
    assert math.isclose(min(horizontal_lines(fig).values()), lr, rel_tol=1e-6)
    assert "Adam" in fig.layout.title.text and fig.layout.yaxis.type == "log"
    steps = [t for t in fig.data if t.name in {"|Δx|", "|Δy|"}]
    assert len(steps) == 2 and steps[0].line.dash != steps[1].line.dash
    assert {t.line.color for t in steps} == {OPTIMIZERS["adam"].color}
    np.testing.assert_allclose(array(steps[0].y), np.abs(result.updates[0, 0, :, 0]), rtol=1e-6)


def test_step_size_figure_for_sgd_shows_only_alpha():
    result = simulate("rosenbrock", [("sgd", {"lr": 1e-3})], ROSENBROCK_START, 30)
    fig = figures.step_size_figure(result, 0)
    lines = horizontal_lines(fig)
    assert list(lines.values()) == [pytest.approx(1e-3)]
    assert not any("bound" in name for name in lines)
    assert "SGD" in fig.layout.title.text


def test_step_size_figure_for_adamax_bounds_the_step_by_alpha():
    result = simulate("rosenbrock", [("adamax", {"lr": 0.02})], ROSENBROCK_START, 30)
    (name,) = horizontal_lines(figures.step_size_figure(result, 0))
    assert "bound" in name and "α" in name


def top_bands(fig):
    """(title band, room above the plot) in px: the legend starts where the title band ends."""
    layout = fig.layout
    assert layout.title.yref == layout.legend.yref == "container"
    return (1 - layout.legend.y) * layout.height, layout.margin.t


def test_legends_have_rows_of_their_own_between_the_title_and_the_plot():
    # A wrapped legend once covered the title (step size) and the first panel's title (moments).
    runs = [("adam", {"lr": 0.01}), ("adam", {"lr": 0.01, "bias_correction": False})]
    result = simulate("rosenbrock", runs, ROSENBROCK_START, 30)
    bands = []
    for k in (0, 1):
        fig = figures.step_size_figure(result, k)
        band, top = top_bands(fig)
        assert top - band >= layout.LEGEND_ROW * len(fig.data)  # one row per entry fits
        bands.append(band)
    assert layout.TITLE_BAND <= bands[0] < bands[1]  # the warning is a second title line
    band, top = top_bands(figures.moments_figure(result, 0))
    assert top - band >= 2 * layout.LEGEND_ROW  # the legend, then the first panel's title


def test_step_size_figure_warns_when_adams_bias_correction_is_off():
    runs = [("adam", {"lr": 0.01}), ("adam", {"lr": 0.01, "bias_correction": False})]
    result = simulate("rosenbrock", runs, ROSENBROCK_START, 30)
    assert "Bias correction is off" not in figures.step_size_figure(result, 0).layout.title.text
    assert "Bias correction is off" in figures.step_size_figure(result, 1).layout.title.text


def test_step_size_figure_rejects_a_run_that_does_not_exist(race):
    with pytest.raises(ValueError, match="run index"):
        figures.step_size_figure(race, 3)


def test_moments_figure_shows_adams_gradient_m_hat_and_v_hat_in_rows(race):
    fig = figures.moments_figure(race, 2)
    rows = [axis.title.text for axis in fig.select_yaxes()]
    assert rows == ["g", "m̂", "v̂"]
    assert [axis.type for axis in fig.select_yaxes()] == ["linear", "linear", "log"]
    assert len(fig.data) == 2 * 3
    assert {t.line.color for t in fig.data} == {OPTIMIZERS["adam"].color}
    m_hat = race.moments(2)["m̂"]
    np.testing.assert_allclose(array(fig.data[2].y), m_hat[:, 0], rtol=1e-6)
    np.testing.assert_allclose(array(fig.data[0].y), race.grads[2, 0, :, 0], rtol=1e-6)


@pytest.mark.parametrize(("k", "rows"), [(0, ["g", "b"]), (1, ["g", "v"])])
def test_moments_figure_rows_follow_each_optimizers_state(race, k, rows):
    fig = figures.moments_figure(race, k)
    assert [axis.title.text for axis in fig.select_yaxes()] == rows
    assert OPTIMIZERS[RACE[k][0]].label in fig.layout.title.text


def test_bias_correction_ablation_shows_early_steps_blow_up_without_it():
    lr, beta1, beta2 = 0.01, 0.9, 0.9999
    hparams = {"lr": lr, "beta1": beta1, "beta2": beta2}
    ablation = analyses.bias_correction_race("rosenbrock", "adam", hparams, ROSENBROCK_START)
    fig = figures.bias_correction_figure(ablation)
    with_bc, without_bc = fig.data[0], fig.data[1]
    assert "with " in with_bc.name and "without" in without_bc.name
    assert math.isclose(array(with_bc.y)[0], lr, rel_tol=1e-3)  # Adam's first step is α
    blow_up = lr * (1 - beta1) / math.sqrt(1 - beta2)  # m/√v at t = 1, uncorrected: 10α here
    assert math.isclose(array(without_bc.y)[0], blow_up, rel_tol=1e-3)
    assert with_bc.line.color == without_bc.line.color == OPTIMIZERS["adam"].color
    assert_all_finite(fig)


# -------------------------------------------------------------------------- every builder


BUILDERS = {
    "race": figures.race_figure,
    "side_by_side": lambda r: figures.race_figure(r, side_by_side=True),
    "3d": lambda r: figures.surface_3d_figure(r, grid=30),
    "loss": figures.loss_figure,
    "distance": figures.distance_figure,
    "step_size": lambda r: figures.step_size_figure(r, 0),
    "moments": lambda r: figures.moments_figure(r, 0),
    "online": lambda r: experiment_figures.online_figure(
        r, np.cumsum(r.losses[:, 0, :-1], axis=1) / np.arange(1, r.steps + 1)
    ),
    "fixed_points": lambda r: experiment_figures.fixed_points_figure(
        r, [(f"fixed point {k}", (0.0, 0.0)) for k in range(len(r.runs))]
    ),
}


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("surface_key", ["rosenbrock", "saddle", "styblinski_tang"])
def test_every_builder_sends_only_finite_numbers(builder, surface_key):
    runs = [*DIVERGING, ("rmsprop", {"lr": 0.5})] if surface_key == "rosenbrock" else RACE
    result = simulate(surface_key, runs, SURFACES[surface_key].start, 40)
    assert_all_finite(BUILDERS[builder](result))


FIGURE_MODULES = sorted((Path(figures.__file__).parent).glob("*.py"))


@pytest.mark.parametrize("path", FIGURE_MODULES, ids=lambda path: path.stem)
def test_figure_modules_are_pure_and_never_run_the_engine(path):
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and id(node) not in type_only
    }
    assert not any(name and name.startswith("streamlit") for name in imported)
    assert "optviz.trajectories" not in imported  # results in, figures out: never simulate
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"show", "write_html", "write_image", "write_json"}


def test_the_csv_gives_each_row_the_gradient_at_its_point_and_everything_to_redo_the_race():
    surface = SURFACES["noisy_quadratic"]
    runs = [("adam", {"lr": 0.05}), ("sgd", {"lr": 0.01})]
    schedules = [("step", {"step_size": 5, "gamma": 0.5}), None]
    result = simulate(surface, runs, surface.start, 20, seed=7, schedules=schedules)
    rows = list(csv.DictReader(io.StringIO(export.trajectories_csv(result, seed=7))))
    assert len(rows) == 2 * 21
    assert {row["schedule"] for row in rows if row["optimizer"] == "adam"} == {
        "step (step_size = 5, gamma = 0.5)"
    }
    assert {row["schedule"] for row in rows if row["optimizer"] == "sgd"} == {"constant"}
    adam = [row for row in rows if row["optimizer"] == "adam"]
    for t, row in enumerate(adam):
        assert (row["surface"], float(row["sigma"]), row["seed"]) == (
            surface.label,
            surface.noise,
            "7",
        )
        assert (float(row["x"]), float(row["y"])) == tuple(result.paths[0, 0, t])
        if t < 20:  # the gradient the step from θ_t used, noise included
            assert (float(row["grad_x"]), float(row["grad_y"])) == tuple(result.grads[0, 0, t])
    # At t = T no step follows: ∇f(θ_T), noiseless.
    _, grad = surface.value_and_grad(torch.as_tensor(result.paths[0, 0, -1]))
    np.testing.assert_allclose([float(adam[-1]["grad_x"]), float(adam[-1]["grad_y"])], grad)
    assert float(adam[0]["beta2"]) == 0.999 and adam[0]["bias_correction"] == "True"
    sgd = [row for row in rows if row["optimizer"] == "sgd"]
    assert sgd[0]["beta2"] == "" and float(sgd[0]["lr"]) == 0.01


def test_log_axes_are_labelled_at_powers_of_ten_only_at_most_six_of_them():
    assert layout.log_axis([np.array([1e-9, 1.0, 1e3])])["dtick"] == 2  # 12 decades, 6 labels
    assert layout.log_axis([np.array([0.01, 5.0]), np.array([np.nan, 0.0, 3.0])])["dtick"] == 1
    assert "dtick" not in layout.log_axis([np.array([2.0, 9.0])])  # under a decade: Plotly's
    result = simulate("rosenbrock", [("adam", {"lr": 0.05})], ROSENBROCK_START, 2000)
    for fig in (figures.loss_figure(result), figures.step_size_figure(result, 0)):
        assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick >= 1
