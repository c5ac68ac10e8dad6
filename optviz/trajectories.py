"""The trajectory engine: race optimizers from many start points on a surface, in one pass.

``simulate`` drives the real ``optviz.optim`` classes, the same code that trains MNIST, but
arranges the work so that per-step Python overhead is paid once, not once per optimizer and start:

* all positions live in one tensor ``X`` of shape ``(K, 2, B)`` (K runs, B starts); each
  optimizer's parameter is the view ``X[k]``, so its in-place update writes straight into ``X``,
  and x and y are the contiguous slices ``X[:, 0]`` and ``X[:, 1]`` (a 4096-start step runs at
  memory speed only on contiguous rows);
* one evaluation per step gives f and ∇f at all K·B points, replaying the ops autograd ran when
  it differentiated f once (``_value_and_grad``); each optimizer's ``.grad`` is the view ``G[k]``
  of one gradient buffer;
* the hot loop records the positions and nothing else (one whole-tensor copy a step); losses,
  gradients and optimizer state are derived from them on first use, exactly
  (``Trajectories.losses``, ``.grads``, ``.state``): a 4096-start sweep would otherwise write
  most of a gigabyte, which costs more than computing it, and nobody looks at most of it;
* divergence is screened in the loop by whole-tensor running extremes and sums, then pinned
  down afterwards for the suspect runs only.

Every path that turns non-finite, or escapes far beyond the plot window, is frozen at its last good
point and reported in ``diverged_at``: nothing non-finite leaves the engine.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.fx.experimental.proxy_tensor import make_fx

from optviz.optim import OPTIMIZERS
from optviz.optim.base import BATCH_DIM
from optviz.schedules import CONSTANT, Schedule, check_schedule
from optviz.surfaces import SURFACES, Surface

# The explorer's races stop at links.MAX_STEPS; online-learning experiments need 10⁵ steps of a
# few runs (MAX_POINTS bounds the work either way).
MAX_STEPS = 100_000
MAX_STARTS = 4096  # the benchmark's sweep size; more is a different tool
MAX_RUNS = 16  # optimizers (or configurations) racing at once; more is unreadable on one plot
MAX_POINTS = 40_000_000  # K·B·steps: keeps the recorded arrays (≈ 80 B a point) in a few GB
ESCAPE = 100.0  # a path this many plot-window widths from the window's centre has diverged

Run = tuple[str, Mapping[str, Any]]
Box = tuple[float, float, float, float]  # (x_min, x_max, y_min, y_max) of a feasible set


@dataclass(frozen=True, eq=False)
class Trajectories:
    """What ``simulate`` recorded. Step t runs from 1 to T; index 0 of ``paths`` is the start.

    Attributes:
        surface: the surface raced on (with its noise level).
        runs: ``(optimizer_key, hyperparameters)`` per run, as given.
        paths: ``(K, B, T + 1, 2)`` positions θ_0 … θ_T.
        diverged_at: ``(K, B)`` the step at which the path went non-finite or escaped, or -1.
        noise: ``(T, B, 2)`` the standard normal draws ξ_t behind the gradient noise
            (g_t = ∇f(θ_{t−1}) + σ ξ_t, the same for every run), or None on a noiseless surface.
        schedules: ``(schedule_key, parameters)`` per run: step t's α is α · s(t).
        box: the box every step was projected onto, or None.

    ``losses``, ``grads``, ``updates`` and ``state`` are computed from these on first use.
    """

    surface: Surface
    runs: tuple[Run, ...]
    paths: np.ndarray
    diverged_at: np.ndarray
    noise: np.ndarray | None = None
    schedules: tuple[Schedule, ...] = ()
    box: Box | None = None

    @cached_property
    def losses(self) -> np.ndarray:
        """``(K, B, T + 1)`` the noiseless f(θ_t) (for a time-varying loss f_{t+1}(θ_t), the loss
        the learner suffers at its next step). A diverged run's losses hold at its last good
        point, like its path (all 0 if even f(θ_0) was not finite)."""
        paths = self._series(self.paths)  # (T+1, K, 2, B)
        losses = torch.empty(paths.shape[0], *self.diverged_at.shape, dtype=torch.float64)
        rows = max(1, 2**20 // self.diverged_at.size)  # steps at a time: a few MB per temporary
        with _one_thread(), torch.inference_mode():
            for begin in range(0, paths.shape[0], rows):
                chunk = paths[begin : begin + rows]  # (rows, K, 2, B)
                t = _next_steps(begin, chunk.shape[0])  # (rows, 1, 1)
                losses[begin : begin + rows] = self.surface.evaluate(
                    chunk[:, :, 0], chunk[:, :, 1], t
                )
        if (last := self._last_good(lag=1)) is not None:
            _hold(losses, last)
        return losses.permute(1, 2, 0).numpy()

    @cached_property
    def grads(self) -> np.ndarray:
        """``(K, B, T, 2)`` the gradient g_t each optimizer saw at step t (noise included).

        Recomputed, not recorded: the race's own gradient function at the recorded points, with
        the recorded noise, in the race's layout, so these are the very bits the optimizers saw.
        """
        paths = self._series(self.paths)  # (T+1, K, 2, B)
        grads = torch.empty(self.steps, *paths.shape[1:], dtype=torch.float64)  # (T, K, 2, B)
        values = torch.empty(self.diverged_at.shape, dtype=torch.float64)  # (K, B) not kept
        gradient = _gradient(self.surface, paths.shape[1:], self.noise)
        with _one_thread(), torch.inference_mode():
            for t in range(self.steps):
                gradient(t, paths[t], grads[t], values)
        if (last := self._last_good(lag=2)) is not None:
            _hold(grads, last[:, None])  # (K, 1, B) against (T, K, 2, B)
        return grads.permute(1, 3, 0, 2).numpy()

    @cached_property
    def updates(self) -> np.ndarray:
        """``(K, B, T, 2)`` the update Δ_t = θ_t − θ_{t−1} (0 after a divergence)."""
        return np.diff(self.paths, axis=2)

    @cached_property
    def state(self) -> tuple[dict[str, np.ndarray], ...]:
        """Per run, optimizer state key (``exp_avg`` …) → ``(B, T, 2)`` after step t.

        Replayed, not recorded: the same optimizers, built the same way, take the recorded
        gradients in order. Their state depends on nothing else (θ only through weight decay,
        and θ retraces the recorded path), so it is the state the race had.
        """
        X = self._series(self.paths)[0].clone()  # (K, 2, B)
        G = torch.zeros_like(X)
        starts = X.shape[-1]
        optimizers = _optimizers([_check_run(run, starts) for run in self.runs], X, G)
        step = _stepper(optimizers, X, self.schedules, self.box, self.steps)
        grads = self._series(self.grads)  # (T, K, 2, B)
        with _one_thread(), torch.inference_mode():
            for t in range(self.steps):
                G.copy_(grads[t])
                step(t)
                if t == 0:  # the optimizers' state exists now
                    sources, state, history = _state_recorder(optimizers, self.steps)
                if sources:
                    torch.stack(sources, out=history[t])  # every optimizer's state, one copy
            last = self._last_good(lag=2)
            for k, values in ((k, v) for k, s in enumerate(state) for v in s.values()):
                if last is not None:
                    _hold(values, last[k])
                # State may overflow without moving θ (v → inf makes m/√v = 0).
                values.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        return tuple({name: v.permute(2, 0, 1).numpy() for name, v in s.items()} for s in state)

    @property
    def steps(self) -> int:
        return self.paths.shape[2] - 1

    @property
    def nbytes(self) -> int:
        """The bytes this result holds once the views ask for everything derived from it
        (losses, gradients, updates, every state in its optimizers' specs): what a cache should
        count it as, since those arrays appear after the result is stored."""
        K, B, T = (*self.diverged_at.shape, self.steps)
        per_step = B * T * 2 * 8  # one (B, T, 2) float64 series of a run
        states = sum(len(OPTIMIZERS[key].state) for key, _ in self.runs if key in OPTIMIZERS)
        recorded = self.paths.nbytes + self.diverged_at.nbytes
        recorded += 0 if self.noise is None else self.noise.nbytes
        derived = K * B * (T + 1) * 8 + 2 * K * per_step + states * per_step  # losses, g, Δ, state
        return recorded + derived

    def take(self, runs: Sequence[int]) -> Trajectories:
        """The race of ``runs`` (indices into ``self.runs``) without the others: what
        ``simulate`` returns for them alone, bit for bit, since runs never interact (each has
        its own optimizer and position; the gradient noise depends on the step only)."""
        index = list(runs)
        return Trajectories(
            surface=self.surface,
            runs=tuple(self.runs[k] for k in index),
            paths=self.paths[index],
            diverged_at=self.diverged_at[index],
            noise=self.noise,
            schedules=tuple(self.schedules[k] for k in index) if self.schedules else (),
            box=self.box,
        )

    @staticmethod
    def join(parts: Sequence[Trajectories]) -> Trajectories:
        """Races of the same surface, starts, steps, noise and box as one race, their runs in
        order: ``take``'s inverse."""
        first = parts[0]
        for part in parts[1:]:
            same_noise = (part.noise is None) == (first.noise is None) and (
                part.noise is None or np.array_equal(part.noise, first.noise)
            )
            if part.paths.shape[1:] != first.paths.shape[1:] or part.box != first.box:
                raise ValueError("only races of the same starts, steps and box join")
            if not same_noise or part.surface != first.surface:
                raise ValueError("only races on the same surface with the same noise join")
        return Trajectories(
            surface=first.surface,
            runs=tuple(run for part in parts for run in part.runs),
            paths=np.concatenate([part.paths for part in parts]),
            diverged_at=np.concatenate([part.diverged_at for part in parts]),
            noise=first.noise,
            schedules=tuple(s for part in parts for s in part.schedules),
            box=first.box,
        )

    def hyperparameters(self, k: int) -> dict[str, Any]:
        """Run k's hyperparameters with the registry defaults filled in."""
        key, hparams = self.runs[k]
        return OPTIMIZERS[key].defaults() | dict(hparams)

    def moments(self, k: int, b: int = 0) -> dict[str, np.ndarray]:
        """Run k's state for start b as ``symbol → (T, 2)``, the states its spec lists.

        A state the optimizer bias-corrects is given corrected, under its hatted symbol: for
        Adam m̂_t = m_t/(1 − β1^t) and v̂_t = v_t/(1 − β2^t), the quantities whose ratio sets
        the step (paper §2.1).
        """
        spec = OPTIMIZERS[self.runs[k][0]]
        hparams = self.hyperparameters(k)
        corrects = spec.corrects_bias(hparams)
        t = np.arange(1, self.steps + 1)[:, None]  # (T, 1)
        out = {}
        for state in spec.state:
            if state.name not in self.state[k]:  # e.g. a momentum buffer with μ = 0
                continue
            values = self.state[k][state.name][b]  # (T, 2)
            if corrects and state.corrected_by:
                beta = np.asarray(hparams[state.corrected_by], dtype=float).reshape(-1)
                out[state.corrected_symbol] = values / (1 - beta[b % beta.size] ** t)
            else:
                out[state.symbol] = values
        return out

    @staticmethod
    def _series(values: np.ndarray) -> Tensor:
        """A recorded ``(K, B, N, …)`` array as the engine's ``(N, K, …, B)`` tensor (a view)."""
        return torch.from_numpy(values).movedim(2, 0).movedim(2, -1)

    def _last_good(self, lag: int) -> Tensor | None:
        """``(K, B)`` the last entry to keep of a series whose entry i belongs to step i + ``lag``
        − 1 (losses: lag 1; gradients and state: lag 2, as step s's entry is index s − 1), θ_s
        being the first bad point: -1 if none, T if the run never diverged; None if no run did."""
        if not (self.diverged_at >= 0).any():
            return None
        diverged_at = torch.from_numpy(self.diverged_at)
        return torch.where(diverged_at >= 0, diverged_at - lag, self.steps)


def simulate(
    surface: str | Surface,
    runs: Sequence[Run],
    start: Sequence[float] | np.ndarray,
    steps: int,
    *,
    seed: int = 0,
    schedules: Sequence[Schedule | None] | None = None,
    box: Box | None = None,
) -> Trajectories:
    """Race ``runs`` on ``surface`` from ``start`` for ``steps`` steps.

    Args:
        surface: a ``SURFACES`` key or a ``Surface`` (e.g. from ``parse_surface``).
        runs: ``(optimizer_key, hyperparameters)`` pairs; a hyperparameter may be a number or a
            length-B sequence (one value per start: a sweep in one pass).
        start: one point ``(x, y)`` or an array of B points ``(B, 2)``.
        steps: number of optimizer steps T.
        seed: seeds the gradient noise of noisy surfaces; every run sees the same noise at the
            same step, so the race is fair and repeats exactly.
        schedules: a learning-rate schedule ``(key, parameters)`` of ``SCHEDULES`` per run
            (None: constant α). Step t's α is the run's α · s(t); the α_t of all steps are
            computed before the loop, which stores each in the run's param group (a swept α:
            one op a step for all its columns).
        box: ``(x_min, x_max, y_min, y_max)``: after every step each position is projected onto
            this box (clamped coordinate-wise, the Euclidean projection, and for a box also the
            projection in any diagonal metric such as an adaptive method's √v̂).

    Raises:
        ValueError: unknown names, invalid hyperparameters, or sizes beyond the work caps.
    """
    surface = _resolve_surface(surface)
    starts = _check_starts(start)  # (B, 2)
    K, B = len(runs), starts.shape[0]
    _check_sizes(K, B, steps)
    specs_and_hparams = [_check_run(run, B) for run in runs]
    schedules = _check_schedules(schedules, K)
    box = _check_box(box, starts)

    X = torch.as_tensor(starts.T).expand(K, 2, B).clone()  # (K, 2, B) positions, all runs
    G = torch.zeros_like(X)  # (K, 2, B) gradients; G[k] is run k's .grad
    optimizers = _optimizers(specs_and_hparams, X, G)
    step = _stepper(optimizers, X, schedules, box, steps)
    paths = torch.empty(steps + 1, K, 2, B, dtype=torch.float64)
    noise = _draw_noise(surface, steps, B, seed)
    gradient = _gradient(surface, (K, 2, B), noise)
    F = torch.empty(K, B, dtype=torch.float64)  # f at the current points
    # The divergence screen, kept while X and F are in cache: each path's extremes so far (NaN
    # sticks) and its sum of losses (not finite if any loss was not, or if it overflowed).
    lowest, highest, total = X.clone(), X.clone(), torch.zeros(K, B, dtype=torch.float64)

    # inference_mode: no autograd bookkeeping (version counters, view tracking) on any op.
    with _one_thread(), torch.inference_mode():
        for t in range(steps):  # the hot loop: whole-tensor ops only
            paths[t] = X
            gradient(t, X, G, F)
            step(t)
            total.add_(F)
            torch.minimum(lowest, X, out=lowest)
            torch.maximum(highest, X, out=highest)
        paths[steps] = X
        total.add_(surface.evaluate(X[:, 0], X[:, 1], steps + 1))
    diverged_at = _freeze_divergent(surface, paths, (lowest, highest, total))
    return Trajectories(
        surface=surface,
        runs=tuple(runs),
        paths=paths.permute(1, 3, 0, 2).numpy(),  # (K, B, T+1, 2)
        diverged_at=diverged_at.numpy(),
        noise=None if noise is None else noise.numpy(),
        schedules=schedules,
        box=box,
    )


def _stepper(
    optimizers: list[tuple[torch.optim.Optimizer, Tensor]],
    X: Tensor,
    schedules: Sequence[Schedule],
    box: Box | None,
    steps: int,
) -> Callable[[int], None]:
    """``step(t)`` (t from 0): every optimizer's update t + 1 with its scheduled α, then the
    projection onto ``box``.

    A scheduled run whose α is a number gets α_t as a number, read from a list computed before
    the loop and stored in its param group, as torch's learning-rate schedulers do: its update
    keeps torch.optim's fused ops. A scheduled sweep (a tensor α, one value per column) gets the
    view ``now[s]`` of one ``(S, 1, B)`` buffer of those S runs, filled each step with one op,
    base α × the step's factors, precomputed ``(T, S, 1, 1)``.
    """
    numbers: list[tuple[dict[str, Any], list[float]]] = []  # (param group, α_t for each t)
    swept, base_rates, factors = [], [], []
    for k, schedule in enumerate(schedules):
        if schedule[0] == CONSTANT[0]:
            continue
        (group,) = optimizers[k][0].param_groups
        spec, params = check_schedule(schedule)
        table = spec.factors(steps, params)
        if isinstance(group["lr"], Tensor):
            swept.append(group)
            base_rates.append(group["lr"].to(torch.float64).expand(1, X.shape[-1]))
            factors.append(torch.from_numpy(table))
        else:
            numbers.append((group, (group["lr"] * table).tolist()))
    if swept:
        base = torch.stack(base_rates)  # (S, 1, B)
        table = torch.stack(factors, dim=1)[:, :, None, None]  # (T, S, 1, 1)
        now = base.clone()
        for s, group in enumerate(swept):
            group["lr"] = now[s]  # (1, B)
    if box is not None:
        low = torch.tensor(box[::2], dtype=torch.float64).view(1, 2, 1)
        high = torch.tensor(box[1::2], dtype=torch.float64).view(1, 2, 1)

    def step(t: int) -> None:
        for group, rates in numbers:
            group["lr"] = rates[t]
        if swept:
            torch.mul(base, table[t], out=now)
        for optimizer, _ in optimizers:
            optimizer.update_all()
        if box is not None:
            torch.clamp(X, low, high, out=X)

    return step


def _optimizers(
    specs_and_hparams: list[tuple[Any, dict[str, Any]]], X: Tensor, G: Tensor
) -> list[tuple[torch.optim.Optimizer, Tensor]]:
    """Run k's optimizer on the view ``X[k]`` (its in-place update writes into X), with the view
    ``G[k]`` as its ``.grad``; returned with that parameter. Its param group says that the B
    columns are B independent points (``BATCH_DIM``), for updates that take norms over θ."""
    optimizers = []
    for k, (spec, hparams) in enumerate(specs_and_hparams):
        theta = X[k]  # (2, B)
        theta.grad = G[k]
        optimizers.append((spec.build([{"params": [theta], BATCH_DIM: -1}], hparams), theta))
    return optimizers


def _draw_noise(surface: Surface, steps: int, starts: int, seed: int) -> Tensor | None:
    """``(T, B, 2)`` standard normal draws for the gradient noise, one ``(B, 2)`` draw per step
    from a generator seeded with ``seed``; None on a noiseless surface."""
    if surface.noise == 0:
        return None
    generator = torch.Generator().manual_seed(seed)
    noise = torch.empty(steps, starts, 2, dtype=torch.float64)
    for t in range(steps):
        torch.randn(starts, 2, generator=generator, dtype=torch.float64, out=noise[t])
    return noise


def _gradient(
    surface: Surface, shape: tuple[int, int, int], noise: Tensor | np.ndarray | None
) -> Callable[[int, Tensor, Tensor, Tensor], None]:
    """``(t, X, G, F)``: writes g_t = ∇f(X) + σ ξ_t into G and f(X) into F; X and G are
    ``(K, 2, B)``, F is ``(K, B)``.

    The one gradient of the engine: the race calls it every step, ``Trajectories.grads``
    calls it again on the recorded points.
    """
    K, _, B = shape
    value_and_grad = _value_and_grad(surface.fn, (K, B), surface.time_varying)
    noise = None if noise is None else torch.as_tensor(noise)
    clock = (torch.zeros((), dtype=torch.float64),) if surface.time_varying else ()  # f_t's t

    def gradient(t: int, X: Tensor, G: Tensor, F: Tensor) -> None:
        for now in clock:
            now.fill_(t + 1)
        value_and_grad(X[:, 0], X[:, 1], *clock, F, G[:, 0], G[:, 1])
        if noise is not None:
            G.add_(noise[t].T, alpha=surface.noise)  # the same ξ_t for every run

    return gradient


_trace_lock = threading.Lock()

# Recorded aten ops replayed as Python operators: the quickest way into torch's dispatcher (no
# slower than torch.mul, well ahead of calling the aten.mul.Tensor overload itself), and a replay
# is nearly all dispatch. Not **: Tensor.__pow__ is a Python wrapper, slower than torch.pow.
_OPERATORS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "neg": operator.neg,
}


