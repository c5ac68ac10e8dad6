"""The Experiments page's three experiments: each sets up its problem, races the real optimizer
classes through the engine and returns the result with what its figure needs.

* ``online_race``: Reddi, Kale & Kumar (2018), *On the Convergence of Adam and Beyond*,
  Theorem 1 and §5: an online problem on F = [−1, 1] where Adam drifts to the worst point and
  AMSGrad to the optimum (a time-varying loss and a projection, in the engine's contract).
* ``weight_decay_race``: Adam with an L2 penalty against AdamW's decoupled weight decay on an
  ill-conditioned quadratic (Loshchilov & Hutter, *Decoupled Weight Decay Regularization*,
  2019): different fixed points, both known in closed form (``l2_fixed_point``,
  ``decoupled_fixed_point``).
* ``rotation_race``: the same quadratic rotated by an angle: gradient descent and momentum are
  rotation invariant, per-coordinate methods (Adam, Lion, Adagrad) are not.

Like ``optviz.analyses``, this module runs the engine; figure builders take its results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from optviz.surfaces import Surface
from optviz.trajectories import Run, Trajectories, simulate

# --- Reddi, Kale & Kumar (2018): Adam fails where AMSGrad converges -------------------------

ONLINE_C = 3.0  # the theorem's C: the rare gradient is C, the common one −1
ONLINE_BOX = (-1.0, 1.0, 0.0, 0.0)  # F = [−1, 1] (y, unused, is pinned at 0)
ONLINE_OPTIMUM = -1.0  # the minimizer of the average loss over F, in both settings
ONLINE_START = (0.0, 0.0)
ONLINE_OPTIMIZERS = ("adam", "amsgrad", "sgd", "adamax")
ONLINE_STEPS = 100_000
ONLINE_LR = 0.5  # α of α_t = α/√t
# Stochastic setting (the paper's §5): f_t = 1010·x with probability 0.01, else −10·x.
RARE_GRADIENT, COMMON_GRADIENT, RARE_PROBABILITY = 1010.0, -10.0, 0.01

Setting = Literal["deterministic", "stochastic"]
SETTINGS: tuple[Setting, ...] = ("deterministic", "stochastic")


def online_betas(setting: Setting, C: float = ONLINE_C) -> tuple[float, float]:
    """(β1, β2): the theorem's β1 = 0, β2 = 1/(1 + C²), or the stochastic experiment's."""
    return (0.0, 1 / (1 + C**2)) if setting == "deterministic" else (0.9, 0.99)


def online_problem(setting: Setting, steps: int = ONLINE_STEPS, seed: int = 0) -> Surface:
    """f_t(x) = c_t·x on F = [−1, 1], as a time-varying surface.

    Deterministic: c_t = C when t mod 3 = 1, else −1 (C = 3). Stochastic: c_t = 1010 with
    probability 0.01, else −10, drawn once per step from a generator seeded with ``seed`` (for
    the ``steps`` steps of a race and one more, the loss at θ_T).
    """
    if setting == "deterministic":
        C = ONLINE_C

        def fn(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
            return torch.where(torch.remainder(t, 3.0) == 1.0, C, -1.0) * x + 0.0 * y

        latex = r"f_t(x) = \begin{cases} Cx & t \bmod 3 = 1 \\ -x & \text{otherwise}\end{cases}"
    else:
        generator = np.random.default_rng(seed)
        rare = generator.random(steps + 1) < RARE_PROBABILITY
        table = torch.from_numpy(np.where(rare, RARE_GRADIENT, COMMON_GRADIENT))  # c_1 … c_T+1

        def fn(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
            return torch.take(table, t.long() - 1) * x + 0.0 * y

        latex = (
            r"f_t(x) = \begin{cases} 1010\,x & \text{with probability } 0.01 \\ -10\,x"
            r" & \text{otherwise}\end{cases}"
        )
    return Surface(
        key=f"online_{setting}",
        label=f"Reddi et al.'s online problem ({setting})",
        fn=fn,
        bounds=(-1.0, 1.0, -1.0, 1.0),
        start=ONLINE_START,
        minima=((ONLINE_OPTIMUM, 0.0),),
        latex=latex,
        teaches="Adam can converge to the worst point of F; AMSGrad does not.",
        time_varying=True,
    )


@dataclass(frozen=True, eq=False)
class OnlineRace:
    """An online race and its average regret R_t/t = (1/t) Σ_{s ≤ t} f_s(x_{s−1}) − f_s(x*),
    ``(K, T)``, against the optimum x* = −1."""

    result: Trajectories
    average_regret: np.ndarray


def online_runs(setting: Setting, lr: float = ONLINE_LR) -> list[Run]:
    """Adam, AMSGrad, SGD and AdaMax with the setting's β1, β2 (ε = 1e-8)."""
    beta1, beta2 = online_betas(setting)
    adaptive = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": 1e-8}
    return [(key, {"lr": lr} if key == "sgd" else adaptive) for key in ONLINE_OPTIMIZERS]


