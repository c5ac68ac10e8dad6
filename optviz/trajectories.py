"""The trajectory engine: race optimizers from many start points on a surface, in one pass.

``simulate`` drives the real ``optviz.optim`` classes, the same code that trains MNIST, but
arranges the work so that per-step Python overhead is paid once, not once per optimizer and start:

* all positions live in one tensor ``X`` of shape ``(K, B, 2)`` (K runs, B starts); each
  optimizer's parameter is the view ``X[k]``, so its in-place update writes straight into ``X``;
* one autograd call per step evaluates f and ∇f at all K·B points; each optimizer's ``.grad`` is
  the view ``G[k]`` of one gradient buffer;
* recording a step is a handful of whole-tensor copies, and divergence is found afterwards,
  vectorized, instead of being tested every step.

Every path that turns non-finite, or escapes far beyond the plot window, is frozen at its last good
point and reported in ``diverged_at``: nothing non-finite leaves the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

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

    X = torch.as_tensor(starts).expand(K, B, 2).clone()  # (K, B, 2) positions, all runs
    G = torch.zeros_like(X)  # (K, B, 2) gradients; G[k] is run k's .grad
    optimizers = []
    for k, (spec, hparams) in enumerate(specs_and_hparams):
        theta = X[k]  # (B, 2) a view: the optimizer's in-place update writes into X
        theta.grad = G[k]
        optimizers.append((spec.build([theta], hparams), theta))

    paths = torch.empty(steps + 1, K, B, 2, dtype=torch.float64)
    losses = torch.empty(steps + 1, K, B, dtype=torch.float64)
    grads = torch.empty(steps, K, B, 2, dtype=torch.float64)
    noise = torch.empty(B, 2, dtype=torch.float64)  # (B, 2) shared by all runs
    generator = torch.Generator().manual_seed(seed)
    ones = torch.ones(K, B, dtype=torch.float64)  # ∂(f_1, …, f_KB)/∂f: seeds the backward pass

    with _one_thread():
        for t in range(steps):  # the hot loop: whole-tensor ops only
            paths[t] = X
            with torch.enable_grad():
                # x and y as separate leaves, and no .sum(): the smallest graph for autograd,
                # whose per-node cost dominates a step on tensors this small.
                x = X[..., 0].detach().requires_grad_()  # (K, B)
                y = X[..., 1].detach().requires_grad_()  # (K, B)
                loss = surface.fn(x, y)  # (K, B) one evaluation for all K·B points
                grad_x, grad_y = torch.autograd.grad(loss, (x, y), ones)
            losses[t] = loss.detach()
            torch.stack((grad_x, grad_y), dim=-1, out=G)  # (K, B, 2)
            if surface.noise > 0:
                torch.randn(B, 2, generator=generator, dtype=torch.float64, out=noise)
                G.add_(noise, alpha=surface.noise)
            grads[t] = G
            # inference_mode, not no_grad: it also skips version counting and view tracking,
            # a third of the cost of an update on tensors this small.
            with torch.inference_mode():
                for optimizer, _ in optimizers:
                    optimizer.update_all()
            if t == 0:  # the optimizers' state exists now
                sources, state, history = _state_recorder(optimizers, steps)
            if sources:
                torch.stack(sources, out=history[t])  # every optimizer's state, one copy
        paths[steps] = X
        with torch.no_grad():
            losses[steps] = surface.f(X)

    return _freeze_divergent(surface, tuple(runs), paths, losses, grads, state)


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
    ``(T, B, 2)`` views into the history, and the ``(T, S, B, 2)`` history itself.
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
        state[k][name] = history[:, i]  # (T, B, 2)
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
    centre = torch.tensor([(x_min + x_max) / 2, (y_min + y_max) / 2], dtype=torch.float64)
    reach = ESCAPE * max(x_max - x_min, y_max - y_min)
    bad = ~torch.isfinite(losses)  # (T+1, K, B)
    bad |= ~((paths - centre).abs() <= reach).all(-1)  # NaN compares False: bad too
    first_bad = bad.to(torch.uint8).argmax(0)  # (K, B) first True (0 if none)
    diverged_at = torch.where(bad.any(0), first_bad, -1)  # (K, B)
    if (diverged_at >= 0).any():
        horizon = torch.where(diverged_at >= 0, diverged_at, paths.shape[0])  # (K, B)
        _hold(paths, (horizon - 1).clamp(min=0))  # θ_0 is finite: the start was checked
        _hold(losses, horizon - 1)
        _hold(grads, horizon - 2)
        for k, s in enumerate(state):
            for values in s.values():
                _hold(values, horizon[k] - 2)
    for s in state:  # state may overflow without moving θ (v → inf makes m/√v = 0)
        for values in s.values():
            values.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
    return Trajectories(
        surface=surface,
        runs=runs,
        paths=paths.permute(1, 2, 0, 3).numpy(),  # (K, B, T+1, 2)
        losses=losses.permute(1, 2, 0).numpy(),  # (K, B, T+1)
        grads=grads.permute(1, 2, 0, 3).numpy(),  # (K, B, T, 2)
        state=tuple({name: v.permute(1, 0, 2).numpy() for name, v in s.items()} for s in state),
        diverged_at=diverged_at.numpy(),
    )


def _hold(values: torch.Tensor, last: torch.Tensor) -> None:
    """In place: entries of ``values`` after index ``last`` along dim 0 repeat the one at ``last``.

    ``values`` is ``(N, *lead, *rest)`` and ``last`` is ``(*lead)``; where ``last`` is negative
    nothing was valid and the whole series becomes 0.
    """
    n, lead = values.shape[0], last.shape
    rest = values.dim() - 1 - len(lead)
    last = last.view(1, *lead, *[1] * rest)  # (1, *lead, 1…)
    after = torch.arange(n).view(n, *[1] * (values.dim() - 1)) > last  # (N, *lead, 1…)
    held = torch.take_along_dim(values, last.clamp(0, n - 1), dim=0)  # (1, *lead, *rest)
    held = torch.where(last >= 0, held, 0.0)
    values.copy_(torch.where(after, held, values))


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
        checked[name] = torch.as_tensor(values)[:, None]  # (B, 1) broadcasts against (B, 2)
    return spec, checked
