"""Curves against the step: the loss gap to the optimum and the distance to the minimum, apart
or side by side in one figure (``progress_figure``, the explorer's: one chart to draw, not two)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.labels import divergence_note, last_good, run_color, run_dash, run_names
from optviz.figures.layout import (
    axis_keys,
    base_layout,
    diverged_trace,
    log_axis,
    message,
    panel_axes,
    positive_for_log,
    subplots_layout,
)
from optviz.figures.transport import f32

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

NO_MINIMUM_MESSAGE = "this surface has no minimum to measure distance to"


@dataclass(frozen=True)
class _Curves:
    """One chart's worth of curves: ``series[k]`` is run k's positive values for steps 0 … T."""

    series: list[np.ndarray]
    title: str
    y_title: str


def _curve_traces(result: Trajectories, curves: _Curves) -> list[dict]:
    """One log-y line per run against the step, ending in × where the run diverged (cut at
    its last good point: the engine only holds it there afterwards)."""
    names = run_names(result)
    traces = []
    for k, values in enumerate(curves.series):
        last = last_good(result, k)
        traces.append(
            {
                "type": "scatter",
                "x": np.arange(last + 1, dtype=np.int32),
                "y": f32(values[: last + 1]),
                "mode": "lines",
                "line": {"color": run_color(result, k), "width": 2, "dash": run_dash(result, k)},
                "name": names[k],
                "legendgroup": names[k],
                "hovertemplate": f"{names[k]}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
            }
        )
        note = divergence_note(result, k, names[k])
        if note is not None:
            traces.append(diverged_trace(last, values[last], run_color(result, k), names[k], note))
    return traces


def _curve_axes(result: Trajectories, curves: _Curves) -> tuple[dict, dict]:
    drawn = [values[: last_good(result, k) + 1] for k, values in enumerate(curves.series)]
    return {"title": {"text": "step t"}}, {"title": {"text": curves.y_title}} | log_axis(drawn)


def _curve_figure(result: Trajectories, curves: _Curves) -> go.Figure:
    xaxis, yaxis = _curve_axes(result, curves)
    layout = base_layout(
        curves.title,
        legend_rows=math.ceil(len(curves.series) / 4),  # four names fit a half-width column
        xaxis=xaxis,
        yaxis=yaxis,
        hovermode="x unified",
    )
    return go.Figure(_curve_traces(result, curves), layout)  # one validation pass


def _loss_curves(result: Trajectories) -> _Curves:
    """f(θ_t) − f*: f may be negative (Styblinski–Tang) or unbounded (the saddle), so the gap to
    the optimum is plotted; when f* is unknown, the gap to the lowest value any run reached,
    which the axis title says. A tiny floor keeps runs that hit the optimum exactly on the log
    axis."""
    surface = result.surface
    losses = result.losses[:, 0]  # (K, T + 1)
    drawn = np.concatenate([losses[k, : last_good(result, k) + 1] for k in range(len(losses))])
    if surface.f_min is not None:
        reference, y_title = surface.f_min, "f(θ_t) − f*"
    else:
        reference, y_title = float(drawn.min()), "f(θ_t) − lowest f reached (f* unknown)"
    floor = 1e-12 * max(1.0, float(np.abs(drawn).max()))
    gaps = [positive_for_log(losses[k] - reference, floor) for k in range(len(losses))]
    return _Curves(gaps, f"Loss on {surface.label}", y_title)


def _distance_curves(result: Trajectories) -> _Curves:
    """‖θ_t − θ*‖ to the nearest global minimum (the surface has at least one)."""
    surface = result.surface
    minima = np.asarray(surface.minima, dtype=np.float64)  # (M, 2)
    paths = result.paths[:, 0]  # (K, T + 1, 2)
    gaps = np.linalg.norm(paths[:, :, None, :] - minima, axis=-1).min(axis=-1)  # (K, T + 1)
    x_min, x_max, y_min, y_max = surface.bounds
    floor = 1e-12 * max(x_max - x_min, y_max - y_min)
    return _Curves(
        [positive_for_log(gap, floor) for gap in gaps],
        f"Distance to the minimum on {surface.label}",
        "‖θ_t − θ*‖ (nearest global minimum)",
    )


def loss_figure(result: Trajectories) -> go.Figure:
    """f(θ_t) − f* against the step, log y, one line per run (see ``_loss_curves``)."""
    return _curve_figure(result, _loss_curves(result))


def distance_figure(result: Trajectories) -> go.Figure:
    """Distance from θ_t to the nearest global minimum, log y; a note if there is none."""
    if not result.surface.minima:
        title = f"Distance to the minimum on {result.surface.label}"
        return go.Figure(layout=base_layout(title, **message(NO_MINIMUM_MESSAGE)))
    return _curve_figure(result, _distance_curves(result))


def progress_figure(result: Trajectories) -> go.Figure:
    """The loss and the distance to the minimum in two panels of one figure, with one legend:
    the browser lays out and draws one chart on every rerun instead of two. A surface without a
    minimum gets the loss alone."""
    if not result.surface.minima:
        return loss_figure(result)
    panels = (_loss_curves(result), _distance_curves(result))
    layout = subplots_layout(1, 2, [curves.title for curves in panels], horizontal_spacing=0.1)
    layout |= base_layout(
        None,
        legend_rows=math.ceil(len(result.runs) / 8),  # eight names fit a row of the page's width
        height=PROGRESS_HEIGHT,
        hovermode="x unified",
        annotations=[a | {"font": {"size": 14}} for a in layout["annotations"]],
    )
    layout["margin"]["t"] += TITLES  # the panels' titles, under the legend
    traces = []
    for p, curves in enumerate(panels):
        x_key, y_key = axis_keys(p)
        xaxis, yaxis = _curve_axes(result, curves)
        layout[x_key] |= xaxis
        layout[y_key] |= yaxis
        legend = {} if p == 0 else {"showlegend": False}  # one entry for both panels
        traces += [trace | panel_axes(p) | legend for trace in _curve_traces(result, curves)]
    return go.Figure(traces, layout)  # one validation pass


TITLES, PROGRESS_HEIGHT = 30, 480  # px: the panels' titles, and the whole figure


# ----------------------------------------------------------------------------- Adam's internals
