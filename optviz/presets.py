"""Hyperparameter presets: the paper's defaults, and α tuned by grid search as in the paper's §6.

Kingma & Ba compared optimizers at their best learning rates, "chosen by a dense grid search".
``tune_learning_rates`` does the same on a surface: every optimizer tries every α of its slider
grid, all in one vectorized ``simulate`` call (the grid runs as a batch of identical starts with
one α each), and keeps the α whose path descends fastest without diverging. That is the demo
preset of every surface: no hand-picked numbers to go stale when a surface changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.surfaces import Surface
from optviz.trajectories import simulate

TINY = 1e-12  # floor of f − f* on the log scale the search scores on


def paper_defaults(key: str) -> dict[str, float | bool]:
    """PyTorch's defaults, which for Adam are Algorithm 1's: α=0.001, β1=0.9, β2=0.999, ε=1e-8."""
    return OPTIMIZERS[key].defaults()


def tune_learning_rates(
    surface: str | Surface,
    keys: Sequence[str],
    start: tuple[float, float],
    steps: int,
    *,
    hparams: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """A tuned α on ``surface`` for each optimizer in ``keys``, other hyperparameters fixed.

    Each α is scored by where its path ends: the mean of log10(f(θ_t) − f_ref) over the last
    tenth of the steps, f_ref being the lowest loss any run reached. Runs that diverge or leave
    the plot window are out (a path that jumps off the picture teaches nothing). Progress is how
    many decades the score is below the start's; the smallest α that makes 80% of the best
    progress wins: it gets nearly as far, with a smoother path to watch. If no α qualifies, the
    smallest α of the grid is returned.
    """
    grids = [OPTIMIZERS[key].hp("lr").options() for key in keys]
    width = max(len(grid) for grid in grids)
    padded = [grid + [grid[-1]] * (width - len(grid)) for grid in grids]  # one batch size for all
    runs = [
        (key, {**(hparams or {}).get(key, {}), "lr": grid})
        for key, grid in zip(keys, padded, strict=True)
    ]
    result = simulate(surface, runs, np.tile(start, (width, 1)), steps, seed=seed)
    reference = result.losses.min()
    tail = result.losses[..., -max(1, steps // 10) :]  # (K, B, ≥1) the last tenth of each path
    score = np.log10(np.maximum(tail - reference, TINY)).mean(-1)  # (K, B)
    progress = np.log10(max(result.losses[0, 0, 0] - reference, TINY)) - score  # (K, B) decades
    x_min, x_max, y_min, y_max = result.surface.bounds
    x, y = result.paths[..., 0], result.paths[..., 1]  # (K, B, T+1)
    inside = ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all(-1)  # (K, B)
    progress[(result.diverged_at >= 0) | ~inside] = -np.inf
    best = {}
    for k, (key, grid) in enumerate(zip(keys, padded, strict=True)):
        good = progress[k] >= 0.8 * progress[k].max()  # the grid ascends: argmax = smallest α
        best[key] = float(grid[int(np.argmax(good))]) if np.isfinite(progress[k]).any() else grid[0]
    return best
