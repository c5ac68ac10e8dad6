"""What the app's pages compute, cached for every session and every rerun: parsed surfaces, the
explorer's races, its tuned α and its figures as JSON, Landscapes' computations and the
Experiments page's races.

These live in a module, not in a page: Streamlit executes a page's script anew on every rerun, so
a cache defined in the page would be a new, empty one each time. Each cache is bounded by the
bytes its values hold (``optviz.cache``); the inputs are plain, hashable values.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import plotly.io

from optviz import analyses, experiments, figures, landscapes, links, presets, trajectories
from optviz.cache import ByteLRU, array_bytes, byte_lru_cache
from optviz.figures.surface import surface_layers
from optviz.optim import OPTIMIZERS
from optviz.surfaces import SURFACES, Surface, parse_surface
from optviz.trajectories import Trajectories, simulate

SURFACE_BYTES = 16 * 1024  # a parsed formula's closures, counted generously
# A race is counted with the arrays its views derive (Trajectories.nbytes: ≈ 0.1 MB for 4
# optimizers × 300 steps, ≈ 1.4 MB for 8 × 2000).
RACE_BYTES = 96 * 1024**2
FIGURE_BYTES = 48 * 1024**2  # figures as JSON: a race's ≈ 90 kB for 4 optimizers × 300 steps
# Landscapes keep a few numbers a cell (a 64 × 64 map's outcomes: ≈ 0.1 MB); an Experiments race
# keeps its Trajectories (the 10⁵-step online race: ≈ 10 MB once its views are derived).
LANDSCAPE_BYTES = 32 * 1024**2
EXPERIMENT_BYTES = 64 * 1024**2


@byte_lru_cache(max_bytes=64 * SURFACE_BYTES, nbytes=lambda surface: SURFACE_BYTES)
def load_surface(key: str, formula: str) -> Surface:
    """A registry surface, or a user's formula parsed once for every session (the engine keeps
    its gradient recording per surface function, so a parse per rerun would record again)."""
    return parse_surface(formula) if key == links.CUSTOM else SURFACES[key]


# Each run of a race on its own, counted by what it records (its derived series are counted
# with the joined race that derives them).
_RACE_RUNS: ByteLRU = ByteLRU(RACE_BYTES // 2, lambda part: part.paths.nbytes)


@byte_lru_cache(max_bytes=RACE_BYTES, nbytes=lambda result: result.nbytes)
def race(
    key: str,
    formula: str,
    sigma: float,
    runs: tuple,
    start: tuple,
    steps: int,
    seed: int,
    schedule: tuple = ("constant", ()),
) -> Trajectories:
    """The explorer's race: ``runs`` as ``(optimizer, ((name, value), …))`` pairs, one learning-
    rate ``schedule`` ``(key, ((name, value), …))`` for every run.

    Runs never interact, so each is raced once per setting and kept on its own: a slider move
    or a new optimizer races only the run it changes (``Trajectories.take`` / ``join``).
    """
    setting = (key, formula, sigma, start, steps, seed, schedule)

    def race_apart(missing: list[tuple]) -> dict[tuple, Trajectories]:
        surface = load_surface(key, formula).with_noise(sigma)
        runs = [(k, dict(h)) for _, (k, h) in missing]
        schedules = [(schedule[0], dict(schedule[1]))] * len(runs)
        fresh = simulate(surface, runs, start, steps, seed=seed, schedules=schedules)
        return {part: fresh.take([i]) for i, part in enumerate(missing)}

    parts = _RACE_RUNS.get_or_compute([(setting, run) for run in runs], race_apart)
    return Trajectories.join([parts[(setting, run)] for run in runs])


_TUNED: ByteLRU = ByteLRU(256 * 1024, lambda rate: 256)  # (setting, optimizer) → α


def tuned_rates(
    key: str,
    formula: str,
    sigma: float,
    keys: tuple,
    start: tuple,
    steps: int,
    schedule: tuple = ("constant", ()),
) -> dict[str, float]:
    """``presets.tune_learning_rates`` for the explorer; ``schedule`` as in ``race``. Each
    optimizer's α depends on its own runs only, so each is kept on its own: a new optimizer
    in the race tunes just itself, and ``warm_up`` can tune them all ahead of a visitor."""
    setting = (key, formula, sigma, start, steps, schedule)

    def tune(missing: list[tuple]) -> dict[tuple, float]:
        surface = load_surface(key, formula).with_noise(sigma)
        optimizers = [k for _, k in missing]
        schedule_ = (schedule[0], dict(schedule[1]))
        rates = presets.tune_learning_rates(surface, optimizers, start, steps, schedule=schedule_)
        return {(setting, k): rates[k] for k in optimizers}

    rates = _TUNED.get_or_compute([(setting, k) for k in keys], tune)
    return {k: rates[(setting, k)] for k in keys}


@byte_lru_cache(max_bytes=FIGURE_BYTES, nbytes=len)
def figure_json(builder: Callable[..., go.Figure | dict], race_args: tuple, *args, **kwargs) -> str:
    """``builder(race(*race_args), …)`` as JSON: a view seen before costs neither its figure
    nor its JSON again."""
    figure = builder(race(*race_args), *args, **kwargs)
    return plotly.io.to_json(figure, validate=False)  # built valid, as Streamlit's charts do


@byte_lru_cache(max_bytes=FIGURE_BYTES // 4, nbytes=len)
def bias_correction_json(
    key: str, formula: str, sigma: float, optimizer: str, hparams: tuple, start: tuple
) -> str:
    """An optimizer's first steps with and without bias correction, as a figure's JSON."""
    surface = load_surface(key, formula).with_noise(sigma)
    result = analyses.bias_correction_race(surface, optimizer, dict(hparams), start)
    return plotly.io.to_json(figures.bias_correction_figure(result), validate=False)


def freeze(values: object) -> object:
    """Nested hyperparameter mappings as sorted tuples of pairs: a cache key."""
    if isinstance(values, dict):
        return tuple(sorted((k, freeze(v)) for k, v in values.items()))
    return values


def thaw(values: object) -> object:
    """``freeze`` undone (hyperparameter values are numbers and booleans, never tuples)."""
    return {k: thaw(v) for k, v in values} if isinstance(values, tuple) else values


LANDSCAPES = {
    "sensitivity": landscapes.alpha_sensitivity,
    "map": landscapes.hyper_map,
    "basins": landscapes.basins,
    "tune": landscapes.tune_all,
}


@byte_lru_cache(max_bytes=LANDSCAPE_BYTES, nbytes=array_bytes)
def landscape(what: str, where: tuple, *args: object, hparams: tuple, **options: object):
    """``landscapes.<what>(surface, *args, hparams=…, **options)`` on the surface ``where`` =
    (surface key, formula, σ); ``hparams`` frozen (``freeze``)."""
    surface = load_surface(*where[:2]).with_noise(where[2])
    return LANDSCAPES[what](surface, *args, hparams=thaw(hparams), **options)


# Each experiment's race, computed once per server and setting (10⁵ online steps take seconds).
online_race = byte_lru_cache(EXPERIMENT_BYTES, array_bytes)(experiments.online_race)
weight_decay_race = byte_lru_cache(EXPERIMENT_BYTES, array_bytes)(experiments.weight_decay_race)
rotation_race = byte_lru_cache(EXPERIMENT_BYTES, array_bytes)(experiments.rotation_race)
rotation_gaps = byte_lru_cache(64 * 1024, lambda gaps: 1024)(experiments.rotation_gaps)


def warm_up() -> None:
    """What a visitor of the explorer would otherwise wait for, computed ahead (the app runs this
    on a thread of its own at start-up): for every registry surface, the default one first, its
    gradient recording (the first in a process also pays seconds of torch's tracing set-up),
    the default race's tuned α at the explorer's defaults (on the default surface every
    optimizer's, for the one a visitor adds) and the race's surface backdrop. A surface switch
    or a new optimizer then finds its α and its backdrop ready; a visitor who asks for one
    under way waits for it, not for a second computation (``ByteLRU.get_or_compute``)."""
    default = links.ExplorerState()
    for key in sorted(SURFACES, key=lambda k: k != default.surface):
        surface = SURFACES[key]
        trajectories._value_and_grad(surface.fn, (1, 1), surface.time_varying)
        start = surface.nearest_finite_start(surface.start)
        tuned_rates(key, "", surface.noise, default.optimizers, start, default.steps)
        if key == default.surface:
            tuned_rates(key, "", surface.noise, tuple(OPTIMIZERS), start, default.steps)
        surface_layers(surface, figures.race.GRID)
