"""``OPTIMIZERS``: the single source of truth for everything about an optimizer.

Pages build their widgets by iterating it, figures take colours, state names and step bounds from
it, the MNIST page its presets, and tests parametrize over it: adding an optimizer is one class
file plus one entry here, and no other module names an optimizer (``tests/test_registry.py``
registers a toy one to prove it). The LaTeX update rule and the reference are read from the class
docstring, which already holds them, rather than written twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor

from optviz.optim.adadelta import Adadelta
from optviz.optim.adafactor import Adafactor
from optviz.optim.adagrad import Adagrad
from optviz.optim.adam import Adam
from optviz.optim.adamax import Adamax
from optviz.optim.adamw import AdamW
from optviz.optim.amsgrad import AMSGrad
from optviz.optim.base import Optimizer
from optviz.optim.lion import Lion
from optviz.optim.momentum import Momentum, Nesterov
from optviz.optim.nadam import NAdam
from optviz.optim.radam import RAdam
from optviz.optim.rmsprop import RMSprop
from optviz.optim.sgd import SGD

Scale = Literal["log", "linear", "decay", "bool"]

# Values a decay rate (β, ρ, μ) can take: dense towards 1, where the behaviour changes fastest.
DECAYS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)
COARSE_DECAYS = (0.5, 0.9, 0.99, 0.999)  # a decay's values in a search over several at once


# The registry's LaTeX symbols in plain Unicode.
PLAIN_SYMBOLS = {
    r"\alpha": "α",
    r"\beta_1": "β1",
    r"\beta_2": "β2",
    r"\epsilon": "ε",
    r"\rho": "ρ",
    r"\mu": "μ",
    r"\lambda": "λ",
    r"\psi": "ψ",
    r"\tau": "τ",
    r"\epsilon_2": "ε2",
    r"1 - \beta^t": "1 − βᵗ",
}


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
    label: str = ""  # the widget's label if not "<symbol> · <name>"

    @property
    def plain_symbol(self) -> str:
        """The symbol in plain Unicode, for legends, titles and labels a screen reader reads."""
        return PLAIN_SYMBOLS.get(self.symbol, self.name)

    @property
    def widget_label(self) -> str:
        return self.label or f"{self.plain_symbol} · {self.name}"

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

    def dense(self, n: int) -> list[float]:
        """``n`` values from ``low`` to ``high`` spaced as the slider is (``scale``): evenly in
        log(value) for ``log``, in log(1 − value) for ``decay`` (dense towards 1), else evenly.
        The grids of the Landscapes page's sensitivity curves and maps."""
        if self.scale == "log":
            ends = math.log10(self.low), math.log10(self.high)
            return [10.0 ** (ends[0] + (ends[1] - ends[0]) * i / (n - 1)) for i in range(n)]
        if self.scale == "decay":
            ends = math.log10(1 - self.low), math.log10(1 - self.high)
            return [1 - 10.0 ** (ends[0] + (ends[1] - ends[0]) * i / (n - 1)) for i in range(n)]
        if self.scale == "linear":
            return [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]
        raise ValueError(f"{self.name} is a toggle, not a range")

    def coarse(self) -> list[float]:
        """A few values that span the range, for a search over several hyperparameters at
        once (the Landscapes page's "Tune all"): ``COARSE_DECAYS`` for a decay, else the
        default."""
        if self.scale == "decay":
            return [v for v in COARSE_DECAYS if self.low <= v <= self.high]
        return [self.default]

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
class StateSpec:
    """One tensor of an optimizer's per-parameter state, as the internals panel plots it."""

    name: str  # the state key, PyTorch's where it has a twin: "exp_avg", "sum" …
    symbol: str  # as in the class docstring's update rule: "m", "G" …
    meaning: str  # for a panel title: "first moment (mean of g)"
    # A magnitude (≥ 0, spanning decades, like v or Σg²): plotted on a log axis.
    magnitude: bool = False
    # The decay β whose bias the optimizer divides out of this state, m̂_t = m_t/(1 − β^t), named
    # as its hyperparameter ("beta1"); the panel then plots the corrected value, the one that
    # sets the step.
    corrected_by: str | None = None

    @property
    def corrected_symbol(self) -> str:
        """The symbol of the bias-corrected state: "m" → "m̂"."""
        return self.symbol + "\u0302"


