"""How runs are named and told apart: legend names, colours, dashes, divergence notes.

The sentences a person reads about a race are written here, on the presentation side; the
engine records numbers only (``Trajectories.diverged_at``). Pages use these too, so a warning
above the chart and the chart's own note say the same thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optviz.optim import OPTIMIZERS, HyperParam, distinct_colors

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

DASHES = ("solid", "dash", "dot", "dashdot")  # runs that share a colour differ by dash


def run_colors(result: Trajectories) -> list[str]:
    """Each run's colour: its optimizer's, one no other optimizer in the race has while there
    are colours enough (``distinct_colors``); runs of the same optimizer share it."""
    return distinct_colors(key for key, _ in result.runs)


def run_color(result: Trajectories, k: int) -> str:
    return run_colors(result)[k]


def _shade_index(result: Trajectories, k: int) -> int:
    """How many earlier runs have run k's colour (0 for the first), to pick a dash: the runs of
    one optimizer, and past eight optimizers those of another that shares the colour."""
    colours = run_colors(result)
    return colours[:k].count(colours[k])


def run_dash(result: Trajectories, k: int) -> str:
    return DASHES[_shade_index(result, k) % len(DASHES)]


def first_value(value: object) -> object:
    """A hyperparameter's value for start b = 0 (a sweep gives one value per start)."""
    if isinstance(value, bool | str):
        return value
    return np.asarray(value).reshape(-1)[0].item()


def hparam(result: Trajectories, k: int, name: str) -> float:
    return float(first_value(result.hyperparameters(k)[name]))  # type: ignore[arg-type]


def _format_hparam(hp: HyperParam, value: object) -> str:
    if isinstance(value, bool):
        return f"{hp.name.replace('_', ' ')} {'on' if value else 'off'}"
    return f"{hp.plain_symbol} = {value:g}"


def run_names(result: Trajectories) -> list[str]:
    """Legend names: the optimizer's label and its α ("Adam (α = 0.1)"), plus any other
    hyperparameter that tells apart runs of the same optimizer ("Adam (α = 0.1, β1 = 0.9)")."""
    names = []
    for k, (key, _) in enumerate(result.runs):
        spec = OPTIMIZERS[key]
        twins = [j for j, (other, _) in enumerate(result.runs) if other == key]
        values = [{n: first_value(v) for n, v in result.hyperparameters(j).items()} for j in twins]
        mine = values[twins.index(k)]
        parts = [
            _format_hparam(hp, mine[hp.name])
            for hp in spec.hyperparams
            if hp.name == "lr" or len({repr(v[hp.name]) for v in values}) > 1
        ]
        same = len(twins) > 1 and all(v == mine for v in values)
        parts += [f"run {twins.index(k) + 1}"] if same else []
        names.append(f"{spec.label} ({', '.join(parts)})" if parts else spec.label)
    return names


def last_good(result: Trajectories, k: int) -> int:
    """Index of run k's last valid point: T, or the step before it diverged."""
    step = int(result.diverged_at[k, 0])
    return result.steps if step < 0 else max(step - 1, 0)


def divergence_note(result: Trajectories, k: int, name: str | None = None) -> str | None:
    """What happened to run k (start b = 0), for the reader, or None if it did not diverge:
    "RMSprop (α = 0.1) diverged at step 37". ``name`` is the run's legend name (``run_names``)."""
    step = int(result.diverged_at[k, 0])
    if step < 0:
        return None
    name = name or run_names(result)[k]
    if step == 0:
        return f"{name} cannot start: f or its gradient is not finite at the start point"
    return f"{name} diverged at step {step}"


def left_window_note(name: str, step: int, diverged: int | None = None) -> str:
    """What happened to a run whose path left the plot: "Adam left the plot at step 3", and
    "… and diverged at step 9" if it went on to diverge (``diverged``: that step)."""
    note = f"{name} left the plot at step {step}"
    return f"{note} and diverged at step {diverged}" if diverged else note


def check_run_index(result: Trajectories, k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < len(result.runs):
        raise ValueError(
            f"run index must be an integer from 0 to {len(result.runs) - 1}, got {k!r}"
        )
