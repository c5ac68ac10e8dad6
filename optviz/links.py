"""The pages' settings as URL query parameters, read strictly and written back: the explorer's
whole configuration (``ExplorerState``), the Landscapes page's (``LandscapesState``, which shares
the explorer's surface, start and optimizer parameters) and the Live MNIST page's
(``MnistState``).

A copied link reproduces the view. Every parameter is validated on the way in: a bad one is
dropped (its widget keeps its default) with a warning that names it, so a mangled link still opens
a working page. Nothing in a link can start work beyond the capped simulation the page runs
anyway.

Format (all optional)::

    ?surface=rosenbrock&x0=-1.5&y0=2&steps=300&seed=0&sigma=1
    &opt=sgd,momentum,adam&adam.lr=0.01&adam.bias_correction=false&view=side
    &schedule=cosine&schedule.T_max=500
    ?surface=custom&formula=x%5E2%2B3*sin(y)

Landscapes (all optional; the explorer's surface, start, steps, seed, σ, optimizers and their
hyperparameters, then its own)::

    ?surface=himmelblau&opt=sgd,adam&adam.lr=0.1&tab=Basins&map=adam&pair=beta1,beta2
    &metric=steps&tol=0.001&starts=4&seeds=1&cells=32&basin_cells=64

Live MNIST (all optional; a link only fills the widgets, it never starts a run)::

    ?model=cnn&optimizers=sgd,adam&adam.lr=0.01&epochs=5&batch=64&images=12000&seeds=2
    &device=cpu&dropout=0.2&x=seconds&schedule=step&schedule.gamma=0.1

A schedule's parameters left out of a link take their defaults (and are left out of links).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from optviz.landscapes import MAX_CELLS, MAX_REPLICAS
from optviz.optim import OPTIMIZERS
from optviz.presets import OFFSETS
from optviz.schedules import CONSTANT, SCHEDULES, Schedule
from optviz.surfaces import MAX_FORMULA_LENGTH, MAX_NOISE, SURFACES
from optviz.training.config import (
    DEVICES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_RUNS_PER_CLICK,
    MAX_TRAIN_SUBSET,
    MIN_TRAIN_SUBSET,
)
from optviz.training.models import MODELS

CUSTOM = "custom"  # the surface key of a user's formula
MIN_STEPS, MAX_STEPS = 10, 2000  # the explorer's step slider (the engine allows more)
MAX_SEED = 2**31 - 1
VIEWS = ("overlay", "side")
TABS = ("Loss", "Internals", "Update rules", "Share & export")  # the explorer's panels, in order
NAMED_UNKNOWNS = 5  # unknown parameters named in their one warning; the rest are counted
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


@dataclass(frozen=True)
class ExplorerState:
    """What the explorer shows. ``None`` start or σ means the surface's own default."""

    surface: str = "rosenbrock"
    formula: str = ""  # the user's f(x, y) when surface == "custom"
    start: tuple[float, float] | None = None
    steps: int = 300  # enough for most optimizers to reach a minimum at a tuned α
    seed: int = 0
    sigma: float | None = None
    optimizers: tuple[str, ...] = DEFAULT_OPTIMIZERS
    hparams: Mapping[str, Mapping[str, float | bool]] = field(default_factory=dict)
    view: str = "overlay"
    show_3d: bool = False
    tab: str = TABS[0]
    schedule: Schedule = CONSTANT


def to_query(state: ExplorerState) -> dict[str, str]:
    """The query parameters for ``state``; defaults are left out to keep links short."""
    default = ExplorerState()
    query: dict[str, str] = {"surface": state.surface}
    if state.surface == CUSTOM:
        query["formula"] = state.formula
    if state.start is not None:
        query["x0"], query["y0"] = (f"{v:.6g}" for v in state.start)
    if state.steps != default.steps:
        query["steps"] = str(state.steps)
    if state.seed != default.seed:
        query["seed"] = str(state.seed)
    if state.sigma is not None:
        query["sigma"] = f"{state.sigma:g}"
    query["opt"] = ",".join(state.optimizers)
    for key in state.optimizers:
        for name, value in state.hparams.get(key, {}).items():
            query[f"{key}.{name}"] = _hparam_text(value)
    if state.view != default.view:
        query["view"] = state.view
    if state.show_3d:
        query["3d"] = "true"
    if state.tab != default.tab:
        query["tab"] = state.tab
    return query | _schedule_query(state.schedule)


