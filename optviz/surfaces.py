"""2-D test surfaces the optimizers race on, and a safe parser for surfaces a user types in.

Each surface is written once, as elementwise torch ops on two tensors ``x`` and ``y``:
autograd gives its gradient for the trajectory engine, and the same function under
``no_grad`` on a meshgrid gives the contour plot, so the picture and the dynamics can never
disagree.

``SURFACES`` is the registry the pages and tests iterate over (insertion order is UI order).
``parse_surface`` turns a formula such as ``"x^2 + 3*sin(y)"`` into a ``Surface`` without ever
executing user text: it parses with ``ast.parse`` (which only builds a tree), checks every node
against an allowlist, and compiles the tree into nested Python closures over torch ops.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# f(x, y), or f_t(x, y, t) for a loss that changes with the step (``Surface.time_varying``).
SurfaceFn = Callable[..., Tensor]

MAX_NOISE = 100.0  # upper limit for the gradient-noise σ; larger values only draw static
MAX_GRID = 1000  # grid() evaluates n² points; 1000² takes well under a second

MAX_START_GRADIENT = 1e6  # a start moved off a non-finite point avoids a singularity's rim
MAX_FORMULA_LENGTH = 300  # checked before parsing, so huge inputs never reach the parser
MAX_FORMULA_NODES = 200  # expression nodes in the parsed tree
MAX_FORMULA_DEPTH = 30  # nesting levels in the parsed tree


@dataclass(frozen=True)
class Surface:
    """A 2-D objective f(x, y) with what the app needs to plot it and race optimizers on it.

    Args:
        key: registry key (``"rosenbrock"``), or ``"custom"`` for a parsed formula.
        label: display name.
        fn: ``f(x, y)`` built from elementwise torch ops, so autograd can differentiate it and it
            broadcasts over any leading shape.
        bounds: ``(x_min, x_max, y_min, y_max)`` of the plot window.
        start: default start point, inside ``bounds``.
        minima: all known global minima inside ``bounds`` (empty for the saddle and for custom
            surfaces).
        latex: the formula in LaTeX, for ``st.latex``.
        teaches: one sentence on what this surface shows about optimizers.
        noise: σ of the Gaussian noise the trajectory engine adds to every gradient; ``f`` itself
            stays deterministic.
        log_scale: contour levels should be log-spaced because f spans orders of magnitude.
        f_min: value at the global minima, when known (``None`` for unbounded or custom
            surfaces); log-spaced contours use it as their floor.
        time_varying: ``fn`` is an online loss f_t: it takes a third argument, the step t
            (counted from 1, a float64 tensor that broadcasts against x), and step t of a race
            descends f_t. Views without a step (the contour, the start check) show f_1.
    """

    key: str
    label: str
    fn: SurfaceFn
    bounds: tuple[float, float, float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...] = ()
    latex: str = ""
    teaches: str = ""
    noise: float = 0.0
    log_scale: bool = False
    f_min: float | None = None
    time_varying: bool = False

    def __post_init__(self) -> None:
        _check_bounds(self.bounds)
        x_min, x_max, y_min, y_max = self.bounds
        sx, sy = self.start
        if not (x_min <= sx <= x_max and y_min <= sy <= y_max):
            raise ValueError(f"start {self.start} lies outside the plot window {self.bounds}")
        _check_noise(self.noise)

    def evaluate(self, x: Tensor, y: Tensor, t: Tensor | float = 1.0) -> Tensor:
        """f(x, y), or f_t(x, y) for a time-varying loss (``t`` broadcasts against x)."""
        if not self.time_varying:
            return self.fn(x, y)
        return self.fn(x, y, torch.as_tensor(t, dtype=x.dtype, device=x.device))

    def f(self, xy: Tensor, t: Tensor | float = 1.0) -> Tensor:
        """Evaluate the surface (f_t if time-varying) at points ``xy`` of shape ``(..., 2)``;
        returns shape ``(...)``.

        Keeps ``xy``'s float dtype and device; integer input is promoted to the default dtype.
        """
        if xy.shape[-1:] != (2,):
            raise ValueError(f"expected points of shape (..., 2), got {tuple(xy.shape)}")
        if not xy.is_floating_point():
            xy = xy.to(torch.get_default_dtype())
        return self.evaluate(xy[..., 0], xy[..., 1], t)  # (...)

    def value_and_grad(self, xy: Tensor, t: Tensor | float = 1.0) -> tuple[Tensor, Tensor]:
        """Return ``f(xy)`` of shape ``(...)`` and ``∇f(xy)`` of shape ``(..., 2)``, without noise.

        Works under ``torch.no_grad()`` too, and leaves ``xy`` (and any graph it belongs to)
        untouched: the gradient is taken with respect to a detached copy.
        """
        if not xy.is_floating_point():
            xy = xy.to(torch.get_default_dtype())
        with torch.enable_grad():
            point = xy.detach().requires_grad_(True)  # (..., 2)
            value = self.f(point, t)  # (...)
            # Summing is exact here: each output depends only on its own point.
            (grad,) = torch.autograd.grad(value.sum(), point)  # (..., 2)
        return value.detach(), grad

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample f on an ``n × n`` grid over ``bounds`` for a contour plot.

        Returns ``xs`` ``(n,)``, ``ys`` ``(n,)`` and ``Z`` ``(n, n)`` (float64) with
        ``Z[i, j] = f(xs[j], ys[i])``, Plotly's contour convention (rows follow y). Non-finite
        values are replaced by the finite extremes, so a figure never receives NaN or inf.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 2 <= n <= MAX_GRID:
            raise ValueError(f"grid size must be an integer from 2 to {MAX_GRID}, got {n!r}")
        x_min, x_max, y_min, y_max = self.bounds
        xs = torch.linspace(x_min, x_max, int(n), dtype=torch.float64)  # (n,)
        ys = torch.linspace(y_min, y_max, int(n), dtype=torch.float64)  # (n,)
        # "xy" indexing puts y on rows: X[i, j] = xs[j], Y[i, j] = ys[i], as Plotly expects.
        X, Y = torch.meshgrid(xs, ys, indexing="xy")  # (n, n) each
        with torch.no_grad():
            Z = self.evaluate(X, Y).numpy()  # (n, n)
        finite = np.isfinite(Z)
        if not finite.all():
            lo, hi = (Z[finite].min(), Z[finite].max()) if finite.any() else (0.0, 0.0)
            Z = np.nan_to_num(Z, nan=hi, posinf=hi, neginf=lo)
        return xs.numpy(), ys.numpy(), Z

    def nearest_finite_start(self, start: tuple[float, float], n: int = 81) -> tuple[float, float]:
        """``start`` if f and ∇f are finite there, else the nearest point of an ``n × n`` grid
        over the window where they are and |∇f| < ``MAX_START_GRADIENT`` (not on the rim of a
        singularity); ``start`` itself if there is none. A race cannot begin where the surface
        is undefined."""
        candidates = torch.tensor([start], dtype=torch.float64)  # (1, 2)
        x_min, x_max, y_min, y_max = self.bounds
        xs = torch.linspace(x_min, x_max, n, dtype=torch.float64)
        ys = torch.linspace(y_min, y_max, n, dtype=torch.float64)
        grid = torch.cartesian_prod(xs, ys)  # (n², 2)
        points = torch.cat([candidates, grid])  # (1 + n², 2)
        value, grad = self.value_and_grad(points)
        finite = torch.isfinite(value) & torch.isfinite(grad).all(dim=-1)  # (1 + n²,)
        if finite[0] or not finite.any():
            return start
        finite &= grad.norm(dim=-1) < MAX_START_GRADIENT
        if not finite.any():
            return start
        distance = (points - candidates).norm(dim=-1).masked_fill(~finite, math.inf)
        x, y = points[int(distance.argmin())].tolist()
        return round(x, 3), round(y, 3)

    def with_noise(self, sigma: float) -> Surface:
        """Return a copy whose gradients carry Gaussian noise of standard deviation ``sigma``."""
        return dataclasses.replace(self, noise=_check_noise(sigma))


def _check_bounds(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Validate a plot window and return it as four floats."""
    if not isinstance(bounds, tuple | list) or len(bounds) != 4 or not all(map(_is_real, bounds)):
        raise ValueError(
            f"bounds must be four numbers (x_min, x_max, y_min, y_max), got {bounds!r}"
        )
    x_min, x_max, y_min, y_max = (float(b) for b in bounds)
    if not all(math.isfinite(b) for b in (x_min, x_max, y_min, y_max)):
        raise ValueError(f"bounds must be finite, got {bounds!r}")
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(f"bounds need x_min < x_max and y_min < y_max, got {bounds!r}")
    return x_min, x_max, y_min, y_max