# The op behind a result, as replayed → the same op writing into a given tensor (``out=``).
_WRITERS = {
    operator.add: torch.add,
    operator.sub: torch.sub,
    operator.mul: torch.mul,
    operator.truediv: torch.div,
    operator.neg: torch.neg,
    torch.pow: torch.pow,
}

Writer = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], None]


# Where f is elementwise (every surface's is), one recording serves every shape: it is made at
# this small one, with both dimensions above 1 so no op of it is a broadcast of a single point.
RECORDING_SHAPE = (2, 3)


@functools.lru_cache(maxsize=64)
def _value_and_grad(
    fn: Callable[..., Tensor], shape: tuple[int, ...], timed: bool = False
) -> Writer:
    """``(x, y, f_out, gx_out, gy_out)``: writes f, ∂f/∂x and ∂f/∂y at inputs of ``shape``
    into the three out tensors. Autograd's gradient, recorded. ``timed``: f is a time-varying
    loss f_t, and the step t, a 0-dim float64 tensor, follows y: ``(x, y, t, f_out, …)``.

    On tensors this small a backward pass is nearly all autograd-engine overhead, a fixed cost
    per call and per graph node that dwarfs the ops themselves (``benchmarks/bench_engine.py``
    prints what a call costs each way). So f is differentiated by autograd once, under
    ``make_fx``, which records every op of the forward and backward pass (``_record``), and each
    step replays the recording (``_streamline`` trims it). A surface function is recorded once,
    at ``RECORDING_SHAPE``, and that program serves every shape where it gives autograd's very
    bits on a probe of that shape (a race with one more optimizer, the tuner's grid: each would
    otherwise cost a recording, most of a new surface's first race); else f is recorded again
    at the shape itself.
    """
    general = _general_value_and_grad(fn, timed)
    if _exact_at(general, fn, shape, timed):
        return general
    return _streamline(_record(fn, shape, timed), shape, timed)


