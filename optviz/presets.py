"""Hyperparameter presets: the paper's defaults, and α tuned by grid search as in the paper's §6.

Kingma & Ba compared optimizers at their best learning rates, "chosen by a dense grid search".
``tune_learning_rates`` does the same on a surface, for a picture a teacher can trust: every
optimizer tries every α of its slider grid from a few starts around the chosen one, all in one
vectorized ``simulate`` call, and keeps an α that is good over its neighbourhood of the grid, not
a lucky one, and whose paths stay readable on the plot. That is the demo preset of every surface:
no hand-picked numbers to go stale when a surface changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.schedules import Schedule
from optviz.surfaces import Surface
from optviz.trajectories import simulate

# The starts α is scored from: the chosen start and four around it, offset by this fraction of
# the window's width and height (on a noisy surface each start also draws its own noise).
NEARBY = 0.02
OFFSETS = ((0.0, 0.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (-1.0, -1.0))
DECADES = 6.0  # progress counts down to f − f* = 10⁻⁶ of the start's gap (the contour's floor)
MAX_JUMP = 0.2  # the longest readable step, as a fraction of the window's shorter side
SETTLE = 0.02  # the longest readable mean step over the last tenth of the race, likewise


def paper_defaults(key: str) -> dict[str, float | bool]:
    """PyTorch's defaults, which for Adam are Algorithm 1's: α=0.001, β1=0.9, β2=0.999, ε=1e-8."""
    return OPTIMIZERS[key].defaults()


def tuning_starts(surface: Surface, start: Sequence[float]) -> np.ndarray:
    """``(S, 2)`` the starts α is scored from: ``start`` first, then four nearby ones, each kept
    inside the plot window."""
    x_min, x_max, y_min, y_max = surface.bounds
    step = NEARBY * np.array([x_max - x_min, y_max - y_min])
    starts = np.asarray(start, dtype=np.float64) + np.array(OFFSETS) * step  # (S, 2)
    return np.clip(starts, [x_min, y_min], [x_max, y_max])


def tune_learning_rates(
    surface: str | Surface,
    keys: Sequence[str],
    start: tuple[float, float],
    steps: int,
    *,
    hparams: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    schedule: Schedule | None = None,
) -> dict[str, float]:
    """A tuned α on ``surface`` for each optimizer in ``keys``, other hyperparameters fixed and
    every run on the learning-rate ``schedule`` (None: constant), so α is tuned for the race the
    person will see.

    Every α of the optimizer's slider grid runs from the starts of ``tuning_starts``:

    * **readable**: an α is out if, from any start, its path diverges, leaves the plot window
      takes a step longer than ``MAX_JUMP`` of the window's shorter side, or is still
      scribbling at the end (mean step over the last tenth above ``SETTLE`` of it); so is every
      α above it (the grid is capped at the largest α whose paths all stay readable).
    * **score**: per start, the decades f − f_ref fell from the start, averaged over the path
      (so sooner counts), floored at ``DECADES``; f_ref is f* where known, else the lowest loss
      the optimizer reached. An α's score is the median over the starts.
    * **robust**: an α counts as well as the worst of itself and its grid neighbours, so the
      winner sits on a broad plateau of good α, never on a spike beside a divergence.

    The best robust α wins (the smallest, on a tie). If no α is readable, the grid's smallest
    is returned. Each optimizer's choice depends on its own runs only, so tuning one optimizer
    alone gives the α it gets in company.
    """
    starts = tuning_starts(surface if isinstance(surface, Surface) else _surface(surface), start)
    grids = [OPTIMIZERS[key].hp("lr").options() for key in keys]
    # One batch size for all, the widest grid of the registry's: on a noisy surface column b's
    # noise depends on the batch size, so an optimizer tuned alone sees what it sees in company.
    S, width = len(starts), max(len(spec.hp("lr").options()) for spec in OPTIMIZERS.values())
    padded = [grid + [grid[-1]] * (width - len(grid)) for grid in grids]
    runs = [
        (key, {**(hparams or {}).get(key, {}), "lr": np.tile(grid, S)})  # b = s·width + g
        for key, grid in zip(keys, padded, strict=True)
    ]
    starts_by_column = np.repeat(starts, width, axis=0)
    schedules = [schedule] * len(runs)
    result = simulate(surface, runs, starts_by_column, steps, seed=seed, schedules=schedules)
    K, T = len(keys), steps + 1
    losses = result.losses.reshape(K, S, width, T)
    paths = result.paths.reshape(K, S, width, T, 2)

    x_min, x_max, y_min, y_max = result.surface.bounds
    x, y = paths[..., 0], paths[..., 1]
    inside = ((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)).all(-1)  # (K, S, W)
    jump = np.linalg.norm(np.diff(paths, axis=3), axis=-1).max(-1)  # (K, S, W) longest step
    short_side = min(x_max - x_min, y_max - y_min)
    diverged = result.diverged_at.reshape(K, S, width) >= 0
    tail = max(1, steps // 10)
    late = np.linalg.norm(np.diff(paths[..., -tail - 1 :, :], axis=3), axis=-1).mean(-1)
    steady = (jump <= MAX_JUMP * short_side) & (late <= SETTLE * short_side)  # (K, S, W)
    readable = (inside & ~diverged & steady).all(1)  # (K, W)
    readable = np.logical_and.accumulate(readable, axis=1)  # capped: nothing above a bad α

    f_min = result.surface.f_min
    best = {}
    for k, (key, grid) in enumerate(zip(keys, grids, strict=True)):
        n = len(grid)
        mine = losses[k, :, :n]  # (S, n, T)
        reference = f_min if f_min is not None else float(mine.min())
        gap0 = np.maximum(mine[..., :1] - reference, np.finfo(float).tiny)  # (S, n, 1)
        gap = np.maximum(mine - reference, gap0 * 10.0**-DECADES)
        progress = np.log10(gap0 / gap[..., steps // 2 :]).mean(-1)  # (S, n) over the 2nd half
        score = np.where(readable[k, :n], np.median(progress, axis=0), -np.inf)  # (n,)
        # The worst of each α and its readable grid neighbours (an unreadable one is no
        # neighbour: the cap is a wall, not a penalty).
        neighbours = np.where(np.isfinite(score), score, np.inf)
        neighbours = np.concatenate([[np.inf], neighbours, [np.inf]])
        robust = np.minimum(np.minimum(neighbours[:-2], neighbours[2:]), score)
        best[key] = float(grid[int(np.argmax(robust))]) if np.isfinite(robust).any() else grid[0]
    return best


def _surface(key: str) -> Surface:
    from optviz.surfaces import SURFACES

    if key not in SURFACES:
        raise ValueError(f"unknown surface {key!r}; choose one of {', '.join(SURFACES)}")
    return SURFACES[key]