def _check_noise(sigma: float) -> float:
    """Validate a gradient-noise σ and return it as a float."""
    if not _is_real(sigma):
        raise ValueError(f"noise σ must be a number, got {sigma!r}")
    if not (math.isfinite(sigma) and 0.0 <= sigma <= MAX_NOISE):
        raise ValueError(f"noise σ must be between 0 and {MAX_NOISE:g}, got {sigma!r}")
    return float(sigma)


def _is_real(value: object) -> bool:
    # bool is an Integral, but True as a bound or σ is a bug, not a number.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# The registry. Each formula is written once; float literals keep integer tensors out.


def _rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _ravine(x: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (0.1 * x**2 + 10.0 * y**2)  # Hessian diag(0.1, 10): condition number 100


def _booth(x: Tensor, y: Tensor) -> Tensor:
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def _saddle(x: Tensor, y: Tensor) -> Tensor:
    return x**2 - y**2


def _plateau(x: Tensor, y: Tensor) -> Tensor:
    return 1.0 - torch.exp(-(x**2 + y**2) / 4.0)


def _noisy_quadratic(x: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (x**2 + 10.0 * y**2)  # Hessian diag(1, 10): condition number 10


def _beale(x: Tensor, y: Tensor) -> Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _six_hump_camel(x: Tensor, y: Tensor) -> Tensor:
    return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (-4.0 + 4.0 * y**2) * y**2


def _styblinski_tang(x: Tensor, y: Tensor) -> Tensor:
    return 0.5 * ((x**4 - 16.0 * x**2 + 5.0 * x) + (y**4 - 16.0 * y**2 + 5.0 * y))


def _rastrigin(x: Tensor, y: Tensor) -> Tensor:
    two_pi = 2.0 * math.pi
    return 20.0 + (x**2 - 10.0 * torch.cos(two_pi * x)) + (y**2 - 10.0 * torch.cos(two_pi * y))


def _ackley(x: Tensor, y: Tensor) -> Tensor:
    two_pi = 2.0 * math.pi
    r = _sqrt_zero_grad_at_zero(0.5 * (x**2 + y**2))
    ripples = 0.5 * (torch.cos(two_pi * x) + torch.cos(two_pi * y))
    return -20.0 * torch.exp(-0.2 * r) - torch.exp(ripples) + math.e + 20.0


def _sqrt_zero_grad_at_zero(s: Tensor) -> Tensor:
    """√s for s ≥ 0, with gradient 0 at s = 0 instead of autograd's 0 · ∞ = NaN.

    Ackley's cone tip at the origin has no gradient; 0 is a valid subgradient there, and it
    lets an optimizer that lands exactly on the minimum stay put. The inner ``where`` keeps
    ``sqrt``'s backward away from 0 (the double-where idiom).
    """
    positive = s > 0
    safe = torch.where(positive, s, torch.ones_like(s))
    return torch.where(positive, torch.sqrt(safe), torch.zeros_like(s))


SURFACES: dict[str, Surface] = {
    surface.key: surface
    for surface in (
        Surface(
            key="rosenbrock",
            label="Rosenbrock",
            fn=_rosenbrock,
            bounds=(-2.0, 2.0, -1.0, 3.0),
            start=(-1.5, 2.0),
            minima=((1.0, 1.0),),
            f_min=0.0,
            latex=r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
            teaches=(
                "Every method reaches the curved valley floor, but the steep walls cap plain "
                "SGD's α, so it crawls along the flat floor; momentum builds up speed and Adam's "
                "steps of about α carry both far towards (1, 1), while RMSprop, whose step never "
                "shrinks, rattles between the walls and stalls."
            ),
            log_scale=True,
        ),
        Surface(
            key="ravine",
            label="Ravine (ill-conditioned)",
            fn=_ravine,
            bounds=(-10.0, 10.0, -4.0, 4.0),
            start=(-9.0, 3.0),
            minima=((0.0, 0.0),),
            f_min=0.0,
            latex=r"f(x, y) = \tfrac{1}{2}\left(0.1\,x^2 + 10\,y^2\right)",
            teaches=(
                "A valley 100 times steeper across than along: the steep direction caps SGD's "
                "α, so it crawls along the floor, while Adam's per-coordinate scaling evens out "
                "the two directions and goes straight to the minimum."
            ),
        ),
        Surface(
            key="booth",
            label="Booth",
            fn=_booth,
            bounds=(-10.0, 10.0, -10.0, 10.0),
            start=(-8.0, -4.0),
            minima=((1.0, 3.0),),
            f_min=0.0,
            latex=r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2",
            teaches=(
                "A valley tilted 45° to the axes: per-coordinate scaling (Adagrad, RMSprop, "
                "Adam) cannot undo a rotation, so the adaptive methods lose their edge here."
            ),
            log_scale=True,
        ),
        Surface(
            key="saddle",
            label="Saddle",
            fn=_saddle,
            bounds=(-2.0, 2.0, -2.0, 2.0),
            start=(-1.0, 0.001),
            latex=r"f(x, y) = x^2 - y^2",
            teaches=(
                "Starting almost on the ridge, plain gradient descent lingers at the saddle "
                "point, while adaptive methods escape along the downhill y direction at once."
            ),
        ),
        Surface(
            key="plateau",
            label="Plateau",
            fn=_plateau,
            bounds=(-5.0, 5.0, -5.0, 5.0),
            start=(-4.0, 3.5),
            minima=((0.0, 0.0),),
            f_min=0.0,
            latex=r"f(x, y) = 1 - e^{-(x^2 + y^2)/4}",
            teaches=(
                "On a nearly flat plateau the gradient is tiny, so SGD's step α·∇f starts as a "
                "crawl and grows only with the slope, while Adam's step α·m̂/√v̂ ignores the "
                "gradient's scale and moves about α per step from the first step (§2.1)."
            ),
        ),
        Surface(
            key="noisy_quadratic",
            label="Noisy quadratic",
            fn=_noisy_quadratic,
            bounds=(-3.0, 3.0, -3.0, 3.0),
            start=(-2.5, 2.5),
            minima=((0.0, 0.0),),
            f_min=0.0,
            latex=(
                r"f(x, y) = \tfrac{1}{2}\left(x^2 + 10\,y^2\right), \quad"
                r" \tilde g = \nabla f + \sigma \xi, \; \xi \sim \mathcal{N}(0, I)"
            ),
            teaches=(
                "Gradients carry minibatch-like noise: SGD keeps jittering around the minimum, "
                "while Adam's moving averages smooth the noise and its steps shrink as the "
                "signal-to-noise ratio falls (§2.1)."
            ),
            noise=1.0,
        ),
        Surface(
            key="beale",
            label="Beale",
            fn=_beale,
            bounds=(-4.5, 4.5, -4.5, 4.5),
            start=(1.0, 1.5),
            minima=((3.0, 0.5),),
            f_min=0.0,
            latex=(r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"),
            teaches=(
                "Steep walls around a flat valley: they cap SGD's and momentum's α at a few "
                "thousandths (at α = 0.1 both blow up within a few steps), while Adam's step, "
                "bounded by about α (§2.1), takes a large α and walks safely down to (3, 0.5)."
            ),
            log_scale=True,
        ),
        Surface(
            key="himmelblau",
            label="Himmelblau",
            fn=_himmelblau,
            bounds=(-5.0, 5.0, -5.0, 5.0),
            start=(-0.3, -0.9),
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.283185991286169),
                (3.5844283403304917, -1.8481265269644034),
            ),
            f_min=0.0,
            latex=r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            teaches=(
                "Four equally good minima: from a start near the central hill, each optimizer's "
                "dynamics, not the landscape, decide which basin it ends in."
            ),
            log_scale=True,
        ),
        Surface(
            key="six_hump_camel",
            label="Six-hump camel",
            fn=_six_hump_camel,
            bounds=(-2.0, 2.0, -1.25, 1.25),
            start=(-1.9, -0.9),
            minima=(
                (0.08984201310031806, -0.7126564030207396),
                (-0.08984201310031806, 0.7126564030207396),
            ),
            f_min=-1.0316284534898774,
            latex=(
                r"f(x, y) = \left(4 - 2.1\,x^2 + \tfrac{x^4}{3}\right)x^2 + xy"
                r" + \left(-4 + 4y^2\right)y^2"
            ),
            teaches=(
                "Six local minima, two of them global: from the edge, plain and adaptive steps "
                "settle in the nearest poor minimum, while momentum can carry a path over the hump "
                "into a global one."
            ),
        ),
        Surface(
            key="styblinski_tang",
            label="Styblinski–Tang",
            fn=_styblinski_tang,
            bounds=(-5.0, 5.0, -5.0, 5.0),
            start=(4.5, 4.5),
            minima=((-2.903534027771177, -2.903534027771177),),
            f_min=-78.33233140754284,
            latex=r"f(x, y) = \tfrac{1}{2}\sum_{u \in \{x, y\}} \left(u^4 - 16u^2 + 5u\right)",
            teaches=(
                "One deep minimum and three shallower ones: from the far corner every method "
                "stops in the nearest, shallowest one (f ≈ −50, not −78), a reminder that the "
                "start, not the optimizer, picks the basin when steps stay small."
            ),
        ),
        Surface(
            key="rastrigin",
            label="Rastrigin",
            fn=_rastrigin,
            bounds=(-5.12, 5.12, -5.12, 5.12),
            start=(-4.2, 3.8),
            minima=((0.0, 0.0),),
            f_min=0.0,
            latex=(
                r"f(x, y) = 20 + \left(x^2 - 10\cos 2\pi x\right)"
                r" + \left(y^2 - 10\cos 2\pi y\right)"
            ),
            teaches=(
                "A bowl covered in regularly spaced local minima: gradient methods stop in the "
                "nearest dimple, a reminder that every optimizer here is a local one."
            ),
        ),
        Surface(
            key="ackley",
            label="Ackley",
            fn=_ackley,
            bounds=(-5.0, 5.0, -5.0, 5.0),
            start=(-2.5, 3.1),
            minima=((0.0, 0.0),),
            f_min=0.0,
            latex=(
                r"f(x, y) = -20\,e^{-0.2\sqrt{(x^2 + y^2)/2}}"
                r" - e^{(\cos 2\pi x + \cos 2\pi y)/2} + e + 20"
            ),
            teaches=(
                "A funnel whose walls are covered in small dimples: small steps stop in the first "
                "dimple; Adam's steps of about α hop over several towards the centre, yet still "
                "end in a dimple short of (0, 0)."
            ),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# User formulas. Nothing the user types is ever executed: ast.parse only builds a tree, the
# allowlist below rejects every node that is not arithmetic on x, y and numbers, and the tree is
# then compiled into nested closures over torch ops.

Op1 = Callable[[Tensor], Tensor]
Op2 = Callable[[Tensor, Tensor], Tensor]

#: Functions a formula may call, by name: (torch op, LaTeX before the argument, LaTeX after).
FORMULA_FUNCTIONS: dict[str, tuple[Op1, str, str]] = {
    "sin": (torch.sin, r"\sin\left(", r"\right)"),
    "cos": (torch.cos, r"\cos\left(", r"\right)"),
    "tan": (torch.tan, r"\tan\left(", r"\right)"),
    "arcsin": (torch.asin, r"\arcsin\left(", r"\right)"),
    "asin": (torch.asin, r"\arcsin\left(", r"\right)"),
    "arccos": (torch.acos, r"\arccos\left(", r"\right)"),
    "acos": (torch.acos, r"\arccos\left(", r"\right)"),
    "arctan": (torch.atan, r"\arctan\left(", r"\right)"),
    "atan": (torch.atan, r"\arctan\left(", r"\right)"),
    "sinh": (torch.sinh, r"\sinh\left(", r"\right)"),
    "cosh": (torch.cosh, r"\cosh\left(", r"\right)"),
    "tanh": (torch.tanh, r"\tanh\left(", r"\right)"),
    "exp": (torch.exp, r"\exp\left(", r"\right)"),
    "log": (torch.log, r"\ln\left(", r"\right)"),
    "ln": (torch.log, r"\ln\left(", r"\right)"),
    "log10": (torch.log10, r"\log_{10}\left(", r"\right)"),
    "log2": (torch.log2, r"\log_{2}\left(", r"\right)"),
    "sqrt": (torch.sqrt, r"\sqrt{", r"}"),
    "abs": (torch.abs, r"\left|", r"\right|"),
    "sigmoid": (torch.sigmoid, r"\sigma\left(", r"\right)"),
    "softplus": (F.softplus, r"\operatorname{softplus}\left(", r"\right)"),
    "relu": (torch.relu, r"\operatorname{relu}\left(", r"\right)"),
}

_CONSTANTS = {"pi": math.pi, "e": math.e}
_CONSTANT_LATEX = {"pi": r"\pi", "e": "e"}

# `^` never reaches the tree: it is rewritten to `**` before parsing, because Python's `^` binds
# more loosely than `+` and `x^2 + 1` would otherwise mean x ** 3.
_BINARY_OPS: dict[type[ast.operator], Op2] = {
    ast.Add: torch.add,
    ast.Sub: torch.sub,
    ast.Mult: torch.mul,
    ast.Div: torch.div,
    ast.Pow: torch.pow,
}
_OPERATOR_SYMBOLS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.Not: "not",
}
# Readable reasons for the constructs people (or attackers) are most likely to try.
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ('.') is not allowed",
    ast.Subscript: "indexing ('[...]') is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "commas and tuples are not allowed; write one formula",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.IfExp: "conditional expressions ('... if ... else ...') are not allowed",
    ast.Compare: "comparisons ('<', '==', ...) are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "indexing ('[...]') is not allowed",
}
_CONSTANT_KINDS = {
    str: "strings are not allowed",
    bytes: "bytes are not allowed",
    bool: "True and False are not allowed; use numbers",
    complex: "complex numbers (like 1j) are not allowed",
    type(None): "None is not allowed",
    type(...): "'...' is not allowed",
}

# Typographic characters people paste from papers, mapped to what the parser reads.
_TYPOGRAPHY = str.maketrans({"−": "-", "×": "*", "·": "*", "÷": "/"})
# "f(x, y) = ..." or "z = ..." in front of the formula is harmless; drop it.
_LHS = re.compile(r"^\s*(?:f\s*\(\s*x\s*,\s*y\s*\)|z)\s*=(?!=)")

_Compiled = Callable[[Tensor, Tensor], Tensor]


def parse_surface(
    text: str, *, bounds: tuple[float, float, float, float] = (-3.0, 3.0, -3.0, 3.0)
) -> Surface:
    """Build a ``Surface`` from a formula in x and y, such as ``"x^2 + 3*sin(y)"``.

    Allowed: numbers, ``x``, ``y``, ``pi``, ``e``, ``+ - * / ** ^``, unary minus, parentheses and
    the one-argument functions in ``FORMULA_FUNCTIONS``. Nothing in ``text`` is executed.

    Raises:
        ValueError: the text is not a string, is too long or too complex, uses anything outside
            the allowlist, does not use x or y, or is not finite anywhere in ``bounds``; or
            ``bounds`` is invalid. The message says what to fix.
    """
    bounds = _check_bounds(bounds)
    if not isinstance(text, str):
        raise ValueError(f"the formula must be text, not {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:  # before any parsing, so a huge input costs nothing
        raise ValueError(
            f"formula is too long ({len(text)} characters; the limit is {MAX_FORMULA_LENGTH})"
        )
    tidy = " ".join(_LHS.sub("", text.translate(_TYPOGRAPHY)).split())
    if not tidy:
        raise ValueError("the formula is empty; type an expression in x and y, like x^2 + y^2")

    source = tidy.replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
        n_nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
        if n_nodes > MAX_FORMULA_NODES:
            raise ValueError(
                f"the formula is too complex ({n_nodes} terms; the limit is {MAX_FORMULA_NODES})"
            )
        expr = _compile(tree.body, depth=1)
        latex = _latex(tree.body)[0]
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    except SyntaxError as error:
        column = _original_column(tidy, error.offset or 1)
        raise ValueError(f"could not read the formula near column {column}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("the formula is nested too deeply") from None
    except OverflowError as error:
        raise ValueError(f"a number in the formula is too large ({error})") from None

    if not used & {"x", "y"}:
        raise ValueError("the formula must use x or y; a constant surface has nothing to optimize")

    def fn(x: Tensor, y: Tensor) -> Tensor:
        shape = torch.broadcast_shapes(x.shape, y.shape)
        # A formula in only x (or only y) must still give one value per point; the copy keeps a
        # bare "x" from returning a view that aliases the caller's points.
        return torch.broadcast_to(expr(x, y), shape).clone()  # (...)

    x_min, x_max, y_min, y_max = bounds
    probe_x = torch.linspace(x_min, x_max, 9, dtype=torch.float64)  # (9,)
    probe_y = torch.linspace(y_min, y_max, 9, dtype=torch.float64)  # (9,)
    probe = torch.stack(torch.meshgrid(probe_x, probe_y, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        finite = torch.isfinite(fn(probe[:, 0], probe[:, 1]))  # (81,)
    if not finite.any():
        raise ValueError("the formula is not finite anywhere in the plot window")

    surface = Surface(
        key="custom",
        label=tidy,
        fn=fn,
        bounds=bounds,
        start=(x_min, y_max),  # replaced below, once we can evaluate the surface
        latex=f"f(x, y) = {latex}",
        teaches="Your own surface.",
    )
    return dataclasses.replace(surface, start=_pick_start(surface, probe[finite]))


def _pick_start(surface: Surface, finite_points: Tensor) -> tuple[float, float]:
    """A start 70% of the way from the centre to a corner, where f and ∇f are finite.

    Corners are tried from the top left (where the built-in surfaces tend to start) clockwise;
    if f or ∇f is not finite at any of them, the first finite probe point is used.
    """
    x_min, x_max, y_min, y_max = surface.bounds
    cx, cy = (x_min + x_max) / 2.0, (y_min + y_max) / 2.0
    corners = [(x_min, y_max), (x_max, y_max), (x_max, y_min), (x_min, y_min)]
    candidates = torch.tensor(
        [(cx + 0.7 * (px - cx), cy + 0.7 * (py - cy)) for px, py in corners], dtype=torch.float64
    )  # (4, 2)
    value, grad = surface.value_and_grad(candidates)  # (4,), (4, 2)
    ok = torch.isfinite(value) & torch.isfinite(grad).all(dim=-1)  # (4,)
    point = candidates[ok][0] if ok.any() else finite_points[0]  # (2,)
    # 10 significant digits: shows as -2.1 rather than -2.0999999999999996, still inside bounds.
    return (float(f"{point[0]:.10g}"), float(f"{point[1]:.10g}"))


def _original_column(tidy: str, offset: int) -> int:
    """Map a 1-based column in the parsed source (each ``^`` became ``**``) back to ``tidy``."""
    position = 0
    for index, char in enumerate(tidy):
        position += 2 if char == "^" else 1
        if position >= offset:
            return index + 1
    return len(tidy) + 1


def _compile(node: ast.expr, depth: int) -> _Compiled:
    """Check ``node`` against the allowlist and turn it into a function of (x, y).

    Recursion depth is bounded by ``MAX_FORMULA_DEPTH``, so this never nears Python's limit.
    """
    if depth > MAX_FORMULA_DEPTH:
        raise ValueError(f"the formula is nested too deeply (more than {MAX_FORMULA_DEPTH} levels)")

    if isinstance(node, ast.Constant):
        value = _constant(node.value)
        # A 0-d tensor in the input's dtype: torch arithmetic overflows to inf instead of
        # Python raising OverflowError or building big integers (9**9**9 is inf, at once).
        return lambda x, y: x.new_tensor(value)

    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x, y: x
        if node.id == "y":
            return lambda x, y: y
        if node.id in _CONSTANTS:
            value = _CONSTANTS[node.id]
            return lambda x, y: x.new_tensor(value)
        if node.id in FORMULA_FUNCTIONS:
            raise ValueError(f"'{node.id}' is a function; call it like {node.id}(x)")
        raise ValueError(f"unknown name '{node.id}' — use x and y (and the constants pi, e)")

    if isinstance(node, ast.BinOp):
        op = _BINARY_OPS.get(type(node.op))
        if op is None:
            raise ValueError(f"the operator '{_operator_symbol(node.op)}' is not allowed")
        left = _compile(node.left, depth + 1)
        right = _compile(node.right, depth + 1)
        return lambda x, y: op(left(x, y), right(x, y))

    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise ValueError(f"the operator '{_operator_symbol(node.op)}' is not allowed")
        operand = _compile(node.operand, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return operand
        return lambda x, y: torch.neg(operand(x, y))

    if isinstance(node, ast.Call):
        name = _function_name(node)
        if node.keywords:
            raise ValueError(f"keyword arguments are not allowed: write {name}(x)")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ValueError("'*' unpacking is not allowed")
        if len(node.args) != 1:
            raise ValueError(f"{name} takes exactly one argument, got {len(node.args)}")
        function = FORMULA_FUNCTIONS[name][0]
        argument = _compile(node.args[0], depth + 1)
        return lambda x, y: function(argument(x, y))

    raise ValueError(_FORBIDDEN.get(type(node), _generic_reason(node)))


def _constant(value: object) -> float:
    if type(value) in (int, float):
        return float(value)  # OverflowError for a giant integer literal, caught by the caller
    reason = _CONSTANT_KINDS.get(type(value), f"the constant {value!r} is not allowed")
    raise ValueError(reason)


def _function_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Attribute):
        raise ValueError(_FORBIDDEN[ast.Attribute])
    if not isinstance(node.func, ast.Name):
        raise ValueError("only calls of a named function, like sin(x), are allowed")
    if node.func.id not in FORMULA_FUNCTIONS:
        available = ", ".join(sorted(FORMULA_FUNCTIONS))
        raise ValueError(f"function '{node.func.id}' is not available; use one of: {available}")
    return node.func.id


def _operator_symbol(op: ast.AST) -> str:
    return _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)


def _generic_reason(node: ast.AST) -> str:
    return (
        f"'{type(node).__name__}' expressions are not allowed; use numbers, x, y, pi, e, "
        "+ - * / ^ and functions like sin(x)"
    )


# LaTeX rendering of an already-validated tree: (text, precedence). Parentheses are added only
# where the math needs them, so "(1 - x)^2 + 100*(y - x^2)^2" reads as typed.
_ADD, _UNARY, _MUL, _POW, _ATOM = 1, 2, 3, 4, 5


def _latex(node: ast.expr) -> tuple[str, int]:
    if isinstance(node, ast.Constant):
        return _latex_number(float(node.value)), _ATOM
    if isinstance(node, ast.Name):
        return _CONSTANT_LATEX.get(node.id, node.id), _ATOM
    if isinstance(node, ast.UnaryOp):
        operand, precedence = _latex(node.operand)
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return sign + (_wrap(operand) if precedence <= _UNARY else operand), _UNARY
    if isinstance(node, ast.Call):
        _, before, after = FORMULA_FUNCTIONS[_function_name(node)]
        return before + _latex(node.args[0])[0] + after, _ATOM
    assert isinstance(node, ast.BinOp)  # the allowlist has already run
    left, left_precedence = _latex(node.left)
    right, right_precedence = _latex(node.right)
    if isinstance(node.op, ast.Div):
        return rf"\frac{{{left}}}{{{right}}}", _ATOM
    if isinstance(node.op, ast.Pow):
        base = left if left_precedence == _ATOM and not left.startswith(r"\frac") else _wrap(left)
        return f"{base}^{{{right}}}", _POW
    if isinstance(node.op, ast.Mult):
        left = left if left_precedence >= _UNARY else _wrap(left)
        right = right if right_precedence >= _MUL else _wrap(right)
        return rf"{left} \cdot {right}", _MUL
    symbol = "+" if isinstance(node.op, ast.Add) else "-"
    right = right if right_precedence > _UNARY else _wrap(right)
    return f"{left} {symbol} {right}", _ADD


def _wrap(latex: str) -> str:
    return rf"\left({latex}\right)"


def _latex_number(value: float) -> str:
    if math.isinf(value):
        return r"\infty"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    mantissa, _, exponent = repr(value).partition("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else mantissa
