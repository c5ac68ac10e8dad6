"""What the explorer lets a person take away: the trajectories as CSV, the race as a web page."""

from __future__ import annotations

import csv
import io

from optviz.figures import race_figure
from optviz.trajectories import Trajectories


def trajectories_csv(result: Trajectories) -> str:
    """One row per run and step t (start b = 0): position, loss, and the gradient g_t that led
    there (0 at t = 0)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["optimizer", "step", "x", "y", "loss", "grad_x", "grad_y"])
    for k, (key, _) in enumerate(result.runs):
        for t in range(result.steps + 1):
            g = result.grads[k, 0, t - 1] if t else (0.0, 0.0)
            x, y = result.paths[k, 0, t]
            writer.writerow([key, t, x, y, result.losses[k, 0, t], g[0], g[1]])
    return out.getvalue()


def standalone_html(result: Trajectories, side_by_side: bool, frames: int) -> str:
    """The race as a page of its own: plotly.js inlined (works offline), a light template."""
    fig = race_figure(result, side_by_side=side_by_side, frames=frames)
    return fig.update_layout(template="plotly_white").to_html(include_plotlyjs=True)
