"""``SCHEDULES``: learning-rate schedules α_t = α · s(t), the one home of everything about them.

Each entry says how a person sees it (label, LaTeX, parameters with defaults and ranges), how
PyTorch builds it (a ``torch.optim.lr_scheduler`` on any optimizer, ours included: the Live MNIST
loop steps it after every ``optimizer.step()``) and its closed form s(t) for t = 1 … T, which
the trajectory engine precomputes once as a tensor instead of stepping a scheduler per run per
step. ``tests/test_schedules.py`` holds the two to each other: α · s(t) equals the lr the torch
scheduler sets before step t, for many steps and two param groups.

Step t counts from 1 as in the paper; a torch scheduler's ``last_epoch`` is t − 1 then.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler

ScheduleParams = Mapping[str, float]
Schedule = tuple[str, ScheduleParams]  # (key, parameters), as a run is (optimizer, hparams)
CONSTANT: Schedule = ("constant", {})


@dataclass(frozen=True)
class ScheduleParam:
    """One parameter of a schedule: a number input with a range (whole numbers for step counts)."""

    name: str  # as in torch's scheduler: step_size, gamma, T_max, start_factor, total_iters
    label: str
    default: float
    low: float
    high: float
    integer: bool = False
    help: str = ""

    def validate(self, value: Any) -> float:
        """Check a value (from a widget or a URL): a number, whole if it must be, in range."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{self.name} must be a finite number, not {value}")
        if self.integer and value != int(value):
            raise ValueError(f"{self.name} must be a whole number, not {value:g}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{self.name} must be between {self.low:g} and {self.high:g}, not {value:g}"
            )
        return int(value) if self.integer else float(value)


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule: its closed form s(t) and the torch scheduler that sets the same α_t."""

    key: str
    label: str
    latex: str  # α_t in LaTeX
    params: tuple[ScheduleParam, ...]
    # s at steps t (a float64 array counting from 1) for checked parameters.
    factor: Callable[[np.ndarray, dict[str, float]], np.ndarray]
    # The torch scheduler on an optimizer, for checked parameters.
    torch_scheduler: Callable[[torch.optim.Optimizer, dict[str, float]], lr_scheduler.LRScheduler]

    def check(self, params: ScheduleParams | None = None) -> dict[str, float]:
        """Every parameter, validated; missing ones take their defaults."""
        unknown = set(params or {}) - {p.name for p in self.params}
        if unknown:
            raise ValueError(f"the {self.label} schedule has no parameter {sorted(unknown)[0]!r}")
        given = dict(params or {})
        return {p.name: p.validate(given.get(p.name, p.default)) for p in self.params}

    def factors(self, steps: int, params: ScheduleParams | None = None) -> np.ndarray:
        """``(steps,)`` s(1) … s(T): step t's learning rate is α · s(t)."""
        t = np.arange(1, steps + 1, dtype=np.float64)
        return np.broadcast_to(self.factor(t, self.check(params)), t.shape).astype(np.float64)

    def build(
        self, optimizer: torch.optim.Optimizer, params: ScheduleParams | None = None
    ) -> lr_scheduler.LRScheduler:
        """The torch scheduler; call its ``step()`` after every ``optimizer.step()``."""
        return self.torch_scheduler(optimizer, self.check(params))

    def describe(self, params: ScheduleParams | None = None) -> str:
        """One line for a legend or caption: "cosine (T_max = 300)"."""
        values = self.check(params)
        shown = ", ".join(f"{p.name} = {values[p.name]:g}" for p in self.params)
        return f"{self.label} ({shown})" if shown else self.label


def _steps(name: str, label: str, default: int, help: str) -> ScheduleParam:
    return ScheduleParam(name, label, default, 1, 100_000, integer=True, help=help)


SCHEDULES: dict[str, ScheduleSpec] = {
    spec.key: spec
    for spec in (
        ScheduleSpec(
            "constant",
            "constant",
            r"\alpha_t = \alpha",
            (),
            lambda t, p: np.ones_like(t),
            lambda opt, p: lr_scheduler.LambdaLR(opt, lambda epoch: 1.0),
        ),
        ScheduleSpec(
            "inv_sqrt",
            "α/√t",
            r"\alpha_t = \alpha / \sqrt{t}",
            (),
            lambda t, p: 1 / np.sqrt(t),
            lambda opt, p: lr_scheduler.LambdaLR(opt, lambda epoch: 1 / math.sqrt(epoch + 1)),
        ),
        ScheduleSpec(
            "step",
            "step",
            r"\alpha_t = \alpha \, \gamma^{\lfloor (t - 1) / s \rfloor}",
            (
                _steps("step_size", "Every s steps", 100, "α is multiplied by γ every s steps."),
                ScheduleParam(
                    "gamma", "× γ", 0.5, 0.0, 1.0, help="The factor applied every s steps."
                ),
            ),
            lambda t, p: p["gamma"] ** np.floor((t - 1) / p["step_size"]),
            lambda opt, p: lr_scheduler.StepLR(opt, p["step_size"], p["gamma"]),
        ),
        ScheduleSpec(
            "cosine",
            "cosine",
            r"\alpha_t = \tfrac{\alpha}{2} \left(1 + \cos \tfrac{\pi (t - 1)}{T}\right)",
            (_steps("T_max", "Period T (steps)", 300, "α falls to 0 over T steps (then rises)."),),
            lambda t, p: (1 + np.cos(np.pi * (t - 1) / p["T_max"])) / 2,
            lambda opt, p: lr_scheduler.CosineAnnealingLR(opt, p["T_max"]),
        ),
        ScheduleSpec(
            "warmup",
            "linear warm-up",
            r"\alpha_t = \alpha \left(f + (1 - f) \min\!\left(\tfrac{t - 1}{W}, 1\right)\right)",
            (
                ScheduleParam(
                    "start_factor", "Start at f × α", 0.1, 0.001, 1.0, help="α_1 = f · α."
                ),
                _steps(
                    "total_iters", "Warm-up W (steps)", 50, "α reaches its value after W steps."
                ),
            ),
            lambda t, p: (
                p["start_factor"]
                + (1 - p["start_factor"]) * np.minimum((t - 1) / p["total_iters"], 1.0)
            ),
            lambda opt, p: lr_scheduler.LinearLR(
                opt, p["start_factor"], 1.0, total_iters=p["total_iters"]
            ),
        ),
    )
}


def check_schedule(schedule: Any) -> tuple[ScheduleSpec, dict[str, float]]:
    """A ``(key, parameters)`` pair (or None: constant), validated, with its spec."""
    if schedule is None:
        schedule = CONSTANT
    try:
        key, params = schedule
    except (TypeError, ValueError):
        raise ValueError(f"a schedule must be (key, parameters), not {schedule!r}") from None
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {key!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[key], SCHEDULES[key].check(params)
