"""The race: every run's path on the surface's contour, animated client-side.

The race figure is the one that has to be light to ship: its animation runs in the browser, and
Plotly has no "draw only the first n points" switch, so every frame carries each path up to its
step (never subsampled: the zig-zag of SGD and momentum is the lesson). The payload therefore
grows as frames × steps. Frames carry only the path and head traces; coordinates go out as
float32 typed arrays, and ``_frame_steps`` lowers the number of frames so the frames stay within
``FRAME_BYTES_BUDGET`` (``benchmarks/bench_explorer.py`` prints the payload of the default
views).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.labels import (
    diverged_phrase,
    divergence_note,
    last_good,
    run_color,
    run_dash,
    run_names,
)
from optviz.figures.layout import (
    FIGURE_HEIGHT,
    OUTLINE,
    base_layout,
    panel_axes,
    panel_refs,
    subplots_layout,
)
from optviz.figures.surface import (
    CONTOUR_COLORSCALE,
    CONTOUR_LEVELS,
    CONTOUR_LINE,
    MINIMUM_COLOR,
    ZScale,
    surface_layers,
)
from optviz.figures.transport import f32, json_bytes_per_point, typed
from optviz.surfaces import Surface

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

# Frames carry each path in full up to their step, so their size grows as frames × steps; this
# caps their JSON, which keeps every one-panel race under about 0.8 MB with the contour. The
# price is fewer frames for long races: a frame then advances several steps, but still shows
# every step of the path behind it.
FRAME_BYTES_BUDGET = 650_000
FRAME_TRACE_BYTES = 100  # JSON around each trace of a frame: type, dtype, base64 padding …
PLAY_SECONDS = 6.0  # one full playback, whatever the number of frames
MAX_COLUMNS = 4  # side-by-side panels per row


def _frame_steps(
    steps: int, frames: int, last_good: Sequence[int], point_bytes: Sequence[float]
) -> np.ndarray:
    """Evenly spaced frame steps over 0 … T, always with 0 and T, at most ``frames`` of them,
    and fewer if the frames' paths (each drawn in full up to its step, run k costing
    ``point_bytes[k]`` a point) would exceed ``FRAME_BYTES_BUDGET``. A diverged run stops at
    ``last_good`` and costs less."""
    chosen = np.array([0])
    for n in range(min(frames, steps + 1), 0, -1):
        chosen = np.unique(np.rint(np.linspace(0, steps, n)).astype(int))
        size = sum(
            cost * (int(np.minimum(chosen, last).sum()) + len(chosen))
            for last, cost in zip(last_good, point_bytes, strict=True)
        )
        size += len(chosen) * 2 * len(last_good) * FRAME_TRACE_BYTES  # path and head traces
        if size <= FRAME_BYTES_BUDGET or len(chosen) <= 2:
            break
    return chosen


def _clamp_to_window(surface: Surface, x: float, y: float) -> tuple[float, float]:
    # An annotation anchored outside the axis range is not drawn; paths may escape the window.
    x_min, x_max, y_min, y_max = surface.bounds
    return float(np.clip(x, x_min, x_max)), float(np.clip(y, y_min, y_max))


def race_figure(
    result: Trajectories, *, frames: int = 100, side_by_side: bool = False, grid: int = 120
) -> go.Figure:
    """The optimizers' paths on the surface's contour, animated client-side.

    The initial data is the final state (complete paths), so the figure is informative before
    Play is pressed; the slider's last position matches it. Each frame updates only the path
    and head traces (named by ``traces``), so the contour is sent once.

    Args:
        result: what ``simulate`` returned; start b = 0 is drawn.
        frames: at most this many animation frames, evenly spaced over steps 0 … T (always
            including both); fewer when a long race would exceed the payload budget.
        side_by_side: one panel per run (up to 4 per row, shared axes) instead of one overlay;
            one slider drives every panel.
        grid: contour resolution (grid × grid samples); side-by-side panels use proportionally
            fewer, since they are smaller.

    Raises:
        ValueError: ``frames`` < 2 or an invalid ``grid``.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer of at least 2, got {frames!r}")
    surface, K = result.surface, len(result.runs)
    last = [last_good(result, k) for k in range(K)]

    # The figure is assembled as plain dicts and validated by plotly once, at the end: plotly's
    # incremental calls (add_trace, update_layout …) cost several times as much each.
    if side_by_side:
        columns = min(MAX_COLUMNS, K)
        rows = math.ceil(K / columns)
        layout = subplots_layout(
            rows,
            columns,
            run_names(result),
            shared_xaxes="all",
            shared_yaxes="all",
            horizontal_spacing=0.03,
            vertical_spacing=0.08 if rows > 1 else 0.0,
        )
        # K contours are sent, not one; fewer samples in smaller panels keep the bytes the same.
        grid = max(40, round(grid / math.sqrt(K)))
        panel_of_run = list(range(K))
        height = max(FIGURE_HEIGHT, 110 + 300 * rows)
    else:
        layout = {"xaxis": {}, "yaxis": {}}
        panel_of_run = [0] * K
        height = FIGURE_HEIGHT

    surface_traces, images, scale, z_min, z_max = _surface_traces(
        result, grid, max(panel_of_run) + 1
    )
    path_traces, head_traces, notes = _run_traces(result, panel_of_run)
    first_path = len(surface_traces)
    animated = list(range(first_path, first_path + 2 * K))  # the paths, then the heads

    xy = [f32(result.paths[k, 0, : last[k] + 1]) for k in range(K)]  # (n, 2) each, as sent
    point_bytes = [json_bytes_per_point(points) for points in xy]
    steps = _frame_steps(result.steps, frames, last, point_bytes)
    frame_list = [
        {
            "name": str(step),
            "traces": animated,
            "data": [_path_frame(xy[k], step) for k in range(K)]
            + [_head_frame(result, k, xy[k], step, last[k]) for k in range(K)],
        }
        for step in steps
    ]

    x_min, x_max, y_min, y_max = surface.bounds
    layout |= base_layout(
        None,
        height=height,
        margin={"l": 10, "r": 10, "t": 70 if side_by_side else 40, "b": 80},
        # At the top of the figure, clear of the panels' titles.
        legend={"orientation": "h", "yref": "container", "y": 1.0, "yanchor": "top", "x": 0.0},
        # Zoom survives reruns (slider moves) on the same surface, and resets on a new one.
        uirevision=f"race|{surface.key}|{surface.label}|{surface.bounds}",
        coloraxis={
            "colorscale": CONTOUR_COLORSCALE,
            "cmin": z_min,
            "cmax": z_max,
            "colorbar": {"thickness": 12, "len": 0.9, **scale.colorbar(z_min, z_max)},
        },
        annotations=[*layout.get("annotations", ()), *notes],
        images=images,
        **_animation_controls(steps),
    )
    # Fixed to the surface window (paths that leave it are clipped by the view, not the data).
    # Equal scale on both axes: steps cross contour lines at right angles only then, and the
    # shape of a valley is the point of the picture; the plot area shrinks to keep it.
    for name in [name for name in layout if name.startswith(("xaxis", "yaxis"))]:
        axis = layout[name] | {"constrain": "domain", "showgrid": False, "zeroline": False}
        if name.startswith("xaxis"):
            axis["range"] = [x_min, x_max]
        else:
            axis |= {"range": [y_min, y_max], "scaleanchor": axis.get("anchor", "x")}
            axis["scaleratio"] = 1
        layout[name] = axis
    return go.Figure(
        data=surface_traces + path_traces + head_traces, layout=layout, frames=frame_list
    )