@dataclass(frozen=True)
class StepBound:
    """A bound on the effective step |Δ_t| that an optimizer guarantees (or roughly obeys)."""

    value: float
    formula: str  # how it reads, e.g. "α(1−β1)/√(1−β2)"
    source: str  # where it comes from, e.g. "§2.1"


Hyperparameters = Mapping[str, Any]


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer class plus what the UI, the figures and the docs need to know about it."""

    key: str
    cls: type[Optimizer]
    label: str
    color: str  # one colour per optimizer, everywhere (paths, curves, tables)
    hyperparams: tuple[HyperParam, ...]
    # The state tensors the internals panel plots, in order (states not listed are not plotted).
    state: tuple[StateSpec, ...] = ()
    # Its bound on |Δ_t| for given hyperparameters, if it has one (None: not for these values).
    step_bound: Callable[[Hyperparameters], StepBound | None] | None = None
    # Whether it divides bias out of its moments: always (True), never (False), or as the
    # boolean hyperparameter of that name says (Adam's "bias_correction", for the §3 ablation).
    bias_correction: bool | str = False
    # The hyperparameter pairs the Landscapes page maps (final loss over a grid of both), x then
    # y; the non-α ones among them are also what its "Tune all" searches besides α.
    maps: tuple[tuple[str, str], ...] = ()
    # Values the MNIST page's "Paper settings" button sets: the paper's (§6) where it gives them,
    # else the usual good values for MNIST pixels in [0, 1]. Names left out keep their defaults.
    paper_settings: Mapping[str, float | bool] = field(default_factory=dict)

    def hp(self, name: str) -> HyperParam:
        """The hyperparameter called ``name`` ("lr", "beta1" …)."""
        for hp in self.hyperparams:
            if hp.name == name:
                return hp
        raise KeyError(f"{self.label} has no hyperparameter {name!r}")

    @property
    def tuned(self) -> tuple[str, ...]:
        """The hyperparameters besides α that shape this optimizer's landscape (from ``maps``)."""
        names = (name for pair in self.maps for name in pair if name != "lr")
        return tuple(dict.fromkeys(names))

    def corrects_bias(self, hparams: Hyperparameters) -> bool:
        """Whether a run with ``hparams`` divides bias out of its moments."""
        if isinstance(self.bias_correction, str):
            return bool(hparams.get(self.bias_correction, self.hp(self.bias_correction).default))
        return self.bias_correction

    def paper(self) -> dict[str, float | bool]:
        """Every hyperparameter: the defaults overlaid with ``paper_settings``."""
        return self.defaults() | dict(self.paper_settings)

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
        """Instantiate the optimizer from flat hyperparameters (``beta1``/``beta2`` → ``betas``,
        ``eps2`` → ``eps = (None, eps2)``: PyTorch's pairs).

        Missing names take their defaults; values may be tensors (sweeps), so they are not range
        checked here — the optimizer's own PyTorch-style validation applies.
        """
        unknown = set(hparams or {}) - {hp.name for hp in self.hyperparams}
        if unknown:
            raise ValueError(f"{self.label} has no hyperparameter {', '.join(sorted(unknown))}")
        kwargs = self.defaults() | dict(hparams or {})
        if "beta1" in kwargs:
            kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
        if "eps2" in kwargs:
            kwargs["eps"] = (None, kwargs.pop("eps2"))
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

# Nesterov's look-ahead needs μ > 0 (torch.optim.SGD rejects nesterov=True with μ = 0).
_NESTEROV_MOMENTUM = HyperParam(
    "momentum",
    r"\mu",
    0.9,
    0.01,
    0.999,
    "decay",
    "Momentum μ: how much of the last step carries over (Nesterov needs μ > 0).",
)

_MOMENTUM_BUFFER = StateSpec("momentum_buffer", "b", "momentum buffer")
_FIRST_MOMENT = StateSpec("exp_avg", "m", "first moment (mean of g)", corrected_by="beta1")
_SECOND_MOMENT = StateSpec(
    "exp_avg_sq", "v", "second moment (mean of g²)", magnitude=True, corrected_by="beta2"
)