def from_query(params: Mapping[str, str]) -> tuple[ExplorerState, list[str]]:
    """Read a query; returns the state and the warnings: one per known parameter that was
    ignored, and one for all unknown parameters together (a link may carry hundreds)."""

    def read(name: str, raw: str, values: dict[str, Any]) -> None:
        if name == "surface":
            if raw != CUSTOM and raw not in SURFACES:
                raise ValueError(f"unknown surface {raw!r}")
            values["surface"] = raw
        elif name == "formula":
            if len(raw) > MAX_FORMULA_LENGTH:
                raise ValueError(f"longer than {MAX_FORMULA_LENGTH} characters")
            values["formula"] = raw
        elif name in ("x0", "y0"):
            values[name] = _finite(raw)
        elif name == "steps":
            values["steps"] = _integer(raw, MIN_STEPS, MAX_STEPS)
        elif name == "seed":
            values["seed"] = _integer(raw, 0, MAX_SEED)
        elif name == "sigma":
            values["sigma"] = _between_0_and(raw, MAX_NOISE)
        elif name == "opt":
            values["optimizers"] = _optimizers(raw)
        elif name == "view":
            values["view"] = _choice(raw, VIEWS)
        elif name == "3d":
            if raw not in ("true", "false"):
                raise ValueError("must be true or false")
            values["show_3d"] = raw == "true"
        elif name == "tab":
            values["tab"] = _choice(raw, TABS)
        else:
            _run_setting(name, raw, values)

    values, warnings = _read_query(params, read)

    def reject(name: str, why: str) -> None:
        warnings.append(f"Ignored link parameter `{_shown(name)}`: {why}")

    _read_schedule(values, reject)
    if ("x0" in values) != ("y0" in values):
        reject("x0" if "x0" in values else "y0", "x0 and y0 go together")
    elif "x0" in values:
        values["start"] = (values["x0"], values["y0"])
    values.pop("x0", None)
    values.pop("y0", None)
    if values.get("surface") == CUSTOM and not values.get("formula"):
        reject("surface", "a custom surface needs a formula")
        values.pop("surface")
    return ExplorerState(**values), warnings


def _unknown_warnings(unknown_params: list[tuple[str, str]]) -> list[str]:
    """One warning for one unknown parameter (with why), one for all of several."""
    if len(unknown_params) == 1:
        name, why = unknown_params[0]
        return [f"Ignored link parameter `{_shown(name)}`: {why}"]
    if not unknown_params:
        return []
    names = ", ".join(f"`{_shown(name)}`" for name, _ in unknown_params[:NAMED_UNKNOWNS])
    more = len(unknown_params) - NAMED_UNKNOWNS
    return [
        f"Ignored {len(unknown_params)} unknown link parameters: {names}"
        + (f" and {more} more." if more > 0 else ".")
    ]


def explorer_link(state: ExplorerState) -> str:
    """A link from another page of the app to the explorer showing ``state``: relative, so it
    works under any host and base path (the explorer is the app's default page, one level up
    from a page's own path)."""
    return "./?" + urlencode(to_query(state))


# --- Landscapes ----------------------------------------------------------------------------

LANDSCAPE_TABS = ("α sensitivity", "Maps", "Basins", "Tune all")  # the page's views, in order
LANDSCAPE_METRICS = ("gap", "steps")  # what a map colours: final f − f*, steps to tolerance
# The explorer's parameters the Landscapes page shares (and its optimizers' "key.name" ones).
SHARED = ("surface", "formula", "x0", "y0", "steps", "seed", "sigma", "opt")
MIN_TOL, MAX_TOL = 1e-12, 1e3
MIN_CELLS = 8  # a grid coarser than this shows nothing


@dataclass(frozen=True)
class LandscapesState:
    """What the Landscapes page shows: the explorer's surface, start, steps, seed, σ, optimizers
    and hyperparameters (``explorer``; its view, 3-D and tab are not used), then its own."""

    explorer: ExplorerState = field(default_factory=ExplorerState)
    tab: str = LANDSCAPE_TABS[0]
    map_key: str = "adam"  # the optimizer a map shows …
    pair: tuple[str, str] = ("beta1", "beta2")  # … over these two of its hyperparameters
    metric: str = LANDSCAPE_METRICS[0]
    tol: float = 1e-3
    starts: int = 4
    seeds: int = 1
    cells: int = 32
    basin_cells: int = 64


