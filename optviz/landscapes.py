"""Landscapes: which hyperparameters work on a surface, and how robustly.

Four computations behind the Landscapes page, each one vectorized ``simulate`` call with the
configurations and starts in the batch dimension (a hyperparameter given as a length-B sequence
is one value per batch column), never a loop over cells:

* ``alpha_sensitivity``: every optimizer over a dense log grid of α (``HyperParam.dense``);
* ``hyper_map``: one optimizer over a grid of two hyperparameters (``OptimizerSpec.maps``);
* ``basins``: a grid of starts per optimizer, and which minimum each path ends in;
* ``tune_all``: per optimizer, α on its slider grid times its other hyperparameters on a coarse
  grid (``HyperParam.coarse``), scored by the mean final log loss over starts and seeds.

Each configuration runs from R replicas: the chosen start and nearby ones
(``presets.tuning_starts``), each repeated once per seed on a noisy surface, where every batch
column draws its own gradient noise. Batch column b holds replica ``b // C`` of cell ``b % C``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.presets import _surface as named_surface
from optviz.presets import tuning_starts
from optviz.surfaces import Surface
from optviz.trajectories import MAX_STARTS, Trajectories, simulate

ALPHAS = 41  # points of the α sensitivity grid
MAP_CELLS = 32  # cells per side of a two-hyperparameter map
BASIN_CELLS = 64  # starts per side of a basin map
MAX_CELLS = 64  # a map's or a basin grid's side at most (64² starts fill the engine's batch)
MAX_REPLICAS = 8  # starts × seeds per configuration at most
# Optimizer steps (runs × batch × steps) at once at most: a landscape peaks at about 45 bytes a
# step (recorded positions, losses; benchmarks/bench_landscapes.py prints it), so about 0.5 GB.
MAX_WORK = 12_000_000
GAP_FLOOR = 1e-12  # f − f* below this counts as this: the log scale's floor
WITHIN = 10.0  # "Tune all"'s robustness: the share of the grid within this factor of the best
BASIN_RADIUS = 0.02  # a path ends in a minimum within this fraction of the window's shorter side
SETTLED = 0.002  # … if its last tenth of the race moved it less than this fraction of that side

# Codes of ``Basins.labels`` for paths that end in no minimum.
DIVERGED, LEFT, MOVING = -1, -2, -3


@dataclass(frozen=True)
class Outcomes:
    """How each race of a landscape ended, shaped ``(K, R, *cells)``: K optimizers (or one, for
    a map), R replicas (starts × seeds), and the cells of the grid.

    Attributes:
        gap: f(θ_T) − f*, floored at ``GAP_FLOOR`` (f* the surface's, or else the lowest loss of
            the whole computation).
        steps: the first step t with f(θ_t) − f* ≤ ``tol``, or -1 if never.
        diverged: the path went non-finite or escaped (the engine's ``diverged_at``).
        left: the path left the plot window at some step (and did not diverge).
        tol: the tolerance of ``steps``.
    """

    gap: np.ndarray
    steps: np.ndarray
    diverged: np.ndarray
    left: np.ndarray
    tol: float

    @cached_property
    def failed(self) -> np.ndarray:
        """``(K, *cells)`` some replica diverged or left the plot: the setting is not safe."""
        return (self.diverged | self.left).any(1)

    @cached_property
    def log_gap(self) -> np.ndarray:
        """``(K, *cells)`` log10(f − f*) averaged over the replicas (the tuner's score)."""
        return np.log10(self.gap).mean(1)

    @cached_property
    def log_gap_range(self) -> tuple[np.ndarray, np.ndarray]:
        """``(K, *cells)`` each the lowest and highest log10(f − f*) over the replicas."""
        logs = np.log10(self.gap)
        return logs.min(1), logs.max(1)

    @cached_property
    def median_steps(self) -> np.ndarray:
        """``(K, *cells)`` the median over the replicas of the steps to ``tol``, a replica that
        never got there counting as never; -1 where that median is never."""
        steps = np.where(self.steps >= 0, self.steps, np.inf)
        median = np.median(steps, axis=1)
        return np.where(np.isfinite(median), median, -1)

    @cached_property
    def steps_range(self) -> tuple[np.ndarray, np.ndarray]:
        """``(K, *cells)`` each the fewest and most steps to ``tol`` over the replicas that got
        there (-1 where none did)."""
        reached = self.steps >= 0
        low = np.where(reached, self.steps, np.iinfo(np.int64).max).min(1)
        high = np.where(reached, self.steps, -1).max(1)
        return np.where(reached.any(1), low, -1), high


def outcomes(result: Trajectories, replicas: int, cells: tuple[int, ...], tol: float) -> Outcomes:
    """The ``Outcomes`` of ``result``, whose batch holds replica ``b // C`` of cell ``b % C``."""
    losses = result.losses  # (K, B, T+1)
    f_star = result.surface.f_min
    if f_star is None:
        f_star = float(losses.min())
    gap = np.maximum(losses - f_star, 0.0)
    reached = gap <= tol
    steps = np.where(reached.any(-1), reached.argmax(-1), -1)
    x_min, x_max, y_min, y_max = result.surface.bounds
    low, high = result.paths.min(2), result.paths.max(2)  # (K, B, 2)
    inside = (low[..., 0] >= x_min) & (high[..., 0] <= x_max)
    inside &= (low[..., 1] >= y_min) & (high[..., 1] <= y_max)
    diverged = result.diverged_at >= 0
    shape = (len(result.runs), replicas, *cells)
    return Outcomes(
        gap=np.maximum(gap[..., -1], GAP_FLOOR).reshape(shape),
        steps=steps.reshape(shape),
        diverged=diverged.reshape(shape),
        left=(~inside & ~diverged).reshape(shape),
        tol=tol,
    )


def replica_starts(surface: Surface, start: Sequence[float], starts: int, seeds: int) -> np.ndarray:
    """``(R, 2)`` the replicas' starts: the first ``starts`` of ``tuning_starts``, each repeated
    ``seeds`` times on a noisy surface (each batch column draws its own noise); once otherwise."""
    seeds = seeds if surface.noise > 0 else 1
    if not 1 <= starts <= len(tuning_starts(surface, start)):
        raise ValueError(f"starts must be between 1 and {len(tuning_starts(surface, start))}")
    if starts * seeds > MAX_REPLICAS:
        raise ValueError(f"starts × seeds must be at most {MAX_REPLICAS}, got {starts * seeds}")
    return np.repeat(tuning_starts(surface, start)[:starts], seeds, axis=0)


def check_work(runs: int, batch: int, steps: int, what: str) -> None:
    """Raise a readable ``ValueError`` if ``what`` needs more than the engine does at once."""
    if batch > MAX_STARTS:
        raise ValueError(
            f"{what} needs {batch:,} races per optimizer; the engine runs at most "
            f"{MAX_STARTS:,} at once: use fewer cells, starts or seeds"
        )
    if runs * batch * steps > MAX_WORK:
        raise ValueError(
            f"{what} needs {runs * batch * steps:,} optimizer steps; at most {MAX_WORK:,} "
            f"fit in memory at once: use fewer steps, cells or optimizers"
        )


def _check_cells(cells: int) -> None:
    if isinstance(cells, bool) or not isinstance(cells, int) or not 2 <= cells <= MAX_CELLS:
        raise ValueError(f"cells per side must be a whole number from 2 to {MAX_CELLS}")


# --- α sensitivity -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sensitivity:
    """``alphas[k]``: optimizer k's α grid (``(K, N)``); ``outcomes`` ``(K, R, N)``."""

    keys: tuple[str, ...]
    alphas: np.ndarray
    outcomes: Outcomes


def alpha_sensitivity(
    surface: str | Surface,
    keys: Sequence[str],
    start: Sequence[float],
    steps: int,
    *,
    hparams: Mapping[str, Mapping[str, Any]] | None = None,
    alphas: int = ALPHAS,
    starts: int = 4,
    seeds: int = 1,
    seed: int = 0,
    tol: float = 1e-3,
) -> Sensitivity:
    """Each optimizer of ``keys`` at ``alphas`` values of α, log-spaced over its slider's range
    (``HyperParam.dense``), its other hyperparameters from ``hparams``: one ``simulate`` call."""
    surface = _surface(surface)
    origins = replica_starts(surface, start, starts, seeds)
    grids = np.array([OPTIMIZERS[key].hp("lr").dense(alphas) for key in keys])  # (K, N)
    check_work(len(keys), len(origins) * alphas, steps, "This α sweep")
    runs = [
        (key, {**(hparams or {}).get(key, {}), "lr": np.tile(grid, len(origins))})
        for key, grid in zip(keys, grids, strict=True)
    ]
    result = simulate(surface, runs, np.repeat(origins, alphas, axis=0), steps, seed=seed)
    return Sensitivity(tuple(keys), grids, outcomes(result, len(origins), (alphas,), tol))


# --- two-hyperparameter maps ---------------------------------------------------------------


@dataclass(frozen=True)
class HyperMap:
    """Optimizer ``key`` over ``x`` × ``y``, the grids of ``names`` (x, y); ``outcomes``
    ``(1, R, ny, nx)``; ``hparams`` the other hyperparameters, as given."""

    key: str
    names: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    hparams: Mapping[str, Any]
    outcomes: Outcomes

    def cell(self, i: int, j: int) -> dict[str, Any]:
        """The hyperparameters of the cell in row ``i`` (y) and column ``j`` (x)."""
        return {**self.hparams, self.names[0]: float(self.x[j]), self.names[1]: float(self.y[i])}


def map_runs(
    key: str, names: tuple[str, str], cells: int, hparams: Mapping[str, Any], replicas: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, dict[str, Any]]]:
    """The grids of a map and its one run: column b has x index ``b % n``, y index
    ``(b // n) % n`` and replica ``b // n²``."""
    spec = OPTIMIZERS[key]
    if names not in spec.maps:
        pairs = ", ".join(" × ".join(pair) for pair in spec.maps) or "none"
        raise ValueError(f"{spec.label} has no map of {' × '.join(names)} (its maps: {pairs})")
    _check_cells(cells)
    x, y = (np.array(spec.hp(name).dense(cells)) for name in names)
    X, Y = np.meshgrid(x, y)  # (ny, nx)
    run = (
        key,
        {**hparams, names[0]: np.tile(X.ravel(), replicas), names[1]: np.tile(Y.ravel(), replicas)},
    )
    return x, y, run


def hyper_map(
    surface: str | Surface,
    key: str,
    names: tuple[str, str],
    start: Sequence[float],
    steps: int,
    *,
    hparams: Mapping[str, Any] | None = None,
    cells: int = MAP_CELLS,
    starts: int = 4,
    seeds: int = 1,
    seed: int = 0,
    tol: float = 1e-3,
) -> HyperMap:
    """Optimizer ``key`` over a ``cells`` × ``cells`` grid of the hyperparameters ``names``
    (one of its ``maps``), each cell from every replica: one ``simulate`` call."""
    surface = _surface(surface)
    names = tuple(names)
    hparams = {k: v for k, v in (hparams or {}).items() if k not in names}
    origins = replica_starts(surface, start, starts, seeds)
    x, y, run = map_runs(key, names, cells, hparams, len(origins))
    check_work(1, len(origins) * cells**2, steps, "This map")
    result = simulate(surface, [run], np.repeat(origins, cells**2, axis=0), steps, seed=seed)
    return HyperMap(key, names, x, y, hparams, outcomes(result, len(origins), (cells, cells), tol))


# --- basins --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Basins:
    """Per optimizer, a ``cells`` × ``cells`` grid of starts over the plot window (cell centres
    ``x``, ``y``) and where each path ended.

    Attributes:
        labels: ``(K, ny, nx)`` the index into ``minima`` of the minimum the path ends in, or
            ``DIVERGED``, ``LEFT`` (left the plot window) or ``MOVING`` (still moving at the end,
            or settled nowhere near a minimum).
        minima: the surface's known minima, then the other points where paths settled, in the
            order found (local minima of Rastrigin …).
        outcomes: ``(K, 1, ny, nx)``.
    """

    keys: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    minima: tuple[tuple[float, float], ...]
    outcomes: Outcomes

    @property
    def several(self) -> bool:
        """Whether paths end in more than one minimum (else the map shows steps to ``tol``)."""
        return len(np.unique(self.labels[self.labels >= 0])) > 1


def start_grid(surface: Surface, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell centres ``x`` (nx,), ``y`` (ny,) of a grid over the window, and the ``(n², 2)``
    starts, row-major (y, then x)."""
    _check_cells(cells)
    x_min, x_max, y_min, y_max = surface.bounds
    x = x_min + (np.arange(cells) + 0.5) * (x_max - x_min) / cells
    y = y_min + (np.arange(cells) + 0.5) * (y_max - y_min) / cells
    X, Y = np.meshgrid(x, y)
    return x, y, np.stack([X.ravel(), Y.ravel()], axis=1)


def basins(
    surface: str | Surface,
    keys: Sequence[str],
    steps: int,
    *,
    hparams: Mapping[str, Mapping[str, Any]] | None = None,
    cells: int = BASIN_CELLS,
    seed: int = 0,
    tol: float = 1e-3,
) -> Basins:
    """Each optimizer from every start of a ``cells`` × ``cells`` grid: one ``simulate`` call."""
    surface = _surface(surface)
    x, y, starts = start_grid(surface, cells)
    check_work(len(keys), len(starts), steps, "This basin map")
    runs = [(key, dict((hparams or {}).get(key, {}))) for key in keys]
    result = simulate(surface, runs, starts, steps, seed=seed)
    found = outcomes(result, 1, (cells, cells), tol)
    labels, minima = basin_labels(result)
    return Basins(tuple(keys), x, y, labels.reshape(len(keys), cells, cells), minima, found)


def basin_labels(result: Trajectories) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """``(K, B)`` the minimum each path ends in (see ``Basins.labels``), and the minima.

    A path has settled if its last tenth of the race moved it less than ``SETTLED`` of the
    window's shorter side (one that still jitters around a minimum has not); it ends in the
    nearest minimum within ``BASIN_RADIUS`` of that side. The minima are the
    surface's known ones, then each settled end point farther than the radius from every minimum
    so far, in batch order.
    """
    x_min, x_max, y_min, y_max = result.surface.bounds
    radius = BASIN_RADIUS * min(x_max - x_min, y_max - y_min)
    final = result.paths[:, :, -1]  # (K, B, 2)
    earlier = result.paths[:, :, -1 - max(1, result.steps // 10)]
    settled = np.linalg.norm(final - earlier, axis=-1) <= SETTLED * min(
        x_max - x_min, y_max - y_min
    )
    inside = (final[..., 0] >= x_min) & (final[..., 0] <= x_max)
    inside &= (final[..., 1] >= y_min) & (final[..., 1] <= y_max)
    diverged = result.diverged_at >= 0
    minima = [tuple(map(float, m)) for m in result.surface.minima]
    ends = final[settled & inside & ~diverged]  # (N, 2)
    # Greedy clustering, a pass per new minimum: each pass drops the ends within reach.
    while len(ends):
        if minima:
            near = np.linalg.norm(ends[:, None] - np.array(minima)[None], axis=-1).min(1) <= radius
            ends = ends[~near]
            if not len(ends):
                break
        minima.append((float(ends[0, 0]), float(ends[0, 1])))
    distance = np.linalg.norm(final[:, :, None] - np.array(minima or [(math.inf,) * 2]), axis=-1)
    labels = np.where(distance.min(-1) <= radius, distance.argmin(-1), MOVING)
    labels = np.where(settled, labels, MOVING)
    labels = np.where(inside, labels, LEFT)
    labels = np.where(diverged, DIVERGED, labels)
    return labels, tuple(minima)


# --- tune all ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tuned:
    """One optimizer's search: its ``configs`` (hyperparameters by name), their scores (mean
    final log10(f − f*) over the replicas; +inf where a replica diverged or left the plot),
    and the winner."""

    key: str
    configs: tuple[dict[str, float], ...]
    scores: np.ndarray

    @property
    def best(self) -> int:
        """The index of the winner: the lowest score, the first on a tie; -1 if none is safe."""
        return int(np.argmin(self.scores)) if np.isfinite(self.scores).any() else -1

    @property
    def robustness(self) -> float:
        """The share of the grid whose final loss is within ``WITHIN`` times the winner's."""
        if self.best < 0:
            return 0.0
        return float((self.scores <= self.scores[self.best] + math.log10(WITHIN)).mean())


def tuning_grid(key: str) -> list[dict[str, float]]:
    """An optimizer's configurations: α on its slider grid × each of its ``tuned``
    hyperparameters on its coarse grid."""
    spec = OPTIMIZERS[key]
    names = ("lr", *spec.tuned)
    grids = [spec.hp("lr").options(), *(spec.hp(name).coarse() for name in spec.tuned)]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grids)]