def _weight_decay(default: float, help: str) -> HyperParam:
    return HyperParam("weight_decay", r"\lambda", default, 0.0, 1.0, "linear", help)


def _adam_bound(h: Hyperparameters) -> StepBound:
    """§2.1: |Δ_t| ≲ α(1 − β1)/√(1 − β2) when (1 − β1) > √(1 − β2), else α."""
    lr, beta1, beta2 = float(h["lr"]), float(h["beta1"]), float(h["beta2"])
    if (1 - beta1) > math.sqrt(1 - beta2):
        return StepBound(lr * (1 - beta1) / math.sqrt(1 - beta2), "α(1−β1)/√(1−β2)", "§2.1")
    return StepBound(lr, "α", "§2.1")


def _amsgrad_bound(h: Hyperparameters) -> StepBound:
    """Adam's §2.1 bound: u_t ≥ v_t, so each step is at most Adam's for the same m and v."""
    return _adam_bound(h)


def _lion_bound(h: Hyperparameters) -> StepBound | None:
    """|Δ_t| = α exactly on every coordinate whose c_t ≠ 0 (a sign step), if λ = 0."""
    if float(h["weight_decay"]) != 0:
        return None  # + αλ|θ|: no constant bound
    return StepBound(float(h["lr"]), "α", "sign step")


def _adamax_bound(h: Hyperparameters) -> StepBound:
    """Algorithm 2: |Δ_t| ≤ α, since |m_t| ≤ (1 − β1^t)·u_t (a weighted mean of |g| is at most
    their weighted maximum)."""
    return StepBound(float(h["lr"]), "α", "Algorithm 2")