@functools.lru_cache(maxsize=32)
def _general_value_and_grad(fn: Callable[..., Tensor], timed: bool) -> Writer:
    return _streamline(_record(fn, RECORDING_SHAPE, timed), RECORDING_SHAPE, timed)


def _exact_at(
    writer: Writer, fn: Callable[..., Tensor], shape: tuple[int, ...], timed: bool
) -> bool:
    """Whether ``writer`` gives exactly autograd's f, ∂f/∂x and ∂f/∂y on a random probe of
    ``shape`` (NaN where autograd's is NaN); a writer that fails there does not."""
    generator = torch.Generator().manual_seed(1)
    probe = [*torch.randn(2, *shape, dtype=torch.float64, generator=generator)]
    probe += [torch.tensor(4.0, dtype=torch.float64)] * timed  # a step t
    expected = torch.stack(_autograd(fn, *probe))
    got = torch.empty(3, *shape, dtype=torch.float64)
    try:
        with warnings.catch_warnings():
            # A program that only fits its recording's shape raises, or warns as it resizes an
            # out tensor to that shape (the out tensor then no longer is the one given).
            warnings.simplefilter("error")
            writer(*probe, *got.unbind())
    except Exception:
        return False
    return torch.allclose(expected, got, rtol=0.0, atol=0.0, equal_nan=True)


