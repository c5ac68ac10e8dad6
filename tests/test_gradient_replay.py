"""The engine's gradient: autograd's ops, recorded once and replayed trimmed, to the bit.

Every function a typed formula may call and every registered surface goes through ``simulate``;
the gradient each optimizer saw must be autograd's, bit for bit, and must have come from the
trimmed replay. A trimmed program that fails in any way must leave the plain recording in charge.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optviz import trajectories
from optviz.surfaces import FORMULA_FUNCTIONS, SURFACES, Surface, parse_surface
from optviz.trajectories import simulate

# Functions defined only on part of the line: their argument stays inside (0, 1).
INSIDE_ZERO_ONE = {"arcsin", "asin", "arccos", "acos", "log", "ln", "log10", "log2", "sqrt"}
# Aten ops with no torch function of the same name: the trimmed program calls them as recorded.
UNMAPPED = {
    "tanh": "tanh_backward",
    "sigmoid": "sigmoid_backward",
    "softplus": "softplus_backward",
    "relu": "threshold_backward",
}


def formula(name: str) -> Surface:
    """``name`` applied to a mix of x and y, on a window where the formula is defined."""
    low, high = (0.05, 0.95) if name in INSIDE_ZERO_ONE else (-2.0, 2.0)
    return parse_surface(f"{name}(0.5*x + 0.25*y)", bounds=(low, high, low, high))


def starts_in(surface: Surface, n: int = 18) -> np.ndarray:
    """``(n + 1, 2)`` points spread over the surface's window, and its centre. More than 16:
    torch runs elementwise ops in vectorized chunks and a scalar tail, and both must agree."""
    x_min, x_max, y_min, y_max = surface.bounds
    rng = np.random.default_rng(3)
    points = rng.uniform((x_min, y_min), (x_max, y_max), size=(n, 2))
    return np.vstack([points, [((x_min + x_max) / 2, (y_min + y_max) / 2)]])


def writer(surface: Surface, shape: tuple[int, int]):
    """The gradient program the engine uses for ``surface`` at ``(K, B)`` (cached, so the very
    one a race just used)."""
    return trajectories._value_and_grad(surface.fn, shape)


def trimmed(surface: Surface, shape: tuple[int, int]) -> bool:
    """Whether that program is the trimmed replay (a GraphModule's ``forward``), not the
    recording replayed as it is."""
    return isinstance(getattr(writer(surface, shape), "__self__", None), torch.fx.GraphModule)


def autograd_gradients(surface: Surface, paths: np.ndarray) -> np.ndarray:
    """``(K, B, T, 2)`` autograd's ∇f at θ_0 … θ_{T−1}, one step at a time on ``(K, B)`` rows as
    the race lays them out: sinh, cosh and sigmoid round differently in torch's vectorized and
    scalar kernels, so the oracle must put each point where the race did."""
    grads = np.empty((*paths.shape[:2], paths.shape[2] - 1, 2))
    for t in range(grads.shape[2]):
        x = torch.tensor(paths[:, :, t, 0], requires_grad=True)  # (K, B)
        y = torch.tensor(paths[:, :, t, 1], requires_grad=True)  # (K, B)
        value = surface.fn(x, y)
        grad_x, grad_y = torch.autograd.grad(value, (x, y), torch.ones_like(value))
        grads[:, :, t] = torch.stack([grad_x, grad_y], dim=-1).numpy()
    return grads


def race_and_compare(surface: Surface) -> tuple[int, int]:
    """Race a few steps and assert every gradient an optimizer saw is autograd's, to the bit.

    Returns the race's ``(K, B)``."""
    starts = starts_in(surface)
    result = simulate(surface.with_noise(0.0), [("sgd", {"lr": 1e-5})], starts, 3)
    assert (result.diverged_at == -1).all()  # or the held values below would prove nothing
    np.testing.assert_array_equal(result.grads, autograd_gradients(surface, result.paths))
    return 1, len(starts)


def test_every_formula_function_is_tested_once():
    assert len(set(FORMULA_FUNCTIONS)) == len(FORMULA_FUNCTIONS)
    assert INSIDE_ZERO_ONE <= set(FORMULA_FUNCTIONS) and set(UNMAPPED) <= set(FORMULA_FUNCTIONS)


@pytest.mark.parametrize("name", list(FORMULA_FUNCTIONS))
def test_every_formula_function_races_on_autograds_gradient_through_the_trimmed_replay(name):
    surface = formula(name)
    shape = race_and_compare(surface)
    assert trimmed(surface, shape)


@pytest.mark.parametrize("surface", list(SURFACES.values()), ids=list(SURFACES))
def test_every_surface_races_on_autograds_gradient_through_the_trimmed_replay(surface):
    shape = race_and_compare(surface)
    assert trimmed(surface, shape)


@pytest.mark.parametrize(("name", "op"), UNMAPPED.items())
def test_an_op_without_a_torch_namesake_is_called_as_recorded(name, op):
    surface = formula(name)
    program = writer(surface, (1, 4)).__self__
    targets = {getattr(node.target, "overloadpacket", None) for node in program.graph.nodes}
    assert getattr(torch.ops.aten, op) in targets


def test_an_op_that_raises_in_the_trimmed_program_falls_back_to_the_recording(monkeypatch):
    calls = []

    def broken_mul(a, b):  # as an aten op whose torch namesake wants other arguments would
        calls.append(1)
        raise TypeError("mul() got an unexpected argument")

    monkeypatch.setitem(trajectories._OPERATORS, "mul", broken_mul)
    surface = parse_surface("x^2*y + 3*x*y^2")  # a new function: recorded afresh
    shape = race_and_compare(surface)
    assert calls  # the trimmed program did run, and raised
    assert not trimmed(surface, shape)


def test_a_failure_while_trimming_falls_back_to_the_recording(monkeypatch):
    def broken(*args):
        raise RuntimeError("cannot rewrite this graph")

    monkeypatch.setattr(trajectories, "_write_results", broken)
    surface = parse_surface("sin(x) * cosh(y)")
    shape = race_and_compare(surface)
    assert not trimmed(surface, shape)


@pytest.mark.parametrize("key", list(SURFACES))
def test_a_surface_is_recorded_once_for_every_shape(key):
    """Every surface is elementwise: its one recording (at ``RECORDING_SHAPE``) serves a race,
    a race with more optimizers and the tuner's grid, giving autograd's very bits at each."""
    surface = SURFACES[key]
    general = trajectories._general_value_and_grad(surface.fn, False)
    for shape in [(1, 1), (4, 1), (9, 57)]:
        assert writer(surface, shape) is general
        assert trajectories._exact_at(general, surface.fn, shape, False)


def test_a_recording_that_fits_only_its_own_shape_is_made_again_at_the_new_one():
    """A typed formula's recording expands its constants to the recorded shape, so at another
    shape it fails the probe and the engine records the formula at that shape: still exact."""
    surface = parse_surface("x^2 + 3*sin(y)")
    general = trajectories._general_value_and_grad(surface.fn, False)
    assert not trajectories._exact_at(general, surface.fn, (3, 7), False)
    own = writer(surface, (3, 7))
    assert own is not general and trajectories._exact_at(own, surface.fn, (3, 7), False)
