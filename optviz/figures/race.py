"""The race: every run's path on the surface's contour, played in the browser.

The figure holds each run's complete path once (float32 typed arrays, never subsampled: the
zig-zag of SGD and momentum is the lesson) and no animation frames: the race player
(``race_player.js``, mounted under the chart by ``optviz.ui.race_player`` and inlined in the HTML
export) cuts the paths at step t in the browser. So the payload grows with the steps, not with
frames × steps, and every step is a frame of the playback.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import torch

from optviz.figures.labels import (
    divergence_note,
    last_good,
    left_window_note,
    run_color,
    run_dash,
    run_names,
)
from optviz.figures.layout import (
    LEGEND_ROW,
    OUTLINE,
    base_layout,
    panel_axes,
    panel_refs,
    subplots_layout,
)
from optviz.figures.surface import (
    CONTOUR_COLORSCALE,
    ZScale,
    minima_markers,
    surface_layers,
)
from optviz.figures.transport import f32, typed

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

MAX_COLUMNS = 4  # side-by-side panels per row
PLOT_BOX = (640, 540)  # px: the largest plot area of a one-panel race (width, height)
SIDE_BY_SIDE_WIDTH = 980  # px: the page's main column at 1440 px with the sidebar open
PANEL_SPACING = 0.03  # side by side: the gap between panels, a fraction of the plot width
PANEL_TITLE, ROW_GAP = 28, 56  # px: above the first row's panels, and between rows
MARGIN = {"l": 48, "r": 80, "b": 30}  # px: tick labels, and the colour bar on the right
COLORBAR = {
    "thickness": 12,
    "len": 1.0,
    "x": 1.0,
    "xpad": 10,
    "outlinewidth": 0,
}  # just right of the plot
COLORBAR_LABEL = 45  # px of colour bar per label
GRID = 120  # samples per axis of the one-panel race's surface (its backdrop is finer still)
HOVER_STRIDE = 2  # the hover layer takes every second sample of the surface's grid
STEPS_PER_SECOND = 60  # Play's pace: one step a display frame on a 60 Hz screen …
PLAY_SECONDS = (3.0, 12.0)  # … within these bounds for one full playback
# The player's script (see its header), for the app's component and the HTML export.
PLAYER_JS = (Path(__file__).parent / "race_player.js").read_text(encoding="utf-8")


def play_seconds(steps: int) -> float:
    """How long Play takes to run a race of ``steps`` steps from start to end."""
    return float(np.clip(steps / STEPS_PER_SECOND, *PLAY_SECONDS))


def race_id(result: Trajectories) -> str:
    """Names a race's figure for its player: the same paths give the same id."""
    return hashlib.blake2b(f32(result.paths[:, 0]).tobytes(), digest_size=8).hexdigest()


def window_exit(result: Trajectories, k: int) -> tuple[int, np.ndarray] | None:
    """Where run k's path (start b = 0) first leaves the plot window: the step s whose point
    lies outside it, and the point where the segment from step s − 1 crosses the window's edge;
    None if the path stays inside up to its last finite point."""
    x_min, x_max, y_min, y_max = result.surface.bounds
    path = result.paths[k, 0, : last_good(result, k) + 1]  # (n, 2)
    outside = (
        (path[:, 0] < x_min) | (path[:, 0] > x_max) | (path[:, 1] < y_min) | (path[:, 1] > y_max)
    )
    if not outside.any():
        return None
    step = int(np.argmax(outside))
    if step == 0:  # a start outside the window (a link can give one): nothing inside to draw
        return 0, path[0]
    inside, beyond = path[step - 1], path[step]
    # The largest fraction of the segment that stays within every bound.
    fraction = 1.0
    for axis, (low, high) in enumerate(((x_min, x_max), (y_min, y_max))):
        delta = beyond[axis] - inside[axis]
        if beyond[axis] > high:
            fraction = min(fraction, (high - inside[axis]) / delta)
        elif beyond[axis] < low:
            fraction = min(fraction, (low - inside[axis]) / delta)
    return step, inside + fraction * (beyond - inside)