def _surface_traces(
    result: Trajectories, grid: int, panels: int
) -> tuple[list[dict], list[dict], ZScale, float, float]:
    """Contour, minima and start in each of ``panels`` panels, and the raster backdrops under
    them; returns the traces, the images, the z scale and the z range."""
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
                "type": "contour",
                "x": f32(xs),
                "y": f32(ys),
                "z": f32(z),
                "coloraxis": "coloraxis",
                "autocontour": False,
                "contours": {
                    "start": z_min,
                    "end": z_max,
                    "size": max((z_max - z_min) / CONTOUR_LEVELS, 1e-12),
                    "coloring": "fill",
                },
                "line": {"color": CONTOUR_LINE, "width": 0.6},
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
                    "type": "scatter",
                    "x": f32(minima[:, 0]),
                    "y": f32(minima[:, 1]),
                    "mode": "markers",
                    "marker": {
                        "symbol": "star",
                        "size": 17,
                        "color": MINIMUM_COLOR,
                        "line": {"color": OUTLINE, "width": 1.5},
                    },
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
                "x": f32(start[:1]),
                "y": f32(start[1:]),
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
) -> tuple[list[dict], list[dict], list[dict]]:
    """Each run's complete path and its head (drawn after every path, so heads sit on top), in
    the run's panel, and a note on each diverged run. Returns paths, heads and notes."""
    names = run_names(result)
    x_min, x_max, y_min, y_max = result.surface.bounds
    paths, heads, notes = [], [], []
    for k, panel in enumerate(panel_of_run):
        last = last_good(result, k)
        path = result.paths[k, 0, : last + 1]  # (last + 1, 2)
        end = path[-1]  # (2,)
        note = divergence_note(result, k, names[k])
        name = names[k] if note is None else f"{names[k]}, {diverged_phrase(result, k)}"
        paths.append(
            {
                "type": "scatter",
                "x": f32(path[:, 0]),
                "y": f32(path[:, 1]),
                # Hover indices match in every frame: a frame's path is a prefix of this one.
                "customdata": f32(result.losses[k, 0, : last + 1]),
                "mode": "lines+markers",
                "line": {"color": run_color(result, k), "width": 2, "dash": run_dash(result, k)},
                "marker": {"size": 3, "color": run_color(result, k)},
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
                "x": f32(end[:1]).tolist(),
                "y": f32(end[1:]).tolist(),
                "mode": "markers",
                "marker": _head_marker(result, k, diverged=note is not None),
                "name": names[k],
                "legendgroup": names[k],
                "showlegend": False,
                "hovertemplate": f"{note or names[k]}<br>x=%{{x:.4g}}, y=%{{y:.4g}}<extra></extra>",
                **panel_axes(panel),
            }
        )
        if note is not None:
            ax, ay = _clamp_to_window(result.surface, end[0], end[1])
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
    return paths, heads, notes


