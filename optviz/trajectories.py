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
* recording a step is a handful of whole-tensor copies, and divergence is found afterwards,
  vectorized, instead of being tested every step.

Every path that turns non-finite, or escapes far beyond the plot window, is frozen at its last good
point and reported in ``diverged_at``: nothing non-finite leaves the engine.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
import threading
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
from optviz.surfaces import SURFACES, Surface

MAX_STEPS = 5000  # a race longer than this shows nothing new and costs seconds per rerun
MAX_STARTS = 4096  # the benchmark's sweep size; more is a different tool
MAX_RUNS = 16  # optimizers (or configurations) racing at once; more is unreadable on one plot
MAX_POINTS = 40_000_000  # K·B·steps: keeps the recorded arrays (≈ 80 B a point) in a few GB
ESCAPE = 100.0  # a path this many plot-window widths from the window's centre has diverged

Run = tuple[str, Mapping[str, Any]]

# Friendly names of optimizer state, in the docstrings' notation.
STATE_SYMBOLS = {
    "momentum_buffer": "b",
    "sum": "G",
    "square_avg": "v",
    "acc_delta": "u",
    "grad_avg": "ḡ",
    "exp_avg": "m",
    "exp_avg_sq": "v",
    "exp_inf": "u",
}


@dataclass(frozen=True, eq=False)
class Trajectories:
    """What ``simulate`` recorded. Step t runs from 1 to T; index 0 of ``paths`` is the start.

    Attributes:
        surface: the surface raced on (with its noise level).
        runs: ``(optimizer_key, hyperparameters)`` per run, as given.
        paths: ``(K, B, T + 1, 2)`` positions θ_0 … θ_T.
        losses: ``(K, B, T + 1)`` noiseless f(θ_t).
        grads: ``(K, B, T, 2)`` the gradient g_t each optimizer saw at step t (noise included).
        updates: ``(K, B, T, 2)`` the update Δ_t = θ_t − θ_{t−1}.
        state: per run, optimizer state key (``exp_avg`` …) → ``(B, T, 2)`` after step t.
        diverged_at: ``(K, B)`` the step at which the path went non-finite or escaped, or -1.
    """

    surface: Surface
    runs: tuple[Run, ...]
    paths: np.ndarray
    losses: np.ndarray
    grads: np.ndarray
    state: tuple[dict[str, np.ndarray], ...]
    diverged_at: np.ndarray

    @cached_property
    def updates(self) -> np.ndarray:
        """``(K, B, T, 2)`` the update Δ_t = θ_t − θ_{t−1} (0 after a divergence)."""
        return np.diff(self.paths, axis=2)

    @property
    def steps(self) -> int:
        return self.grads.shape[2]

    def hyperparameters(self, k: int) -> dict[str, Any]:
        """Run k's hyperparameters with the registry defaults filled in."""
        key, hparams = self.runs[k]
        return OPTIMIZERS[key].defaults() | dict(hparams)

    def moments(self, k: int, b: int = 0) -> dict[str, np.ndarray]:
        """Run k's state for start b as ``symbol → (T, 2)``, with Adam's bias-corrected m̂, v̂.

        For Adam (with bias correction) and AdaMax, m̂_t = m_t/(1 − β1^t); for Adam v̂_t =
        v_t/(1 − β2^t): the quantities whose ratio sets the step (paper §2.1).
        """
        key = self.runs[k][0]
        hparams = self.hyperparameters(k)
        t = np.arange(1, self.steps + 1)[:, None]  # (T, 1)
        out = {STATE_SYMBOLS.get(name, name): values[b] for name, values in self.state[k].items()}
        corrected = key == "adamax" or (key == "adam" and hparams["bias_correction"])
        if corrected:
            beta1 = np.asarray(hparams["beta1"], dtype=float).reshape(-1)
            out["m̂"] = out.pop("m") / (1 - beta1[b % beta1.size] ** t)
        if corrected and key == "adam":
            beta2 = np.asarray(hparams["beta2"], dtype=float).reshape(-1)
            out["v̂"] = out.pop("v") / (1 - beta2[b % beta2.size] ** t)
        return out

    def divergence_note(self, k: int, b: int = 0) -> str | None:
        """A sentence for the UI, e.g. "RMSprop diverged at step 37", or None."""
        step = int(self.diverged_at[k, b])
        label = OPTIMIZERS[self.runs[k][0]].label
        if step < 0:
            return None
        if step == 0:
            return f"{label} cannot start: f or its gradient is not finite at the start point"
        return f"{label} diverged at step {step}"