# Run colours: Okabe & Ito's colour-blind-safe qualitative palette, with its yellow (lost on the
# light contour, and the minimum's gold star) replaced by a wine red, its sky blue deepened and its
# blue darkened to stand off the grey-blue contour (tests/test_colours.py checks both). Eight
# colours is about all a reader tells apart, so the six successors share them: each has the home
# colour of a relative (NAdam Nesterov's, AMSGrad AdaMax's max …) chosen so that Adam, its six
# successors and SGD are eight different colours; in a race with a clash, ``run_colors``
# (``optviz.figures.labels``) gives the later optimizer a colour no other runner has.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.key: spec
    for spec in (
        OptimizerSpec("sgd", SGD, "SGD", "#000000", (_lr(1e-3),), paper_settings={"lr": 0.1}),
        OptimizerSpec(
            "momentum",
            Momentum,
            "Momentum",
            "#E69F00",
            (_lr(1e-3), _MOMENTUM),
            state=(_MOMENTUM_BUFFER,),
            maps=(("lr", "momentum"),),
            paper_settings={"lr": 0.01, "momentum": 0.9},
        ),
        OptimizerSpec(
            "nesterov",
            Nesterov,
            "Nesterov",
            "#882255",
            (_lr(1e-3), _NESTEROV_MOMENTUM),
            state=(_MOMENTUM_BUFFER,),
            maps=(("lr", "momentum"),),
            paper_settings={"lr": 0.01, "momentum": 0.9},
        ),
        OptimizerSpec(
            "adagrad",
            Adagrad,
            "Adagrad",
            "#009E73",
            (_lr(1e-2), _eps(1e-10)),
            state=(StateSpec("sum", "G", "sum of g²", magnitude=True),),
            paper_settings={"lr": 0.01, "eps": 1e-10},
        ),
        OptimizerSpec(
            "adadelta",
            Adadelta,
            "AdaDelta",
            "#CC79A7",
            (
                _lr(1.0, 1e-3, 10.0),
                HyperParam(
                    "rho", r"\rho", 0.9, 0.0, 0.9999, "decay", "ρ: decay of both running averages."
                ),
                _eps(1e-6),
            ),
            state=(
                StateSpec("square_avg", "v", "mean of g²", magnitude=True),
                StateSpec("acc_delta", "u", "mean of Δ²", magnitude=True),
            ),
            maps=(("lr", "rho"),),
            paper_settings={"lr": 1.0, "rho": 0.95, "eps": 1e-6},  # Zeiler 2012: ρ=0.95, ε=1e-6
        ),
        OptimizerSpec(
            "rmsprop",
            RMSprop,
            "RMSprop",
            "#1E9BD7",
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
            state=(
                StateSpec("square_avg", "v", "second moment (mean of g²)", magnitude=True),
                StateSpec("grad_avg", "ḡ", "mean of g"),
                _MOMENTUM_BUFFER,
            ),
            maps=(("lr", "alpha"),),
            paper_settings={"lr": 0.001},
        ),
        OptimizerSpec(
            "adam",
            Adam,
            "Adam",
            "#D55E00",
            (
                _lr(1e-3),
                _BETA1,
                _BETA2,
                _eps(1e-8),
                _weight_decay(0.0, "L2 penalty λ added to the gradient: g ← g + λθ."),
                HyperParam(
                    "bias_correction",
                    r"1 - \beta^t",
                    True,
                    scale="bool",
                    help="Divide m and v by (1 − β^t). Off: the paper's §3 ablation, whose first "
                    "steps blow up when β2 is close to 1.",
                    label="bias correction (divide by 1 − βᵗ)",
                ),
            ),
            state=(
                StateSpec("exp_avg", "m", "first moment (mean of g)", corrected_by="beta1"),
                StateSpec(
                    "exp_avg_sq",
                    "v",
                    "second moment (mean of g²)",
                    magnitude=True,
                    corrected_by="beta2",
                ),
            ),
            step_bound=_adam_bound,
            bias_correction="bias_correction",
            maps=(("beta1", "beta2"), ("lr", "beta1")),
            # §6: α=0.001, β1=0.9, β2=0.999, ε=1e-8, Algorithm 1's defaults.
            paper_settings={"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        ),
        OptimizerSpec(
            "adamax",
            Adamax,
            "AdaMax",
            "#003F7F",
            (_lr(2e-3), _BETA1, _BETA2, _eps(1e-8)),
            state=(
                StateSpec("exp_avg", "m", "first moment (mean of g)", corrected_by="beta1"),
                StateSpec("exp_inf", "u", "exponentially weighted ∞-norm of g", magnitude=True),
            ),
            step_bound=_adamax_bound,
            bias_correction=True,
            maps=(("beta1", "beta2"),),
            paper_settings={"lr": 0.002},  # Algorithm 2's α
        ),
        OptimizerSpec(
            "adamw",
            AdamW,
            "AdamW",
            "#009E73",  # Adagrad's
            (
                _lr(1e-3),
                _BETA1,
                _BETA2,
                _eps(1e-8),
                _weight_decay(
                    0.01,
                    "Decoupled weight decay λ: θ shrinks by (1 − αλ) every step, towards 0, "
                    "whatever its gradient (Adam's L2 penalty is scaled down by √v̂ instead).",
                ),
            ),
            state=(_FIRST_MOMENT, _SECOND_MOMENT),
            bias_correction=True,
            paper_settings={"lr": 0.001, "weight_decay": 0.01},
        ),
        OptimizerSpec(
            "amsgrad",
            AMSGrad,
            "AMSGrad",
            "#003F7F",  # AdaMax's: both keep a maximum
            (_lr(1e-3), _BETA1, _BETA2, _eps(1e-8)),
            state=(
                _FIRST_MOMENT,
                _SECOND_MOMENT,
                StateSpec(
                    "max_exp_avg_sq",
                    "u",
                    "running maximum of v",
                    magnitude=True,
                    corrected_by="beta2",
                ),
            ),
            step_bound=_amsgrad_bound,
            bias_correction=True,
            paper_settings={"lr": 0.001},
        ),
        OptimizerSpec(
            "nadam",
            NAdam,
            "NAdam",
            "#882255",  # Nesterov's
            (
                _lr(2e-3),
                _BETA1,
                _BETA2,
                _eps(1e-8),
                HyperParam(
                    "momentum_decay",
                    r"\psi",
                    4e-3,
                    1e-4,
                    1.0,
                    "log",
                    "ψ: how fast the momentum μ_t = β1(1 − ½·0.96^(tψ)) warms up from β1/2 to β1.",
                ),
            ),
            # m is divided by the product of the μ_t, not by 1 − β1^t: shown as it is.
            state=(StateSpec("exp_avg", "m", "first moment (mean of g)"), _SECOND_MOMENT),
            bias_correction=True,
            paper_settings={"lr": 0.002},  # Dozat's α
        ),
        OptimizerSpec(
            "radam",
            RAdam,
            "RAdam",
            "#1E9BD7",  # RMSprop's
            (_lr(1e-3), _BETA1, _BETA2, _eps(1e-8)),
            state=(_FIRST_MOMENT, _SECOND_MOMENT),
            bias_correction=True,
            paper_settings={"lr": 0.001},
        ),
        OptimizerSpec(
            "adafactor",
            Adafactor,
            "Adafactor",
            "#CC79A7",  # AdaDelta's: both size steps without a tuned α
            (
                HyperParam(
                    "lr",
                    r"\alpha",
                    1e-2,
                    1e-5,
                    10.0,
                    "log",
                    "α caps the relative step: each step is min(α, 1/√t) × RMS(θ) (at least ε2).",
                ),
                HyperParam(
                    "beta2_decay",
                    r"\tau",
                    -0.8,
                    -1.0,
                    0.0,
                    "linear",
                    "τ: the second moment's decay is β̂2 = 1 − t^τ, so its memory grows with t.",
                ),
                HyperParam(
                    "eps2",
                    r"\epsilon_2",
                    1e-3,
                    1e-8,
                    1.0,
                    "log",
                    "ε2: the floor on RMS(θ) in the step size, so a θ near 0 still moves.",
                ),
                HyperParam(
                    "d",
                    "d",
                    1.0,
                    1.0,
                    10.0,
                    "log",
                    "d: the update is clipped to RMS ≤ d before it is scaled.",
                ),
            ),
            state=(StateSpec("variance", "v", "second moment (mean of g²)", magnitude=True),),
            paper_settings={"lr": 0.01},
        ),
        OptimizerSpec(
            "lion",
            Lion,
            "Lion",
            "#E69F00",  # Momentum's
            (
                _lr(1e-4),
                HyperParam(
                    "beta1",
                    r"\beta_1",
                    0.9,
                    0.0,
                    0.999,
                    "decay",
                    "β1: how much of the momentum m goes into the sign (the rest is the fresh g).",
                ),
                HyperParam(
                    "beta2",
                    r"\beta_2",
                    0.99,
                    0.0,
                    0.9999,
                    "decay",
                    "β2: decay of the momentum m kept for the next steps.",
                ),
                _weight_decay(0.0, "Decoupled weight decay λ: θ ← θ − αλθ every step."),
            ),
            state=(StateSpec("exp_avg", "m", "momentum (mean of g)"),),
            step_bound=_lion_bound,
            paper_settings={"lr": 1e-4},  # the paper: 3–10× below AdamW's α
        ),
    )
}


def distinct_colors(keys: Iterable[str]) -> list[str]:
    """A colour per entry of ``keys`` (optimizer keys, repeats allowed): the same for the same
    optimizer, different for different ones while there are colours to go round.

    Each optimizer has its home colour (``OptimizerSpec.color``) unless an optimizer earlier in
    ``keys`` already has it; those that clash take, in order, the palette colours (the home
    colours in registry order) that no optimizer in ``keys`` has. So any eight optimizers get
    eight different colours, and the eight of the Adam paper, or Adam with its six successors,
    keep their home colours. Beyond eight, colours repeat: the figures then tell runs of one
    colour apart by dash (``optviz.figures.labels.run_dash``).
    """
    keys = list(keys)
    palette = list(dict.fromkeys(spec.color for spec in OPTIMIZERS.values()))
    chosen: dict[str, str] = {}
    for key in dict.fromkeys(keys):  # first come, first served on home colours
        if OPTIMIZERS[key].color not in chosen.values():
            chosen[key] = OPTIMIZERS[key].color
    for key in dict.fromkeys(keys):
        if key not in chosen:
            free = [colour for colour in palette if colour not in chosen.values()]
            chosen[key] = free[0] if free else OPTIMIZERS[key].color
    return [chosen[key] for key in keys]
