"""The Experiments page's figures: an online race against t, and a race with marked fixed points.

(The rotation experiment is a plain ``race_figure``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.labels import run_color, run_dash, run_names
from optviz.figures.layout import (
    LEGEND_ROW,
    axis_keys,
    base_layout,
    panel_axes,
    subplots_layout,
)
from optviz.figures.race import race_figure
from optviz.figures.transport import f32

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

MAX_SAMPLES = 800  # points per curve: log-spaced steps, so the first steps keep their detail
ONLINE_HEIGHT = 460  # px


def log_spaced_steps(steps: int, most: int = MAX_SAMPLES) -> np.ndarray:
    """Every step from 1 to ``steps`` if there are at most ``most``, else about ``most`` of them
    (1 and ``steps`` included), evenly spaced in log t."""
    if steps <= most:
        return np.arange(1, steps + 1)
    samples = np.geomspace(1, steps, num=most).round().astype(np.int64)
    return np.unique(np.concatenate([samples, [1, steps]]))


def online_figure(result: Trajectories, average_regret: np.ndarray) -> go.Figure:
    """x_t and the average regret R_t/t against t (log axis), one panel each, one legend.

    Args:
        result: an online race (start b = 0 is drawn; y is not).
        average_regret: ``(K, T)`` R_t/t for t = 1 … T.
    """
    t = log_spaced_steps(result.steps)
    names = run_names(result)
    titles = ("x_t", "average regret R_t / t")
    layout = subplots_layout(1, 2, titles, horizontal_spacing=0.1)
    layout |= base_layout(
        None,
        height=ONLINE_HEIGHT,
        hovermode="x unified",
        annotations=[a | {"font": {"size": 14}} for a in layout["annotations"]],
    )
    layout["margin"]["t"] += 30  # the panels' titles, under the legend
    traces = []
    for p, values in enumerate((result.paths[:, 0, t, 0], average_regret[:, t - 1])):
        x_key, y_key = axis_keys(p)
        layout[x_key] |= {"type": "log", "title": {"text": "step t"}, "exponentformat": "power"}
        layout[y_key] |= {"title": {"text": titles[p]}}
        for k in range(len(result.runs)):
            traces.append(
                {
                    "type": "scatter",
                    "x": t.astype(np.float64),
                    "y": f32(values[k]),
                    "mode": "lines",
                    "line": {
                        "color": run_color(result, k),
                        "width": 2,
                        "dash": run_dash(result, k),
                    },
                    "name": names[k],
                    "legendgroup": names[k],
                    "showlegend": p == 0,
                    "hovertemplate": f"{names[k]}: %{{y:.3f}}<extra></extra>",
                }
                | panel_axes(p)
            )
    layout["yaxis"] |= {"range": [-1.1, 1.1]}
    return go.Figure(traces, layout)  # one validation pass


def fixed_points_figure(
    result: Trajectories, points: Sequence[tuple[str, tuple[float, float]]]
) -> go.Figure:
    """The race with each run's predicted fixed point marked (a diamond in the run's colour):
    ``points[k]`` is run k's (name, (x, y)). The legend gets room for a row of them."""
    figure = race_figure(result)
    figure.layout.margin.t += 2 * LEGEND_ROW  # the markers' row is as tall as the star's
    figure.layout.height += 2 * LEGEND_ROW
    for k, (name, (x, y)) in enumerate(points):
        figure.add_scatter(
            x=[x],
            y=[y],
            mode="markers",
            marker={"symbol": "diamond-open", "size": 16, "color": run_color(result, k)},
            marker_line_width=3,
            name=name,
            hovertemplate=f"{name}: (%{{x:.4f}}, %{{y:.4f}})<extra></extra>",
        )
    return figure