def simulate(
    surface: str | Surface,
    runs: Sequence[Run],
    start: Sequence[float] | np.ndarray,
    steps: int,
    *,
    seed: int = 0,
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

    Raises:
        ValueError: unknown names, invalid hyperparameters, or sizes beyond the work caps.
    """
    surface = _resolve_surface(surface)
    starts = _check_starts(start)  # (B, 2)
    K, B = len(runs), starts.shape[0]
    _check_sizes(K, B, steps)
    specs_and_hparams = [_check_run(run, B) for run in runs]

    X = torch.as_tensor(starts.T).expand(K, 2, B).clone()  # (K, 2, B) positions, all runs
    G = torch.zeros_like(X)  # (K, 2, B) gradients; G[k] is run k's .grad
    optimizers = []
    for k, (spec, hparams) in enumerate(specs_and_hparams):
        theta = X[k]  # (2, B) a view: the optimizer's in-place update writes into X
        theta.grad = G[k]
        optimizers.append((spec.build([theta], hparams), theta))

    paths = torch.empty(steps + 1, K, 2, B, dtype=torch.float64)
    losses = torch.empty(steps + 1, K, B, dtype=torch.float64)
    grads = torch.empty(steps, K, 2, B, dtype=torch.float64)
    noise = torch.empty(B, 2, dtype=torch.float64)  # (B, 2) shared by all runs
    generator = torch.Generator().manual_seed(seed)
    value_and_grad = _value_and_grad(surface.fn, (K, B))

    # inference_mode: no autograd bookkeeping (version counters, view tracking) on any op.
    with _one_thread(), torch.inference_mode():
        for t in range(steps):  # the hot loop: whole-tensor ops only
            paths[t] = X
            losses[t], grad_x, grad_y = value_and_grad(X[:, 0], X[:, 1])  # (K, B) each
            torch.stack((grad_x, grad_y), dim=1, out=G)  # (K, 2, B)
            if surface.noise > 0:
                torch.randn(B, 2, generator=generator, dtype=torch.float64, out=noise)
                G.add_(noise.T, alpha=surface.noise)
            grads[t] = G
            for optimizer, _ in optimizers:
                optimizer.update_all()
            if t == 0:  # the optimizers' state exists now
                sources, state, history = _state_recorder(optimizers, steps)
            if sources:
                torch.stack(sources, out=history[t])  # every optimizer's state, one copy
        paths[steps] = X
        losses[steps] = surface.fn(X[:, 0], X[:, 1])
        return _freeze_divergent(surface, tuple(runs), paths, losses, grads, state)


_trace_lock = threading.Lock()

# Recorded aten ops replayed as Python operators, the quickest way into torch's dispatcher
# (about 5 µs a call here, against 7 µs for torch.mul and 8 µs for aten.mul.Tensor). Not **:
# Tensor.__pow__ is a Python wrapper, slower than torch.pow.
_OPERATORS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "neg": operator.neg,
}


@functools.lru_cache(maxsize=64)
def _value_and_grad(
    fn: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...]
) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
    """``(x, y) → (f, ∂f/∂x, ∂f/∂y)`` for inputs of ``shape``: autograd's gradient, recorded.

    On tensors this small a backward pass is nearly all autograd-engine overhead (here ≈ 90 µs
    per call plus ≈ 20 µs per node, against ≈ 5 µs for an op itself). So f is differentiated by
    autograd once, under ``make_fx``, which records every op of the forward and backward pass,
    and each step replays the recording (``_streamline`` trims it). Recordings are cached per
    surface function and shape.
    """

    def value_and_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        with torch.enable_grad():
            x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
            value = fn(x, y)
            # A formula in x alone has ∂f/∂y = 0: allow_unused + materialize_grads give that.
            grad_x, grad_y = torch.autograd.grad(
                value, (x, y), torch.ones_like(value), allow_unused=True, materialize_grads=True
            )
        return value.detach(), grad_x, grad_y

    # Distinct tensors: the tracer tells inputs apart by identity.
    x, y = torch.ones(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)
    with _trace_lock:  # tracing swaps process-wide dispatch state
        recorded = make_fx(value_and_grad)(x, y)
    return _streamline(recorded, shape)


def _streamline(
    recorded: torch.fx.GraphModule, shape: tuple[int, ...]
) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
    """The recording with its no-ops dropped and its ops called the quick way, checked to
    compute the very same bits as the recording.

    No-ops: ``detach`` (nothing to detach from outside autograd), ``pow(a, 1)`` (the chain rule
    of a square) and ``mul(ones, a)`` (the backward pass's seed). Binary arithmetic becomes
    Python operators, the other aten ops torch's function of the same name.
    """
    program = copy.deepcopy(recorded)
    graph = program.graph
    ones = {node for node in graph.nodes if node.target == torch.ops.aten.ones_like.default}
    for node in list(graph.nodes):
        packet = getattr(node.target, "overloadpacket", None)  # set on aten ops only
        if node.op != "call_function" or packet is None:
            continue
        name, args = packet.__name__, node.args
        same = _no_op_input(name, args, ones, shape)
        if same is not None:
            node.replace_all_uses_with(same)
            graph.erase_node(node)
        elif name in _OPERATORS and not node.kwargs:
            node.target = _OPERATORS[name]
        elif hasattr(torch, name):
            node.target = getattr(torch, name)
    graph.eliminate_dead_code()
    program.recompile()

    probe = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected, got = recorded(*probe), program(*probe)
    exact = all(
        torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)
        for a, b in zip(expected, got, strict=True)
    )
    # .forward: calling the module itself would run nn.Module's hook machinery every step.
    return (program if exact else recorded).forward


def _no_op_input(
    name: str, args: tuple, ones: set[torch.fx.Node], shape: tuple[int, ...]
) -> torch.fx.Node | None:
    """The input a recorded op returns unchanged, or None. ``ones`` are the all-ones tensors."""

    def full_size(arg: object) -> bool:  # a tensor of the inputs' shape, not one to broadcast
        value = getattr(arg, "meta", {}).get("val")
        return isinstance(value, Tensor) and tuple(value.shape) == shape

    if name == "detach" or (name == "pow" and isinstance(args[1], int | float) and args[1] == 1):
        return args[0]
    if name == "mul" and args[0] in ones and full_size(args[1]):
        return args[1]
    if name == "mul" and args[1] in ones and full_size(args[0]):
        return args[0]
    return None


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread while any simulation is running.

    The engine's tensors are small (K·B·2 elements); splitting each op across threads costs far
    more in synchronisation than it saves, and on a busy 2-core machine a thread barrier per op
    made a 16k-element sqrt 400× slower. Thread count is process-wide, hence the counter: the
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
    surface: Surface,
    runs: tuple[Run, ...],
    paths: torch.Tensor,
    losses: torch.Tensor,
    grads: torch.Tensor,
    state: list[dict[str, torch.Tensor]],
) -> Trajectories:
    """Find where each path diverged and hold its recorded series at their last good value.

    θ_s is bad if f(θ_s) is non-finite (a NaN or inf position makes it so; an inf gradient at
    θ_{s−1} makes θ_s so) or θ_s is ``ESCAPE`` window widths from the window's centre. A path
    that diverged at step s keeps θ_0 … θ_{s−1}, and the gradients and state of steps 1 … s − 1;
    later entries repeat the last good one (zeros if there is none).
    """
    x_min, x_max, y_min, y_max = surface.bounds
    reach = ESCAPE * max(x_max - x_min, y_max - y_min)
    low = torch.tensor([[(x_min + x_max) / 2 - reach], [(y_min + y_max) / 2 - reach]])  # (2, 1)
    high = low + 2 * reach

    def first_bad(k: int, suspects: torch.Tensor) -> torch.Tensor:
        """(B,) the first bad step of each of run k's series, or -1. Scans forward a chunk of
        steps at a time and stops once every suspect is placed: paths blow up early."""
        found = torch.full(suspects.shape, -1)
        for begin in range(0, paths.shape[0], 64):
            rows = slice(begin, begin + 64)
            inside = ((paths[rows, k] >= low) & (paths[rows, k] <= high)).all(1)  # (64, B)
            bad = ~(inside & (losses[rows, k].abs() < math.inf))  # NaN compares False: bad
            found = torch.where(bad.any(0) & (found < 0), begin + bad.byte().argmax(0), found)
            if not (suspects & (found < 0)).any():
                break
        return found

    # With 4096 starts the recording is a gigabyte, so every pass over it counts. A streaming
    # screen per series (a sum is non-finite if any term is; NaN propagates through amin/amax)
    # picks the series to look at closely; only their runs are searched and rewritten.
    suspect = ~torch.isfinite(losses.sum(0))  # (K, B)
    suspect |= ~((paths.amin(0) >= low) & (paths.amax(0) <= high)).all(1)
    diverged_at = torch.full(suspect.shape, -1)  # (K, B)
    for k in suspect.any(-1).nonzero().flatten().tolist():
        diverged_at[k] = first_bad(k, suspect[k])
        horizon = torch.where(diverged_at[k] >= 0, diverged_at[k], paths.shape[0])  # (B,)
        _hold(paths[:, k], (horizon - 1).clamp(min=0))  # θ_0 is finite: the start was checked
        _hold(losses[:, k], horizon - 1)
        _hold(grads[:, k], horizon - 2)
        for values in state[k].values():
            _hold(values, horizon - 2)
    for s in state:  # state may overflow without moving θ (v → inf makes m/√v = 0)
        for values in s.values():
            values.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
    return Trajectories(
        surface=surface,
        runs=runs,
        paths=paths.permute(1, 3, 0, 2).numpy(),  # (K, B, T+1, 2)
        losses=losses.permute(1, 2, 0).numpy(),  # (K, B, T+1)
        grads=grads.permute(1, 3, 0, 2).numpy(),  # (K, B, T, 2)
        state=tuple({name: v.permute(2, 0, 1).numpy() for name, v in s.items()} for s in state),
        diverged_at=diverged_at.numpy(),
    )


def _hold(values: torch.Tensor, last: torch.Tensor) -> None:
    """In place: entry ``last[b]`` of each series ``values[:, b]`` is repeated after it.

    ``values`` is ``(N, B)`` or ``(N, 2, B)`` and ``last`` is ``(B,)``; where ``last`` is
    negative nothing was valid and the series becomes 0.
    """
    n, lead = values.shape[0], [1] * (values.dim() - 2)
    after = (torch.arange(n)[:, None] > last).view(n, *lead, -1)  # (N, 1…, B)
    held = values.gather(0, last.clamp(0, n - 1).expand(1, *values.shape[1:]))  # (1, …, B)
    held = torch.where(last >= 0, held, 0.0)
    torch.where(after, held, values, out=values)


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
