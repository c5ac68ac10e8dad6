"""What the explorer lets a person take away: the trajectories as CSV, the race as a web page."""

from __future__ import annotations

import csv
import html
import io

import numpy as np
import torch

from optviz.figures import race_figure
from optviz.figures.labels import first_value
from optviz.figures.race import PLAYER_JS
from optviz.schedules import SCHEDULES
from optviz.trajectories import Trajectories


def trajectories_csv(result: Trajectories, seed: int) -> str:
    """One row per run and step t (start b = 0), everything needed to redo it: the surface (its
    formula for a custom one), noise σ and ``seed``; θ_t, f(θ_t) and the gradient at θ_t that
    the step from θ_t used (noise included; at t = T, where no step follows, ∇f(θ_T)); the
    run's learning-rate schedule; then every hyperparameter of the run (a column each, empty for
    optimizers without it)."""
    surface = result.surface
    names = list(
        dict.fromkeys(n for k in range(len(result.runs)) for n in result.hyperparameters(k))
    )
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [
        "optimizer",
        "surface",
        "sigma",
        "seed",
        "step",
        "x",
        "y",
        "loss",
        "grad_x",
        "grad_y",
        "schedule",
    ]
    writer.writerow([*columns, *names])
    for k, (key, _) in enumerate(result.runs):
        hparams = result.hyperparameters(k)
        schedule_key, schedule_params = result.schedules[k]
        schedule = SCHEDULES[schedule_key].describe(schedule_params)
        values = [first_value(hparams[n]) if n in hparams else "" for n in names]
        _, last_grad = surface.value_and_grad(
            torch.as_tensor(result.paths[k, 0, -1]), result.steps + 1
        )
        grads = np.concatenate([result.grads[k, 0], last_grad.numpy()[None]])  # (T + 1, 2)
        for t in range(result.steps + 1):
            x, y = result.paths[k, 0, t]
            loss = result.losses[k, 0, t]
            row = [key, surface.label, surface.noise, seed, t, x, y, loss, *grads[t], schedule]
            writer.writerow([*row, *values])
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