def online_race(
    setting: Setting, steps: int = ONLINE_STEPS, lr: float = ONLINE_LR, seed: int = 0
) -> OnlineRace:
    """The four optimizers on the online problem, α_t = α/√t, projected onto F every step."""
    surface = online_problem(setting, steps, seed)
    runs = online_runs(setting, lr)
    schedules = [("inv_sqrt", {})] * len(runs)
    result = simulate(surface, runs, ONLINE_START, steps, schedules=schedules, box=ONLINE_BOX)
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    optimum = surface.evaluate(torch.full_like(t, ONLINE_OPTIMUM), torch.zeros_like(t), t)
    regret = np.cumsum(result.losses[:, 0, :steps] - optimum.numpy(), axis=1)  # (K, T)
    return OnlineRace(result, regret / t.numpy())


# --- Adam + L2 vs AdamW ---------------------------------------------------------------------

CURVATURES = (1.0, 100.0)  # h: the quadratic's Hessian diag(1, 100), condition number 100
CENTRE = (3.0, 3.0)  # c: the unregularized minimum
DECAY = 0.4  # λ, the same for the L2 penalty and the decoupled decay
DECAY_LR, DECAY_STEPS, DECAY_BETA2, DECAY_EPS = 0.05, 4000, 0.99, 1e-8
DECAY_START = (0.0, 0.0)


def _quadratic(x: Tensor, y: Tensor) -> Tensor:
    (h1, h2), (c1, c2) = CURVATURES, CENTRE
    return 0.5 * (h1 * (x - c1) ** 2 + h2 * (y - c2) ** 2)


def decay_surface() -> Surface:
    h, c = CURVATURES, CENTRE
    return Surface(
        key="decay_quadratic",
        label="Ill-conditioned quadratic",
        fn=_quadratic,
        bounds=(-0.5, 3.5, -0.5, 3.5),
        start=DECAY_START,
        minima=(CENTRE,),
        latex=(
            rf"f(x, y) = \tfrac12\left({h[0]:g}(x - {c[0]:g})^2"
            rf" + {h[1]:g}(y - {c[1]:g})^2\right)"
        ),
        teaches="An L2 penalty and decoupled weight decay pull to different points.",
        f_min=0.0,
    )


def l2_fixed_point(decay: float = DECAY) -> tuple[float, float]:
    """Adam + L2 converges where ∇(f + λ|θ|²/2) = 0: θ_i = h_i c_i / (h_i + λ). Low curvature,
    more shrinkage."""
    x, y = (h * c / (h + decay) for h, c in zip(CURVATURES, CENTRE, strict=True))
    return x, y


