"""Curves against the step: the loss gap to the optimum and the distance to the minimum."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.labels import divergence_note, last_good, run_color, run_dash, run_names
from optviz.figures.layout import (
    base_layout,
    diverged_trace,
    log_axis,
    message,
    positive_for_log,
)
from optviz.figures.transport import f32

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

NO_MINIMUM_MESSAGE = "this surface has no minimum to measure distance to"


def _curve_figure(
    result: Trajectories, series: Sequence[np.ndarray], title: str, y_title: str
) -> go.Figure:
    """One log-y line per run against the step, ending in × where the run diverged.

    ``series[k]`` is run k's positive values for steps 0 … T; a diverged run is cut at its last
    good point, since the engine only holds it there afterwards.
    """
    names = run_names(result)
    traces = []
    for k, values in enumerate(series):
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
    layout = base_layout(
        title,
        legend_rows=math.ceil(len(series) / 4),  # four names fit a row of a half-width column
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": y_title}}
        | log_axis([values[: last_good(result, k) + 1] for k, values in enumerate(series)]),
        hovermode="x unified",
    )
    return go.Figure(traces, layout)  # one validation pass (see the layout module)


def loss_figure(result: Trajectories) -> go.Figure:
    """f(θ_t) − f* against the step, log y, one line per run.

    f may be negative (Styblinski–Tang) or unbounded (the saddle), so the gap to the optimum is
    plotted; when f* is unknown, the gap to the lowest value any run reached, which the axis
    title says. A tiny floor keeps runs that hit the optimum exactly on the log axis.
    """
    surface = result.surface
    losses = result.losses[:, 0]  # (K, T + 1)
    drawn = np.concatenate([losses[k, : last_good(result, k) + 1] for k in range(len(losses))])
    if surface.f_min is not None:
        reference, y_title = surface.f_min, "f(θ_t) − f*"
    else:
        reference, y_title = float(drawn.min()), "f(θ_t) − lowest f reached (f* unknown)"
    floor = 1e-12 * max(1.0, float(np.abs(drawn).max()))
    gaps = [positive_for_log(losses[k] - reference, floor) for k in range(len(losses))]
    return _curve_figure(result, gaps, f"Loss on {surface.label}", y_title)


def distance_figure(result: Trajectories) -> go.Figure:
    """Distance from θ_t to the nearest global minimum, log y; a note if there is none."""
    surface = result.surface
    title = f"Distance to the minimum on {surface.label}"
    if not surface.minima:
        return go.Figure(layout=base_layout(title, **message(NO_MINIMUM_MESSAGE)))
    minima = np.asarray(surface.minima, dtype=np.float64)  # (M, 2)
    paths = result.paths[:, 0]  # (K, T + 1, 2)
    gaps = np.linalg.norm(paths[:, :, None, :] - minima, axis=-1).min(axis=-1)  # (K, T + 1)
    x_min, x_max, y_min, y_max = surface.bounds
    floor = 1e-12 * max(x_max - x_min, y_max - y_min)
    distances = [positive_for_log(gap, floor) for gap in gaps]
    return _curve_figure(result, distances, title, "‖θ_t − θ*‖ (nearest global minimum)")


# ----------------------------------------------------------------------------- Adam's internals