def race_figure(result: Trajectories, *, side_by_side: bool = False, grid: int = GRID) -> go.Figure:
    """``race_spec`` as a plotly figure (validated)."""
    return go.Figure(race_spec(result, side_by_side=side_by_side, grid=grid))


def race_spec(result: Trajectories, *, side_by_side: bool = False, grid: int = GRID) -> dict:
    """The optimizers' paths on the surface's contour, ready for the race player: a figure as
    plain JSON-ready data (arrays as plotly's base64 typed arrays), which the app sends as it is
    (validating a figure this size costs more than drawing it; ``race_figure`` validates).

    The data is the final state (complete paths), so the figure is informative before Play is
    pressed. ``layout.meta.race`` holds what the player (``race_player.js``) animates: each
    run's path as float32 base64, the indices of its path and head traces, its last drawn step
    and its head's markers before and after that step. A path that leaves the window is cut
    where it crosses the edge, its head becomes an arrow there and a note says when.

    Args:
        result: what ``simulate`` returned; start b = 0 is drawn.
        side_by_side: one panel per run (up to 4 per row, shared axes) instead of one overlay;
            one player drives every panel.
        grid: contour resolution (grid × grid samples); side-by-side panels use proportionally
            fewer, since they are smaller.

    Raises:
        ValueError: an invalid ``grid``.
    """
    surface, K = result.surface, len(result.runs)

    # The figure is assembled as plain dicts and validated by plotly once, at the end: plotly's
    # incremental calls (add_trace, update_layout …) cost several times as much each.
    # K surfaces are sent side by side, not one; fewer samples in smaller panels keep the bytes.
    if side_by_side:
        grid = max(40, round(grid / math.sqrt(K)))
    panel_of_run = list(range(K)) if side_by_side else [0] * K
    surface_traces, images, scale, z_min, z_max = _surface_traces(
        result, grid, max(panel_of_run) + 1
    )
    path_traces, head_traces, notes, runs = _run_traces(result, panel_of_run)
    first_path = len(surface_traces)
    for k, run in enumerate(runs):
        run |= {"path": first_path + k, "head": first_path + K + k}

    legend = ["global minimum", "start", *(t["name"] for t in path_traces)]
    if side_by_side:
        columns = min(MAX_COLUMNS, K)
        rows = math.ceil(K / columns)
        size, colorbar, row_gap = _fitted_grid_size(surface.bounds, rows, columns, legend)
        layout = subplots_layout(
            rows,
            columns,
            run_names(result),
            shared_xaxes="all",
            shared_yaxes="all",
            horizontal_spacing=PANEL_SPACING,
            vertical_spacing=row_gap,
        )
    else:
        layout = {"xaxis": {}, "yaxis": {}}
        size, colorbar = _fitted_size(surface.bounds, legend)
    plot_height = size["height"] - size["margin"]["t"] - size["margin"]["b"]
    labels = max(3, min(7, plot_height // COLORBAR_LABEL))  # the colour bar's, not crowded
    layout |= base_layout(
        None,
        **size,
        # At the top of the figure, clear of the panels' titles.
        legend={"orientation": "h", "yref": "container", "y": 1.0, "yanchor": "top", "x": 0.0},
        # Zoom survives reruns (slider moves) on the same surface, and resets on a new one.
        uirevision=f"race|{surface.key}|{surface.label}|{surface.bounds}",
        coloraxis={
            "colorscale": CONTOUR_COLORSCALE,
            "cmin": z_min,
            "cmax": z_max,
            "colorbar": colorbar | scale.colorbar(z_min, z_max, most=labels),
        },
        annotations=[*layout.get("annotations", ()), *notes],
        images=images,
        meta={
            "race": {
                "id": race_id(result),
                "steps": result.steps,
                "seconds": play_seconds(result.steps),
                "runs": runs,
            }
        },
    )
    # Fixed to the surface window (paths are cut where they leave it). Equal scale on both
    # axes: steps cross contour lines at right angles only then, and the shape of a valley is
    # the point of the picture; the plot area shrinks to keep it.
    x_min, x_max, y_min, y_max = surface.bounds
    for name in [name for name in layout if name.startswith(("xaxis", "yaxis"))]:
        axis = layout[name] | {"constrain": "domain", "showgrid": False, "zeroline": False}
        axis["automargin"] = False  # the margins are fixed (see _margin): nothing to measure
        if name.startswith("xaxis"):
            axis["range"] = [x_min, x_max]
        else:
            axis |= {"range": [y_min, y_max], "scaleanchor": axis.get("anchor", "x")}
            axis["scaleratio"] = 1
        layout[name] = axis
    return {"data": surface_traces + path_traces + head_traces, "layout": layout}


def _fitted_size(
    bounds: tuple[float, float, float, float], legend: Sequence[str]
) -> tuple[dict, dict]:
    """The one-panel race's size in pixels, and its colour bar: the plot area takes the window's
    shape (equal scale) within ``PLOT_BOX``, the figure wraps it tightly (the legend's rows on
    top, the colour bar just right of the plot), so the page can set the chart beside its text
    instead of centring a square in a wide, empty figure."""
    x_min, x_max, y_min, y_max = bounds
    aspect = (x_max - x_min) / (y_max - y_min)
    width = min(PLOT_BOX[0], PLOT_BOX[1] * aspect)
    height = width / aspect
    margin = _margin(round(width) + MARGIN["l"] + MARGIN["r"], legend)
    size = {"width": round(width) + margin["l"] + margin["r"]}
    size["height"] = round(height) + margin["t"] + margin["b"]
    return size | {"margin": margin}, COLORBAR


def _fitted_grid_size(
    bounds: tuple[float, float, float, float], rows: int, columns: int, legend: Sequence[str]
) -> tuple[dict, dict, float]:
    """Side by side: the size of a ``SIDE_BY_SIDE_WIDTH`` figure whose panels take the window's
    shape (equal scale, at most ``PLOT_BOX`` tall), its colour bar, and the vertical spacing
    between rows that leaves ``ROW_GAP`` px for the next row's titles. The figure is as tall as
    its panels, with no empty bands above and below them."""
    x_min, x_max, y_min, y_max = bounds
    aspect = (x_max - x_min) / (y_max - y_min)
    margin = _margin(SIDE_BY_SIDE_WIDTH, legend)
    margin["t"] += PANEL_TITLE  # the first row's titles
    plot_width = SIDE_BY_SIDE_WIDTH - margin["l"] - margin["r"]
    panel_width = plot_width * (1 - PANEL_SPACING * (columns - 1)) / columns
    panel_height = min(panel_width / aspect, PLOT_BOX[1])
    plot_height = rows * panel_height + (rows - 1) * ROW_GAP
    size = {"width": SIDE_BY_SIDE_WIDTH, "height": round(plot_height) + margin["t"] + margin["b"]}
    return size | {"margin": margin}, COLORBAR, ROW_GAP / plot_height if rows > 1 else 0.0


def _margin(figure_width: float, legend: Sequence[str]) -> dict:
    """``MARGIN`` with the top band holding the ``legend``'s rows. The margins are fixed
    (``autoexpand`` off), so plotly.js does not measure legend and colour bar and redraw."""
    rows = _legend_rows(legend, figure_width)
    return MARGIN | {"t": 12 + LEGEND_ROW * rows, "autoexpand": False}


def _legend_rows(names: Sequence[str], width: float) -> int:
    """Rows a horizontal legend of ``names`` wraps into in a figure ``width`` px wide (Plotly's
    12 px font: ≈ 6.5 px a character, 45 px for each item's symbol and gap)."""
    rows, used = 1, 0.0
    for name in names:
        item = 45 + 6.5 * len(name)
        if used and used + item > width:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def _surface_traces(
    result: Trajectories, grid: int, panels: int
) -> tuple[list[dict], list[dict], ZScale, float, float]:
    """The surface, minima and start in each of ``panels`` panels; returns the traces, the
    images, the z scale and the z range.

    The surface is drawn once, as the raster backdrop (filled contour bands and their lines,
    ``surface_layers``), a layout image under the plot. Over it lies an invisible heatmap of the
    samples (every ``HOVER_STRIDE``-th: hover reads f at the nearest of 60 × 60 points, a quarter
    of the bytes): it gives the hover (x, y, f) and carries the colour bar, and the browser draws
    it in a few milliseconds. A contour trace would draw the same picture again, and its
    marching squares and line smoothing were the largest part of the browser's redraw after a
    slider move.
    """
    surface = result.surface
    x_min, x_max, y_min, y_max = surface.bounds
    xs, ys, z, scale, backdrop = surface_layers(surface, grid)
    z_min, z_max = float(z.min()), float(z.max())
    start = result.paths[0, 0, 0]  # (2,) every run starts here
    minima = np.asarray(surface.minima, dtype=np.float64).reshape(-1, 2)  # (M, 2)

    traces, images = [], []
    for p in range(panels):
        traces.append(
            {
                "type": "heatmap",
                "x": typed(xs[::HOVER_STRIDE]),
                "y": typed(ys[::HOVER_STRIDE]),
                "z": typed(z[::HOVER_STRIDE, ::HOVER_STRIDE]),
                "coloraxis": "coloraxis",
                "opacity": 0,  # the backdrop shows the surface; this layer hovers
                "zsmooth": False,
                "name": surface.label,
                "hovertemplate": (
                    "x=%{x:.3f}, y=%{y:.3f}<br>"
                    + ("log₁₀(f − f*) = %{z:.2f}" if scale.log else "f = %{z:.4g}")
                    + "<extra></extra>"
                ),
                **panel_axes(p),
            }
        )
        images.append(
            {
                "source": backdrop,
                "x": x_min,
                "y": y_max,
                "sizex": x_max - x_min,
                "sizey": y_max - y_min,
                "xanchor": "left",
                "yanchor": "top",
                "sizing": "stretch",
                "layer": "below",
                **panel_refs(p),
            }
        )
        if len(minima):
            traces.append(
                {
                    **minima_markers(minima, 17, 1.5),
                    "name": "global minimum",
                    "legendgroup": "minimum",
                    "showlegend": p == 0,
                    "hovertext": [f"global minimum ({mx:.4g}, {my:.4g})" for mx, my in minima],
                    "hovertemplate": "%{hovertext}<extra></extra>",
                    **panel_axes(p),
                }
            )
        traces.append(
            {
                "type": "scatter",
                "x": typed(start[:1]),
                "y": typed(start[1:]),
                "mode": "markers",
                "marker": {
                    "symbol": "square",
                    "size": 10,
                    "color": "white",
                    "line": {"color": OUTLINE, "width": 2},
                },
                "name": "start",
                "legendgroup": "start",
                "showlegend": p == 0,
                "hovertemplate": f"start ({start[0]:.4g}, {start[1]:.4g})<extra></extra>",
                **panel_axes(p),
            }
        )
    return traces, images, scale, z_min, z_max


def _run_traces(
    result: Trajectories, panel_of_run: Sequence[int]
) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Each run's drawn path (up to its last finite point inside the window) and its head
    (drawn after every path, so heads sit on top), in the run's panel; a note on each run that
    diverged or left the window; and what the player needs of each run. Returns paths, heads,
    notes and the player's runs."""
    names = run_names(result)
    x_min, x_max, y_min, y_max = result.surface.bounds
    paths, heads, notes, runs = [], [], [], []
    for k, panel in enumerate(panel_of_run):
        last = last_good(result, k)
        path = result.paths[k, 0, : last + 1]  # (last + 1, 2)
        losses = result.losses[k, 0, : last + 1]
        exit_ = window_exit(result, k)
        note = divergence_note(result, k, names[k])
        marker = _head_marker(result, k, "circle")
        ended = _head_marker(result, k, "x") if note else marker
        if exit_ is not None:
            step, edge = exit_
            path = np.concatenate([path[:step], edge[None]])
            losses = np.append(losses[:step], float(result.surface.f(torch.as_tensor(edge))))
            last = len(path) - 1
            before = path[-2] if len(path) > 1 else edge
            # A run that later diverged keeps its ✕, at its last point inside the window.
            if note is None:
                ended = _head_marker(result, k, "arrow", _bearing(before, edge))
            note = left_window_note(
                names[k], step, diverged=note is not None and result.diverged_at[k, 0]
            )
        xy = f32(path)
        end = xy[-1]
        name = names[k] if note is None else f"{names[k]}, {note.removeprefix(names[k] + ' ')}"
        paths.append(
            {
                "type": "scatter",
                "x": typed(xy[:, 0]),
                "y": typed(xy[:, 1]),
                # Hover indices match at every step: the player draws a prefix of this path.
                "customdata": typed(losses),
                "mode": "lines",
                "line": {"color": run_color(result, k), "width": 2, "dash": run_dash(result, k)},
                "name": name,
                "legendgroup": names[k],
                "hovertemplate": (
                    f"{names[k]}<br>step %{{pointNumber}}<br>"
                    "x=%{x:.4g}, y=%{y:.4g}<br>f=%{customdata:.4g}<extra></extra>"
                ),
                **panel_axes(panel),
            }
        )
        heads.append(
            {
                "type": "scatter",
                "x": [float(end[0])],
                "y": [float(end[1])],
                "mode": "markers",
                "marker": ended,
                "name": names[k],
                "legendgroup": names[k],
                "showlegend": False,
                "hovertemplate": f"{note or names[k]}<br>x=%{{x:.4g}}, y=%{{y:.4g}}<extra></extra>",
                **panel_axes(panel),
            }
        )
        # The player's run: the complete drawn path, and the head's marker up to and after
        # ``last`` (a diverged run's becomes the ×, one that left the window an arrow).
        runs.append(
            {"x": _base64(xy[:, 0]), "y": _base64(xy[:, 1]), "last": last}
            | {"marker": marker, "ended": ended}
        )
        if note is not None:
            ax, ay = float(end[0]), float(end[1])
            notes.append(
                {
                    "x": ax,
                    "y": ay,
                    "text": note,
                    "font": {"color": run_color(result, k), "size": 12},
                    "bgcolor": "rgba(255, 255, 255, 0.85)",
                    "arrowcolor": run_color(result, k),
                    "showarrow": True,
                    # The label sits towards the window's centre, so it stays inside the plot.
                    "ax": -40 if ax > (x_min + x_max) / 2 else 40,
                    "ay": 30 if ay > (y_min + y_max) / 2 else -30,
                    **panel_refs(panel),
                }
            )
    return paths, heads, notes, runs


def _head_marker(result: Trajectories, k: int, symbol: str, angle: float = 0.0) -> dict:
    outline = run_color(result, k) if symbol == "x" else OUTLINE
    return {
        "symbol": symbol,
        "size": 11 if symbol == "circle" else 14,
        "angle": angle,
        "color": run_color(result, k),
        "line": {"color": outline, "width": 1.5},
    }


def _bearing(before: np.ndarray, after: np.ndarray) -> float:
    """The direction from ``before`` to ``after`` as a marker angle: degrees clockwise from up."""
    dx, dy = (float(v) for v in after - before)
    return math.degrees(math.atan2(dx, dy)) if dx or dy else 0.0


def _base64(values: np.ndarray) -> str:
    return typed(values)["bdata"]