def decoupled_fixed_point(decay: float = DECAY, eps: float = DECAY_EPS) -> tuple[float, float]:
    """AdamW's fixed point: with a steady gradient g, m̂ → g and √v̂ → |g|, so the update
    m̂/(√v̂ + ε) + λθ vanishes where g/(|g| + ε) = −λθ, coordinate by coordinate. For
    c > 0, with s = c − θ > 0 and g = −hs, that is the positive root of
    λh·s² + (h(1 − λc) + λε)·s − λcε = 0; as ε → 0, θ = min(c, 1/λ): the same cap for every
    coordinate, whatever its curvature."""
    point = []
    for h, c in zip(CURVATURES, CENTRE, strict=True):
        b = h * (1 - decay * c) + decay * eps
        s = (-b + math.sqrt(b * b + 4 * decay * h * decay * c * eps)) / (2 * decay * h)
        point.append(c - s)
    return point[0], point[1]


def weight_decay_runs(decay: float = DECAY) -> list[Run]:
    common = {"lr": DECAY_LR, "beta2": DECAY_BETA2, "eps": DECAY_EPS, "weight_decay": decay}
    return [("adam", common), ("adamw", common)]


def weight_decay_race(decay: float = DECAY, steps: int = DECAY_STEPS) -> Trajectories:
    """Adam with the L2 penalty λ and AdamW with decoupled decay λ, same α, β, ε."""
    return simulate(decay_surface(), weight_decay_runs(decay), DECAY_START, steps)


# --- rotation -------------------------------------------------------------------------------

ROTATION_CURVATURES = (1.0, 20.0)
ROTATION_START = (-2.5, 0.8)
ROTATION_STEPS = 200
ROTATION_RUNS: list[Run] = [
    ("sgd", {"lr": 0.04}),
    ("momentum", {"lr": 0.01, "momentum": 0.9}),
    ("adam", {"lr": 0.05}),
    ("lion", {"lr": 0.01}),
    ("adagrad", {"lr": 0.5}),
]


def rotate(point: tuple[float, float], degrees: float) -> tuple[float, float]:
    """``point`` rotated counter-clockwise by ``degrees`` about the origin."""
    a = math.radians(degrees)
    x, y = point
    return math.cos(a) * x - math.sin(a) * y, math.sin(a) * x + math.cos(a) * y


def rotated_quadratic(degrees: float) -> Surface:
    """f(p) = ½ (h1 u² + h2 w²) with (u, w) = R(−φ) p: the quadratic diag(1, 20) turned by φ."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    h1, h2 = ROTATION_CURVATURES

    def fn(x: Tensor, y: Tensor) -> Tensor:
        u, w = cos * x + sin * y, cos * y - sin * x
        return 0.5 * (h1 * u**2 + h2 * w**2)

    return Surface(
        key=f"rotated_{degrees:g}",
        label=f"Quadratic rotated by {degrees:g}°",
        fn=fn,
        bounds=(-3.0, 3.0, -3.0, 3.0),
        start=rotate(ROTATION_START, degrees),
        minima=((0.0, 0.0),),
        latex=(
            rf"f(p) = \tfrac12\left({h1:g}u^2 + {h2:g}w^2\right),\ "
            rf"\binom{{u}}{{w}} = R(-{degrees:g}^\circ)\, p"
        ),
        teaches="Gradient descent turns with the problem; per-coordinate scaling does not.",
        f_min=0.0,
    )


def rotation_race(degrees: float, steps: int = ROTATION_STEPS) -> Trajectories:
    surface = rotated_quadratic(degrees)
    return simulate(surface, ROTATION_RUNS, surface.start, steps)


def rotation_gaps(degrees: float, steps: int = ROTATION_STEPS) -> dict[str, float]:
    """Per optimizer, the largest distance between its path on the quadratic turned by
    ``degrees`` and its path on the unturned one, turned by ``degrees``: 0 (to round-off) for a
    rotation-invariant method."""
    turned, upright = rotation_race(degrees, steps), rotation_race(0.0, steps)
    a = math.radians(degrees)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    expected = upright.paths[:, 0] @ rotation.T  # (K, T + 1, 2)
    gaps = np.linalg.norm(turned.paths[:, 0] - expected, axis=-1).max(axis=-1)  # (K,)
    return {key: float(gap) for (key, _), gap in zip(ROTATION_RUNS, gaps, strict=True)}
