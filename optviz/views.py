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
from optviz.cache import array_bytes, byte_lru_cache
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
    rate ``schedule`` ``(key, ((name, value), …))`` for every run."""
    surface = load_surface(key, formula).with_noise(sigma)
    schedules = [(schedule[0], dict(schedule[1]))] * len(runs)
    runs = [(k, dict(h)) for k, h in runs]
    return simulate(surface, runs, start, steps, seed=seed, schedules=schedules)


@byte_lru_cache(max_bytes=256 * 1024, nbytes=lambda rates: 1024)  # ≤ 16 floats each
def tuned_rates(
    key: str,
    formula: str,
    sigma: float,
    keys: tuple,
    start: tuple,
    steps: int,
    schedule: tuple = ("constant", ()),
):
    """``presets.tune_learning_rates`` for the explorer; ``schedule`` as in ``race``."""
    surface = load_surface(key, formula).with_noise(sigma)
    schedule_ = (schedule[0], dict(schedule[1]))
    return presets.tune_learning_rates(surface, keys, start, steps, schedule=schedule_)


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
    """Record the default surface's gradient: the first recording in a process pays seconds of
    torch's tracing set-up, which the server's first visitor would otherwise wait for (the
    recording then serves every shape, see ``trajectories._value_and_grad``)."""
    surface = SURFACES[links.ExplorerState().surface]
    trajectories._value_and_grad(surface.fn, (1, 1), surface.time_varying)
