"""``OPTIMIZERS``: the single source of truth for each optimizer's name, colour, sliders and math.

Pages build their widgets by iterating it, figures take colours from it, and tests parametrize
over it, so adding an optimizer is one entry here. The LaTeX update rule and the reference are
read from the class docstring, which already holds them (STYLE §1), rather than written twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

from optviz.optim.adadelta import Adadelta
from optviz.optim.adagrad import Adagrad
from optviz.optim.adam import Adam
from optviz.optim.adamax import Adamax
from optviz.optim.base import Optimizer
from optviz.optim.momentum import Momentum, Nesterov
from optviz.optim.rmsprop import RMSprop
from optviz.optim.sgd import SGD

Scale = Literal["log", "linear", "decay", "bool"]

# Values a decay rate (β, ρ, μ) can take: dense towards 1, where the behaviour changes fastest.
DECAYS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter as a user sees it: a slider (or a toggle) with a range and a default.

    ``scale`` tells the UI how to space the slider: ``log`` for rates and ε spanning decades,
    ``decay`` for β, ρ, μ whose interesting values crowd towards 1 (spaced by log(1 − value)),
    ``linear`` otherwise, ``bool`` for a toggle.
    """

    name: str  # the flat name used in configs and URLs: "lr", "beta1", …
    symbol: str  # LaTeX symbol, as in the docstrings' update rules
    default: float | bool  # PyTorch's default (the paper's for Adam)
    low: float = 0.0
    high: float = 1.0
    scale: Scale = "linear"
    help: str = ""

    @property
    def log(self) -> bool:
        return self.scale == "log"

    def options(self) -> list[float]:
        """The values a slider offers, low to high, always including the default.

        A grid a person would type: 1, 2, 5 per decade for ``log``; 0.9, 0.99, 0.999 … for
        ``decay``; 21 even steps for ``linear``. The α grid search (``optviz.presets``) uses the
        same grid, so a tuned value is always one the slider can show.
        """
        if self.scale == "log":
            decades = range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1)
            grid = [round(m * 10.0**d, 12) for d in decades for m in (1, 2, 5)]
        elif self.scale == "decay":
            grid = list(DECAYS)
        elif self.scale == "linear":
            grid = [self.low + (self.high - self.low) * i / 20 for i in range(21)]
        else:
            return [False, True]
        grid = [v for v in grid if self.low <= v <= self.high]
        return sorted(set(grid) | {float(self.default)})

    def snap(self, value: float) -> float:
        """The option closest to ``value`` (in log distance on a log scale)."""
        if self.scale == "log":
            target = math.log(max(value, 1e-300))
            return min(self.options(), key=lambda v: abs(math.log(v) - target))
        return min(self.options(), key=lambda v: abs(v - value))

    def validate(self, value: Any) -> float | bool:
        """Check a user's value (from a widget or a URL): right type, finite, within range."""
        if self.scale == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false, not {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be a number, not {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{self.name} must be a finite number, not {value}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{self.name} must be between {self.low:g} and {self.high:g}, not {value:g}"
            )
        return value


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer class plus what the UI, the figures and the docs need to know about it."""

    key: str
    cls: type[Optimizer]
    label: str
    color: str  # one colour per optimizer, everywhere (paths, curves, tables)
    hyperparams: tuple[HyperParam, ...]

    @property
    def latex(self) -> str:
        """The update rule, taken from the ``.. math::`` block of the class docstring."""
        block = re.search(r"\.\. math::\n(.*?)\n\n", self.cls.__doc__ or "", re.S)
        lines = (block.group(1) if block else "").splitlines()
        return "\\begin{aligned}\n" + "\n".join(line.strip() for line in lines) + "\n\\end{aligned}"

    @property
    def reference(self) -> str:
        """The paper(s) the update comes from, taken from the class docstring."""
        match = re.search(r"Reference: (.*?)(?:\n\s*\n|\Z)", self.cls.__doc__ or "", re.S)
        return " ".join(match.group(1).split()) if match else ""

    def defaults(self) -> dict[str, float | bool]:
        return {hp.name: hp.default for hp in self.hyperparams}

    def build(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        hparams: Mapping[str, Any] | None = None,
    ) -> Optimizer:
        """Instantiate the optimizer from flat hyperparameters (``beta1``/``beta2`` → ``betas``).

        Missing names take their defaults; values may be tensors (sweeps), so they are not range
        checked here — the optimizer's own PyTorch-style validation applies.
        """
        unknown = set(hparams or {}) - {hp.name for hp in self.hyperparams}
        if unknown:
            raise ValueError(f"{self.label} has no hyperparameter {', '.join(sorted(unknown))}")
        kwargs = self.defaults() | dict(hparams or {})
        if "beta1" in kwargs:
            kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
        return self.cls(params, **kwargs)


def _lr(default: float, low: float = 1e-5, high: float = 10.0) -> HyperParam:
    return HyperParam(
        "lr", r"\alpha", default, low, high, "log", "Learning rate α: how far each step goes."
    )


def _eps(default: float) -> HyperParam:
    return HyperParam(
        "eps",
        r"\epsilon",
        default,
        1e-12,
        1.0,
        "log",
        "ε keeps the division finite; large ε turns the adaptive step back into plain SGD.",
    )


_BETA1 = HyperParam(
    "beta1",
    r"\beta_1",
    0.9,
    0.0,
    0.999,
    "decay",
    "β1: decay of the first-moment (mean) estimate m.",
)
_BETA2 = HyperParam(
    "beta2",
    r"\beta_2",
    0.999,
    0.0,
    0.9999,
    "decay",
    "β2: decay of the second-moment (uncentered variance) estimate v.",
)
_MOMENTUM = HyperParam(
    "momentum",
    r"\mu",
    0.9,
    0.0,
    0.999,
    "decay",
    "Momentum μ: how much of the last step carries over.",
)

OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.key: spec
    for spec in (
        OptimizerSpec("sgd", SGD, "SGD", "#4E79A7", (_lr(1e-3),)),
        OptimizerSpec("momentum", Momentum, "Momentum", "#F28E2B", (_lr(1e-3), _MOMENTUM)),
        OptimizerSpec("nesterov", Nesterov, "Nesterov", "#B07AA1", (_lr(1e-3), _MOMENTUM)),
        OptimizerSpec("adagrad", Adagrad, "Adagrad", "#59A14F", (_lr(1e-2), _eps(1e-10))),
        OptimizerSpec(
            "adadelta",
            Adadelta,
            "AdaDelta",
            "#76B7B2",
            (
                _lr(1.0, 1e-3, 10.0),
                HyperParam(
                    "rho", r"\rho", 0.9, 0.0, 0.9999, "decay", "ρ: decay of both running averages."
                ),
                _eps(1e-6),
            ),
        ),
        OptimizerSpec(
            "rmsprop",
            RMSprop,
            "RMSprop",
            "#FF9DA7",
            (
                _lr(1e-2),
                HyperParam(
                    "alpha",
                    r"\rho",
                    0.99,
                    0.0,
                    0.9999,
                    "decay",
                    "ρ (PyTorch's alpha): decay of the squared-gradient average.",
                ),
                _eps(1e-8),
                HyperParam(
                    "momentum", r"\mu", 0.0, 0.0, 0.999, "decay", "Momentum μ on the scaled step."
                ),
            ),
        ),
        OptimizerSpec(
            "adam",
            Adam,
            "Adam",
            "#E15759",
            (
                _lr(1e-3),
                _BETA1,
                _BETA2,
                _eps(1e-8),
                HyperParam(
                    "bias_correction",
                    r"1 - \beta^t",
                    True,
                    scale="bool",
                    help="Divide m and v by (1 − β^t). Off: the paper's §3 ablation, whose first "
                    "steps blow up when β2 is close to 1.",
                ),
            ),
        ),
        OptimizerSpec(
            "adamax", Adamax, "AdaMax", "#9C755F", (_lr(2e-3), _BETA1, _BETA2, _eps(1e-8))
        ),
    )
}