def _animation_controls(steps: np.ndarray) -> dict[str, list[dict]]:
    """Play / Pause buttons and a step slider animating the frames named by ``steps``.

    ``redraw: False`` keeps playback to the path updates; the contour trace vanishes while it
    runs (see ``backdrop``), and the raster backdrop shows the surface meanwhile.
    """
    frame_ms = int(np.clip(1000 * PLAY_SECONDS / len(steps), 20, 300))
    still = {
        "frame": {"duration": 0, "redraw": False},
        "mode": "immediate",
        "transition": {"duration": 0},
    }
    play = {
        "frame": {"duration": frame_ms, "redraw": False},
        "fromcurrent": True,
        "mode": "immediate",
        "transition": {"duration": 0},
    }
    buttons = {
        "type": "buttons",
        "direction": "left",
        "showactive": False,
        "x": 0.0,
        "y": 0.0,
        "xanchor": "left",
        "yanchor": "top",
        "pad": {"t": 45, "r": 10},
        "buttons": [
            {"label": "▶ Play", "method": "animate", "args": [None, play]},
            {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]},
        ],
    }
    slider = {
        "active": len(steps) - 1,  # the initial data is the last frame
        "x": 0.16,
        "len": 0.84,
        "y": 0.0,
        "yanchor": "top",
        "pad": {"t": 30},
        "currentvalue": {
            "prefix": "step t = ",
            "xanchor": "right",
            "font": {"color": OUTLINE, "size": 13},  # its own colour: the ticks' is transparent
        },
        # One tick label per frame would overlap; the current value shows the step.
        "font": {"color": "rgba(0, 0, 0, 0)"},
        "ticklen": 0,
        "minorticklen": 0,
        "steps": [
            {"label": str(step), "method": "animate", "args": [[str(step)], still]}
            for step in steps
        ],
    }
    return {"updatemenus": [buttons], "sliders": [slider]}


def _head_marker(result: Trajectories, k: int, *, diverged: bool) -> dict:
    return {
        "symbol": "x" if diverged else "circle",
        "size": 13 if diverged else 11,
        "color": run_color(result, k),
        "line": {"color": run_color(result, k) if diverged else OUTLINE, "width": 1.5},
    }


def _path_frame(xy: np.ndarray, step: int) -> dict:
    """A frame's path: the run's points ``xy`` ``(n, 2)`` (float32, up to its last good one)
    up to ``step``, every step."""
    path = xy[: step + 1]
    return {"type": "scatter", "x": typed(path[:, 0]), "y": typed(path[:, 1])}


def _head_frame(result: Trajectories, k: int, xy: np.ndarray, step: int, last: int) -> dict:
    head = xy[min(step, last)]  # (2,) float32
    # One point as a plain list: plotly validates a list of one number several times faster
    # than a numpy array, and the heads are half of all the arrays in the frames.
    frame: dict = {"type": "scatter", "x": [float(head[0])], "y": [float(head[1])]}
    if last < result.steps:
        # A diverging run's head turns into the × once the frame passes its last good point;
        # every frame says which, so scrubbing back turns it into a circle again.
        frame["marker"] = _head_marker(result, k, diverged=step > last)
    return frame