def tune_all(
    surface: str | Surface,
    keys: Sequence[str],
    start: Sequence[float],
    steps: int,
    *,
    hparams: Mapping[str, Mapping[str, Any]] | None = None,
    starts: int = 4,
    seeds: int = 1,
    seed: int = 0,
) -> list[Tuned]:
    """Every optimizer of ``keys`` searched over ``tuning_grid`` from every replica, other
    hyperparameters from ``hparams``: one ``simulate`` call. Ranked, best score first."""
    surface = _surface(surface)
    origins = replica_starts(surface, start, starts, seeds)
    grids = [tuning_grid(key) for key in keys]
    width = max(len(grid) for grid in grids)
    check_work(len(keys), len(origins) * width, steps, "This search")
    runs = []
    for key, grid in zip(keys, grids, strict=True):
        padded = grid + [grid[-1]] * (width - len(grid))  # one batch size for all
        values = {
            name: np.tile([config[name] for config in padded], len(origins)) for name in grid[0]
        }
        runs.append((key, {**(hparams or {}).get(key, {}), **values}))
    result = simulate(surface, runs, np.repeat(origins, width, axis=0), steps, seed=seed)
    found = outcomes(result, len(origins), (width,), tol=GAP_FLOOR)
    scores = np.where(found.failed, np.inf, found.log_gap)  # (K, width)
    tuned = [
        Tuned(key, tuple(grid), scores[k, : len(grid)])
        for k, (key, grid) in enumerate(zip(keys, grids, strict=True))
    ]
    return sorted(tuned, key=lambda t: t.scores[t.best] if t.best >= 0 else math.inf)


def _surface(surface: str | Surface) -> Surface:
    return surface if isinstance(surface, Surface) else named_surface(surface)
