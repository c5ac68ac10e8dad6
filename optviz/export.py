"""What the explorer lets a person take away: the trajectories as CSV, the race as a web page."""

from __future__ import annotations

import csv
import html
import io

from optviz.figures import race_figure
from optviz.figures.race import PLAYER_JS
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


def standalone_html(result: Trajectories, side_by_side: bool) -> str:
    """The race as a page of its own, with the app's player under it, opening at t = 0:
    plotly.js inlined (works offline), a light template, the surface as its title."""
    fig = race_figure(result, side_by_side=side_by_side)
    fig.update_layout(template="plotly_white")
    player = f"""{PLAYER_JS}
const gd = document.getElementById("{{plot_id}}");
const race = gd.layout.meta.race;
optvizRacePlayer(gd.parentElement, () => gd)(race.id, race.steps, race.seconds, 0);
"""
    title = f"optviz race on {result.surface.label}"
    page = fig.to_html(include_plotlyjs=True, full_html=True, post_script=player)
    return page.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