def _record(
    fn: Callable[..., Tensor], shape: tuple[int, ...], timed: bool = False
) -> torch.fx.GraphModule:
    """``(x, y[, t]) → (f, ∂f/∂x, ∂f/∂y)``: every op autograd runs for ``_autograd`` at inputs
    of ``shape``, as a program."""
    # Distinct tensors: the tracer tells inputs apart by identity.
    x, y = torch.ones(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)
    clock = (torch.ones((), dtype=torch.float64),) if timed else ()
    with _trace_lock:  # tracing swaps process-wide dispatch state
        return make_fx(functools.partial(_autograd, fn))(x, y, *clock)


def _autograd(
    fn: Callable[..., Tensor], x: Tensor, y: Tensor, *clock: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """f, ∂f/∂x and ∂f/∂y at (x, y) (at step t for a time-varying f, ``clock`` = (t,)), by
    autograd."""
    with torch.enable_grad():
        x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
        value = fn(x, y, *clock)
        # A formula in x alone has ∂f/∂y = 0: allow_unused + materialize_grads give that.
        grad_x, grad_y = torch.autograd.grad(
            value, (x, y), torch.ones_like(value), allow_unused=True, materialize_grads=True
        )
    return value.detach(), grad_x, grad_y


def _streamline(recorded: torch.fx.GraphModule, shape: tuple[int, ...], timed: bool) -> Writer:
    """The recording trimmed (``_trim``) if the trimmed program computes the very same bits as
    the recording on a probe, else the recording itself, its results copied into the out tensors.

    Anything that goes wrong while trimming or probing also leaves the recording in charge: an
    aten op whose torch namesake takes other arguments raises, and the race must not fail for a
    shortcut it can do without.
    """

    inputs = 3 if timed else 2

    def replay(*args: Tensor) -> None:  # the recording as it is
        for out, result in zip(args[inputs:], recorded(*args[:inputs]), strict=True):
            out.copy_(result)

    try:
        program = _trim(recorded, shape)
        generator = torch.Generator().manual_seed(0)
        probe = [*torch.randn(2, *shape, dtype=torch.float64, generator=generator)]
        probe += [torch.tensor(4.0, dtype=torch.float64)] * (inputs - 2)  # a step t
        expected, got = torch.empty(2, 3, *shape, dtype=torch.float64).unbind()
        replay(*probe, *expected)
        program(*probe, *got)
    except Exception:
        return replay
    exact = torch.allclose(expected, got, rtol=0.0, atol=0.0, equal_nan=True)  # log(−1) is NaN
    # .forward: calling the module itself would run nn.Module's hook machinery every step.
    return program.forward if exact else replay


def _trim(recorded: torch.fx.GraphModule, shape: tuple[int, ...]) -> torch.fx.GraphModule:
    """A copy of the recording with its no-ops dropped, its ops called the quick way and its
    results written where the caller wants them: ``(x, y, f_out, gx_out, gy_out)``.

    No-ops: ``detach`` (nothing to detach from outside autograd), ``pow(a, 1)`` (the chain rule
    of a square). The backward pass's seed of ones is folded into the products it feeds:
    ``(ones·c)·a`` becomes ``a·c``, and ``a·1`` is a no-op too. Binary arithmetic becomes
    Python operators, the other aten ops torch's function of the same name; an op whose result
    is returned writes it into its out tensor instead (saving a copy of each result a step).
    """
    program = copy.deepcopy(recorded)
    graph = program.graph
    # Tensors filled with one number: the backward pass's seed of ones, and multiples of it.
    filled = {node: 1.0 for node in graph.nodes if node.target == torch.ops.aten.ones_like.default}
    for node in list(graph.nodes):
        packet = getattr(node.target, "overloadpacket", None)  # set on aten ops only
        if node.op != "call_function" or packet is None:
            continue
        name = packet.__name__
        if name == "mul":
            _fold_fill(node, filled, shape)
        same = _no_op_input(name, node.args)
        if same is not None:
            node.replace_all_uses_with(same)
            graph.erase_node(node)
        elif name in _OPERATORS and not node.kwargs:
            node.target = _OPERATORS[name]
        elif hasattr(torch, name):
            node.target = getattr(torch, name)
    graph.eliminate_dead_code()
    _write_results(graph, shape)
    program.recompile()
    return program


def _write_results(graph: torch.fx.Graph, shape: tuple[int, ...]) -> None:
    """Give the program one out tensor per result, after its inputs, and return nothing: the op
    that makes a result writes it there (``out=``), else the result is copied in."""
    output = next(node for node in graph.nodes if node.op == "output")
    results = output.args[0]
    with graph.inserting_before(next(node for node in graph.nodes if node.op != "placeholder")):
        outs = [graph.placeholder(f"out_{i}") for i in range(len(results))]
    for out, node in zip(outs, results, strict=True):
        writes = (
            node.op == "call_function"
            and node.target in _WRITERS
            and "out" not in node.kwargs  # not already written: a result given twice
            and _full_size(node, shape)
        )
        if writes:
            node.target, node.kwargs = _WRITERS[node.target], {**node.kwargs, "out": out}
        else:  # a constant, an input, an op with no out= form …
            with graph.inserting_before(output):
                graph.call_method("copy_", (out, node))
    output.args = (None,)


def _no_op_input(name: str, args: tuple) -> torch.fx.Node | None:
    """The input a recorded op returns unchanged, or None."""
    one = len(args) == 2 and isinstance(args[1], int | float) and args[1] == 1
    if name == "detach" or (name in ("pow", "mul") and one):
        return args[0]
    return None


def _fold_fill(node: torch.fx.Node, filled: dict[torch.fx.Node, float], shape: tuple) -> None:
    """A product with a tensor filled with c: c·n is filled too; c·t becomes t·c, a number."""
    a, b = node.args
    if b in filled:
        a, b = b, a
    if a not in filled:
        return
    if isinstance(b, int | float):
        filled[node] = filled[a] * b
    elif _full_size(b, shape):  # not a smaller tensor that the fill would broadcast
        node.args = (b, filled[a])


def _full_size(node: object, shape: tuple[int, ...]) -> bool:
    """Whether a recorded value is a tensor of the inputs' shape (not one to broadcast)."""
    value = getattr(node, "meta", {}).get("val")
    return isinstance(value, Tensor) and tuple(value.shape) == shape


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread while any simulation is running.

    The engine's tensors are small (K·B·2 elements); splitting each op across threads costs far
    more in synchronisation than it saves, and on a busy machine a thread barrier per op waits on
    every other process's time slice. Thread count is process-wide, hence the counter: the
    first simulation in saves and lowers it, the last one out restores it.
    """
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def _state_recorder(
    optimizers: list[tuple[torch.optim.Optimizer, torch.Tensor]], steps: int
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], torch.Tensor]:
    """Buffers for every optimizer's state over time, filled by one ``stack`` per step.

    Returns the live state tensors (updated in place by the optimizers), per run a dict of
    ``(T, 2, B)`` views into the history, and the ``(T, S, 2, B)`` history itself.
    """
    sources, names = [], []
    for k, (optimizer, theta) in enumerate(optimizers):
        for name, value in optimizer.state[theta].items():
            if isinstance(value, torch.Tensor) and value.shape == theta.shape:
                sources.append(value)
                names.append((k, name))
    history = torch.empty(steps, len(sources), *optimizers[0][1].shape, dtype=torch.float64)
    state: list[dict[str, torch.Tensor]] = [{} for _ in optimizers]
    for i, (k, name) in enumerate(names):
        state[k][name] = history[:, i]  # (T, 2, B)
    return sources, state, history


def _freeze_divergent(
    surface: Surface, paths: Tensor, screen: tuple[Tensor, Tensor, Tensor]
) -> Tensor:
    """Find where each path diverged, hold it at its last good point, and return
    ``diverged_at`` ``(K, B)`` (-1: never). ``screen``: each path's ``(K, 2, B)`` coordinate-wise
    minimum and maximum over all steps (NaN if it ever was NaN) and ``(K, B)`` sum of losses.

    θ_s is bad if f(θ_s) is non-finite (a NaN or inf position makes it so; an inf gradient at
    θ_{s−1} makes θ_s so) or θ_s is ``ESCAPE`` window widths from the window's centre. A path
    that diverged at step s keeps θ_0 … θ_{s−1}; later entries repeat θ_{s−1}.
    ``Trajectories`` holds the losses, gradients and state it derives in the same way.
    """
    x_min, x_max, y_min, y_max = surface.bounds
    reach = ESCAPE * max(x_max - x_min, y_max - y_min)
    low = torch.tensor([[(x_min + x_max) / 2 - reach], [(y_min + y_max) / 2 - reach]])  # (2, 1)
    high = low + 2 * reach

    def first_bad(k: int, suspects: Tensor) -> Tensor:
        """(B,) the first bad step of each of run k's series, or -1. Scans forward a chunk of
        steps at a time and stops once every suspect is placed: paths blow up early."""
        found = torch.full(suspects.shape, -1)
        for begin in range(0, paths.shape[0], 64):
            rows = slice(begin, begin + 64)
            chunk = paths[rows, k]  # (64, 2, B)
            inside = ((chunk >= low) & (chunk <= high)).all(1)  # (64, B)
            values = surface.evaluate(
                chunk[:, 0], chunk[:, 1], _next_steps(begin, len(chunk))[:, 0]
            )
            finite = values.abs() < math.inf  # NaN compares False
            bad = ~(inside & finite)
            found = torch.where(bad.any(0) & (found < 0), begin + bad.byte().argmax(0), found)
            if not (suspects & (found < 0)).any():
                break
        return found

    # With 4096 starts the recording is hundreds of megabytes, so every pass over it counts: the
    # screen picks the series to look at closely; only their runs are searched and rewritten.
    lowest, highest, total = screen
    suspect = ~torch.isfinite(total) | ~((lowest >= low) & (highest <= high)).all(1)  # (K, B)
    diverged_at = torch.full(suspect.shape, -1)  # (K, B)
    for k in suspect.any(-1).nonzero().flatten().tolist():
        diverged_at[k] = first_bad(k, suspect[k])
        horizon = torch.where(diverged_at[k] >= 0, diverged_at[k], paths.shape[0])  # (B,)
        _hold(paths[:, k], (horizon - 1).clamp(min=0))  # θ_0 is finite: the start was checked
    return diverged_at


def _hold(values: Tensor, last: Tensor) -> None:
    """In place: entry ``last[i]`` of each series ``values[:, i]`` is repeated after it.

    ``values`` is ``(N, …)``, a series per index into its trailing dimensions, and ``last``
    broadcasts against those (e.g. ``(B,)`` against ``(N, 2, B)``); where ``last`` is negative
    nothing was valid and the series becomes 0.
    """
    n = values.shape[0]
    last = last.expand(values.shape[1:])
    after = torch.arange(n).view(n, *[1] * last.dim()) > last  # (N, …)
    held = values.gather(0, last.clamp(0, n - 1)[None])  # (1, …)
    held = torch.where(last >= 0, held, 0.0)
    torch.where(after, held, values, out=values)


def _next_steps(begin: int, rows: int) -> Tensor:
    """``(rows, 1, 1)`` the steps t = begin + 1 … begin + rows whose f_t a time-varying loss
    takes at θ_begin … (θ_i is judged by f_{i+1}, the loss of the step it starts)."""
    return torch.arange(begin + 1, begin + rows + 1, dtype=torch.float64).view(rows, 1, 1)


def _check_schedules(schedules: Sequence[Schedule | None] | None, runs: int) -> tuple:
    """One validated ``(key, parameters)`` per run (constant where None)."""
    if schedules is None:
        return (CONSTANT,) * runs
    if len(schedules) != runs:
        raise ValueError(f"{len(schedules)} schedules for {runs} runs: give one per run")
    checked = []
    for schedule in schedules:
        spec, params = check_schedule(schedule)
        checked.append((spec.key, params))
    return tuple(checked)


def _check_box(box: Box | None, starts: np.ndarray) -> Box | None:
    if box is None:
        return None
    try:
        x_min, x_max, y_min, y_max = (float(b) for b in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be (x_min, x_max, y_min, y_max), not {box!r}") from None
    if (
        not (x_min <= x_max and y_min <= y_max)
        or not np.isfinite([x_min, x_max, y_min, y_max]).all()
    ):
        raise ValueError(f"box needs finite x_min ≤ x_max and y_min ≤ y_max, got {box!r}")
    inside = (starts >= [x_min, y_min]) & (starts <= [x_max, y_max])
    if not inside.all():
        raise ValueError(f"start points must lie in the box {box!r}")
    return x_min, x_max, y_min, y_max


def _resolve_surface(surface: str | Surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; choose one of {', '.join(SURFACES)}")
    return SURFACES[surface]


def _check_starts(start: Sequence[float] | np.ndarray) -> np.ndarray:
    try:
        starts = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"start must be (x, y) or an array of shape (B, 2), not {start!r}"
        ) from None
    if starts.shape == (2,):
        starts = starts[None]
    if starts.ndim != 2 or starts.shape[1] != 2 or starts.shape[0] == 0:
        raise ValueError(
            f"start must be (x, y) or an array of shape (B, 2), not shape {starts.shape}"
        )
    if not np.isfinite(starts).all():
        raise ValueError("start points must be finite numbers")
    if starts.shape[0] > MAX_STARTS:
        raise ValueError(f"at most {MAX_STARTS} start points at once, got {starts.shape[0]}")
    return starts


def _check_sizes(runs: int, starts: int, steps: int) -> None:
    if runs == 0:
        raise ValueError("choose at least one optimizer")
    if runs > MAX_RUNS:
        raise ValueError(f"at most {MAX_RUNS} optimizers race at once, got {runs}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise ValueError(f"steps must be a whole number, not {steps!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if runs * starts * steps > MAX_POINTS:
        raise ValueError(
            f"{runs} optimizers × {starts} starts × {steps} steps is too much work; "
            f"keep the product under {MAX_POINTS:,}"
        )


def _check_run(run: Run, starts: int) -> tuple[Any, dict[str, Any]]:
    """Validate one (key, hyperparameters) pair; sweeps become ``(B, 1)`` tensors."""
    try:
        key, hparams = run
    except (TypeError, ValueError):
        raise ValueError(
            f"each run must be (optimizer_key, hyperparameters), not {run!r}"
        ) from None
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {key!r}; choose one of {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[key]
    known = {hp.name: hp for hp in spec.hyperparams}
    checked: dict[str, Any] = {}
    for name, value in dict(hparams).items():
        if name not in known:
            raise ValueError(f"{spec.label} has no hyperparameter {name!r}")
        if np.ndim(value) == 0 or known[name].scale == "bool":
            checked[name] = known[name].validate(value.item() if hasattr(value, "item") else value)
            continue
        values = np.asarray(value, dtype=np.float64).reshape(-1)
        if values.size != starts:
            raise ValueError(f"{name} has {values.size} values for {starts} start points")
        for v in values:
            known[name].validate(float(v))
        checked[name] = torch.as_tensor(values)[None]  # (1, B) broadcasts against (2, B)
    return spec, checked