def landscapes_to_query(state: LandscapesState) -> dict[str, str]:
    """The query parameters for ``state``; defaults are left out to keep links short."""
    query = {k: v for k, v in to_query(state.explorer).items() if k in SHARED or "." in k}
    default = LandscapesState()
    for name, value, default_value in (
        ("tab", state.tab, default.tab),
        ("map", state.map_key, default.map_key),
        ("pair", ",".join(state.pair), ",".join(default.pair)),
        ("metric", state.metric, default.metric),
        ("tol", state.tol, default.tol),
        ("starts", state.starts, default.starts),
        ("seeds", state.seeds, default.seeds),
        ("cells", state.cells, default.cells),
        ("basin_cells", state.basin_cells, default.basin_cells),
    ):
        if value != default_value:
            query[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return query


def landscapes_from_query(params: Mapping[str, str]) -> tuple[LandscapesState, list[str]]:
    """Read a Landscapes query; returns the state and the warnings, as ``from_query`` does (the
    shared parameters are read by ``from_query`` itself)."""
    shared = {k: v for k, v in params.items() if k in SHARED or "." in k}
    explorer, warnings = from_query(shared)
    values: dict[str, Any] = {"explorer": explorer}
    unknown_params: list[tuple[str, str]] = []
    for name, raw in params.items():
        if name in shared:
            continue
        try:
            if name == "tab":
                values["tab"] = _choice(raw, LANDSCAPE_TABS)
            elif name == "map":
                if raw not in OPTIMIZERS or not OPTIMIZERS[raw].maps:
                    mapped = ", ".join(k for k, spec in OPTIMIZERS.items() if spec.maps)
                    raise ValueError(f"choose an optimizer with maps: {mapped}")
                values["map_key"] = raw
            elif name == "pair":
                values["pair"] = tuple(part.strip() for part in raw.split(","))
            elif name == "metric":
                values["metric"] = _choice(raw, LANDSCAPE_METRICS)
            elif name == "tol":
                values["tol"] = _finite(raw)
                if not MIN_TOL <= values["tol"] <= MAX_TOL:
                    raise ValueError(f"must be between {MIN_TOL:g} and {MAX_TOL:g}")
            elif name == "starts":
                values["starts"] = _integer(raw, 1, len(OFFSETS))
            elif name == "seeds":
                values["seeds"] = _integer(raw, 1, MAX_REPLICAS)
            elif name in ("cells", "basin_cells"):
                values[name] = _integer(raw, MIN_CELLS, MAX_CELLS)
            else:
                raise _Unknown("unknown parameter")
        except _Unknown as error:
            unknown_params.append((name, str(error)))
        except ValueError as error:
            values.pop(name, None)
            warnings.append(f"Ignored link parameter `{_shown(name)}`: {error}")
    if "pair" in values:  # checked against the map's optimizer, whichever it is
        spec = OPTIMIZERS[values.get("map_key", LandscapesState.map_key)]
        if values["pair"] not in spec.maps:
            pairs = "; ".join(",".join(pair) for pair in spec.maps)
            warnings.append(f"Ignored link parameter `pair`: {spec.label} maps {pairs}")
            values["pair"] = spec.maps[0]
    elif "map_key" in values:
        values["pair"] = OPTIMIZERS[values["map_key"]].maps[0]
    return LandscapesState(**values), warnings + _unknown_warnings(unknown_params)


# --- Live MNIST ---------------------------------------------------------------------------

MNIST_DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
MNIST_X_AXES = ("iteration", "epoch", "seconds")  # what the curves are drawn against
MAX_DROPOUT = 0.5  # the page's slider


@dataclass(frozen=True)
class MnistState:
    """What the Live MNIST page's widgets hold. ``train_images`` None: the page's default.
    ``hparams`` holds the values that differ from the optimizer's paper settings."""

    model: str = "logreg"
    optimizers: tuple[str, ...] = MNIST_DEFAULT_OPTIMIZERS
    hparams: Mapping[str, Mapping[str, float | bool]] = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 128
    train_images: int | None = None
    seeds: int = 1
    device: str = DEVICES[0]
    dropout: float = 0.0
    x: str = MNIST_X_AXES[0]
    schedule: Schedule = CONSTANT


def mnist_to_query(state: MnistState) -> dict[str, str]:
    """The query parameters for ``state``; defaults are left out to keep links short."""
    default = MnistState()
    query = {"model": state.model, "optimizers": ",".join(state.optimizers)}
    for key in state.optimizers:
        for name, value in state.hparams.get(key, {}).items():
            query[f"{key}.{name}"] = _hparam_text(value)
    for name, value, default_value in (
        ("epochs", state.epochs, default.epochs),
        ("batch", state.batch_size, default.batch_size),
        ("images", state.train_images, default.train_images),
        ("seeds", state.seeds, default.seeds),
        ("device", state.device, default.device),
        ("dropout", state.dropout, default.dropout),
        ("x", state.x, default.x),
    ):
        if value != default_value:
            query[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return query | _schedule_query(state.schedule)


def mnist_from_query(params: Mapping[str, str]) -> tuple[MnistState, list[str]]:
    """Read a Live MNIST query; returns the state and the warnings, as ``from_query`` does."""

    def read(name: str, raw: str, values: dict[str, Any]) -> None:
        if name == "model":
            if raw not in MODELS:
                raise ValueError(f"unknown model {raw!r}; choose one of {', '.join(MODELS)}")
            values["model"] = raw
        elif name == "optimizers":
            values["optimizers"] = _optimizers(raw)
        elif name == "epochs":
            values["epochs"] = _integer(raw, 1, MAX_EPOCHS)
        elif name == "batch":
            values["batch_size"] = _integer(raw, 1, MAX_BATCH_SIZE)
        elif name == "images":
            values["train_images"] = _integer(raw, MIN_TRAIN_SUBSET, MAX_TRAIN_SUBSET)
        elif name == "seeds":
            values["seeds"] = _integer(raw, 1, MAX_RUNS_PER_CLICK)
        elif name == "device":
            values["device"] = _choice(raw, DEVICES)
        elif name == "dropout":
            values["dropout"] = _between_0_and(raw, MAX_DROPOUT)
        elif name == "x":
            values["x"] = _choice(raw, MNIST_X_AXES)
        else:
            _run_setting(name, raw, values)

    values, warnings = _read_query(params, read)
    _read_schedule(
        values, lambda name, why: warnings.append(f"Ignored link parameter `{_shown(name)}`: {why}")
    )
    return MnistState(**values), warnings


def _schedule_query(schedule: Schedule) -> dict[str, str]:
    """``schedule=<key>`` and the parameters that differ from their defaults; none if constant."""
    key, params = schedule
    if key == CONSTANT[0]:
        return {}
    spec = SCHEDULES[key]
    defaults = spec.check()
    changed = {n: v for n, v in spec.check(params).items() if v != defaults[n]}
    return {"schedule": key} | {f"schedule.{n}": f"{v:g}" for n, v in changed.items()}


def _run_setting(name: str, raw: str, values: dict[str, Any]) -> None:
    """The parameters both pages' links share: ``schedule``, ``schedule.<parameter>`` (checked
    against the schedule once the whole link is read, ``_read_schedule``) and
    ``<optimizer>.<hyperparameter>``; anything else is unknown."""
    if name == "schedule":
        values["schedule_key"] = _choice(raw, tuple(SCHEDULES))
    elif name.startswith("schedule."):
        values.setdefault("schedule_params", {})[name.removeprefix("schedule.")] = _finite(raw)
    elif "." in name:
        key, hp_name = name.split(".", 1)
        values.setdefault("hparams", {}).setdefault(key, {})[hp_name] = _hparam(key, hp_name, raw)
    else:
        raise _Unknown("unknown parameter")


def _read_schedule(values: dict[str, Any], reject: Callable[[str, str], None]) -> None:
    """``values["schedule"]`` from what ``_schedule_param`` read; a parameter the schedule
    does not have, or out of its range, is dropped with a warning."""
    key = values.pop("schedule_key", CONSTANT[0])
    spec, params = SCHEDULES[key], {}
    for name, value in values.pop("schedule_params", {}).items():
        try:
            params[name] = spec.check({name: value})[name]
        except ValueError as error:
            reject(f"schedule.{name}", str(error))
    values["schedule"] = (key, params)


class _Unknown(ValueError):
    """The parameter is not one the explorer knows (not merely a bad value)."""


def _shown(name: str) -> str:
    """A parameter's name as a warning shows it: a link's names can be any length."""
    return name if len(name) <= 40 else name[:39] + "…"


def _finite(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _optimizers(raw: str) -> tuple[str, ...]:
    """A comma-separated list of registry keys, each once, in order; at least one."""
    keys = tuple(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    unknown = [k for k in keys if k not in OPTIMIZERS]
    if unknown or not keys:
        raise ValueError(f"unknown optimizer {', '.join(unknown) or '(none)'}")
    return keys


def _choice(raw: str, options: Sequence[str]) -> str:
    if raw not in options:
        raise ValueError(f"must be one of {', '.join(options)}")
    return raw


def _between_0_and(raw: str, high: float) -> float:
    value = _finite(raw)
    if not 0 <= value <= high:
        raise ValueError(f"must be between 0 and {high:g}")
    return value


def _integer(raw: str, low: int, high: int) -> int:
    if not raw.strip().lstrip("-").isdigit():
        raise ValueError(f"{raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def _hparam_text(value: float | bool) -> str:
    """A hyperparameter in a link: "true"/"false", or the number as short as it stays exact
    ("0.001"; a Landscapes map cell's 0.48751941342 in full), so a link reruns the same race."""
    if isinstance(value, bool):
        return str(value).lower()
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


def _hparam(key: str, name: str, raw: str) -> float | bool:
    if key not in OPTIMIZERS:
        raise _Unknown(f"unknown optimizer {key!r}")
    spec = OPTIMIZERS[key]
    hp = next((hp for hp in spec.hyperparams if hp.name == name), None)
    if hp is None:
        raise _Unknown(f"{spec.label} has no hyperparameter {name!r}")
    if hp.scale == "bool":
        if raw.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw.lower() == "true"
    return float(hp.validate(_finite(raw)))


# --- Experiments ----------------------------------------------------------------------------

EXPERIMENTS = ("reddi", "decay", "rotation")  # the Experiments page's, in its order
ONLINE_SETTINGS = ("deterministic", "stochastic")
ONLINE_STEPS = (1_000, 10_000, 100_000)  # the online race's lengths on offer
MAX_ANGLE = 90


@dataclass(frozen=True)
class ExperimentState:
    """Which experiment the Experiments page shows, with its few settings."""

    experiment: str = EXPERIMENTS[0]
    setting: str = ONLINE_SETTINGS[0]
    steps: int = ONLINE_STEPS[1]
    angle: int = 30


def experiment_to_query(state: ExperimentState) -> dict[str, str]:
    """The query parameters for ``state``: the experiment and its own settings."""
    query = {"experiment": state.experiment}
    if state.experiment == "reddi":
        query |= {"setting": state.setting, "steps": str(state.steps)}
    elif state.experiment == "rotation":
        query["angle"] = str(state.angle)
    return query


def experiment_from_query(params: Mapping[str, str]) -> tuple[ExperimentState, list[str]]:
    """Read an Experiments query; returns the state and the warnings, as ``from_query`` does."""

    def read(name: str, raw: str, values: dict[str, Any]) -> None:
        if name == "experiment":
            values["experiment"] = _choice(raw, EXPERIMENTS)
        elif name == "setting":
            values["setting"] = _choice(raw, ONLINE_SETTINGS)
        elif name == "steps":
            values["steps"] = int(_choice(raw, [str(n) for n in ONLINE_STEPS]))
        elif name == "angle":
            values["angle"] = _integer(raw, -MAX_ANGLE, MAX_ANGLE)
        else:
            raise _Unknown("unknown parameter")

    values, warnings = _read_query(params, read)
    return ExperimentState(**values), warnings


def _read_query(
    params: Mapping[str, str], read: Callable[[str, str, dict[str, Any]], None]
) -> tuple[dict[str, Any], list[str]]:
    """``read(name, raw, values)`` each parameter into ``values``; a ``ValueError`` drops the
    parameter with a warning that names it, unknown ones share one warning at the end."""
    warnings: list[str] = []
    values: dict[str, Any] = {}
    unknown_params: list[tuple[str, str]] = []
    for name, raw in params.items():
        try:
            read(name, raw, values)
        except _Unknown as error:
            unknown_params.append((name, str(error)))
        except ValueError as error:
            warnings.append(f"Ignored link parameter `{_shown(name)}`: {error}")
    return values, warnings + _unknown_warnings(unknown_params)
