"""Small analyses behind single figures: each runs the engine and returns what it recorded.

Figure builders never run the engine; when a figure needs a race of its own (not the race on
the page), the race is set up here, and the page passes its result to the builder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optviz.optim import OPTIMIZERS
from optviz.surfaces import Surface
from optviz.trajectories import Trajectories, simulate

ABLATION_STEPS = 50  # the blow-up without bias correction is over within the first tens of steps


def bias_correction_race(
    surface: str | Surface,
    key: str,
    hparams: Mapping[str, Any],
    start: Sequence[float],
    steps: int = ABLATION_STEPS,
) -> Trajectories:
    """Paper §3: optimizer ``key`` from ``start``, once with its bias correction and once
    without (runs 0 and 1), the rest of ``hparams`` the same.

    Raises:
        ValueError: the optimizer has no bias-correction switch.
    """
    spec = OPTIMIZERS[key]
    switch = spec.bias_correction
    if not isinstance(switch, str):
        raise ValueError(f"{spec.label} has no bias-correction switch to turn off")
    runs = [(key, {**hparams, switch: flag}) for flag in (True, False)]
    return simulate(surface, runs, start, steps)
