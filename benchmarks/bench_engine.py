"""Trajectory-engine speed, as ratios measured in one run (absolute times drift on shared machines).

1. Every registered optimizer (14) × 500 steps from one start: ``simulate`` vs the naive
   baseline, one ``torch.optim`` instance per optimizer with autograd every step (Lion, which
   torch.optim lacks, is optviz's class driven the same way). Goal: ≥ 10× faster.
2. 4096 starts × every optimizer × 500 steps vs 1 start: goal ≤ 10× the time (vectorized, not a
   Python loop over starts).
3. A learning-rate schedule on every run (cosine) vs the same race at constant α, one start:
   goal ≤ 1.10× the time (α_t is precomputed and stored in the param group each step, as
   torch's schedulers do). Printed in wall time and in this process's CPU time, which other
   processes on a busy machine do not inflate (the race runs on one thread).
4. Not a goal, shown so the trade stays visible: what reading every derived series afterwards
   (losses, gradients, optimizer state, which the race does not record) costs, against the race.
5. Not a goal, shown because the engine's design rests on it: what one evaluation of f and ∇f
   costs at the race's size, by autograd, by replaying its make_fx recording as is, and by the
   trimmed replay the engine runs.

Each measurement is repeated, interleaved with the one it is compared to, and the median ratio
printed. Run: ``python benchmarks/bench_engine.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optviz import trajectories
from optviz.optim import OPTIMIZERS, Lion
from optviz.surfaces import SURFACES
from optviz.trajectories import simulate

STEPS = 500
SURFACE = SURFACES["rosenbrock"]
# α = 0.02 keeps every path on the valley floor but two: AdaDelta has no α to speak of, and
# RAdam's first five steps are plain momentum steps α·m̂, which leave the plot at 0.02.
SPECIAL = {"adadelta": {}, "radam": {"lr": 5e-4}}
RUNS = [(key, SPECIAL.get(key, {"lr": 0.02})) for key in OPTIMIZERS]
TORCH_TWINS = {
    "sgd": torch.optim.SGD,
    "momentum": functools.partial(torch.optim.SGD, momentum=0.9),
    "nesterov": functools.partial(torch.optim.SGD, momentum=0.9, nesterov=True),
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
    "adamw": torch.optim.AdamW,
    "amsgrad": functools.partial(torch.optim.Adam, amsgrad=True),
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "adafactor": torch.optim.Adafactor,
    "lion": Lion,  # no torch.optim twin; optviz's is a torch.optim.Optimizer all the same
}


def naive_baseline() -> None:
    """What one would write first: each optimizer on its own, autograd every step, recording
    the path and the loss a plot needs (the engine records those and more)."""
    for key, hparams in RUNS:
        # One point, a vector in ℝ² (as in the engine: Adafactor's norms are per point).
        theta = torch.tensor(SURFACE.start, dtype=torch.float64, requires_grad=True)
        optimizer = TORCH_TWINS[key]([theta], **hparams)
        path, losses = [], []
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = SURFACE.f(theta).sum()
            loss.backward()
            optimizer.step()
            path.append(theta.detach().clone())
            losses.append(loss.item())


def engine(starts: np.ndarray, schedules=None) -> None:
    simulate(SURFACE, RUNS, starts, STEPS, schedules=schedules)


def derive_all(starts: np.ndarray) -> float:
    """Seconds to derive every series of a finished race (the race itself not counted)."""
    result = simulate(SURFACE, RUNS, starts, STEPS)
    return seconds(lambda: (result.losses, result.grads, result.state))


def gradient_call_costs(repeats: int, calls: int = 2000) -> dict[str, tuple[float, int]]:
    """Way → (median µs per call, ops per call) of f and ∇f at K runs × 1 start, the three ways
    of ``trajectories._value_and_grad``'s story; each repeat times the three in turn."""
    shape = (len(RUNS), 1)
    x, y = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    outs = torch.empty(3, *shape, dtype=torch.float64).unbind()
    recorded = trajectories._record(SURFACE.fn, shape)
    trimmed = trajectories._value_and_grad(SURFACE.fn, shape)

    def autograd() -> None:
        for _ in range(calls):
            trajectories._autograd(SURFACE.fn, x, y)

    def recording() -> None:
        with torch.inference_mode():
            for _ in range(calls):
                for out, result in zip(outs, recorded(x, y), strict=True):
                    out.copy_(result)

    def trimmed_replay() -> None:
        with torch.inference_mode():
            for _ in range(calls):
                trimmed(x, y, *outs)

    def ops(program) -> int:
        return sum(node.op in ("call_function", "call_method") for node in program.graph.nodes)

    ways = {"autograd": autograd, "recording": recording, "trimmed": trimmed_replay}
    times: dict[str, list[float]] = {name: [] for name in ways}
    with trajectories._one_thread():  # as in the race
        for way in ways.values():  # warm-up
            way()
        for _ in range(repeats):
            for name, way in ways.items():
                times[name].append(seconds(way) / calls * 1e6)
    counts = {"autograd": ops(recorded), "recording": ops(recorded)}
    counts["trimmed"] = ops(trimmed.__self__) if hasattr(trimmed, "__self__") else ops(recorded)
    return {name: (statistics.median(times[name]), counts[name]) for name in ways}


def seconds(fn, clock=time.perf_counter) -> float:
    begin = clock()
    fn()
    return clock() - begin


def median_ratio(slow, fast, repeats: int, clock=time.perf_counter) -> tuple[float, float, float]:
    """Median of slow/fast over interleaved repeats, and the median times (by ``clock``)."""
    slow(), fast()  # warm-up: imports, allocator, first-call paths
    pairs = [(seconds(slow, clock), seconds(fast, clock)) for _ in range(repeats)]
    ratios = [s / f for s, f in pairs]
    return (
        statistics.median(ratios),
        statistics.median(s for s, _ in pairs),
        statistics.median(f for _, f in pairs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    one = np.array([SURFACE.start])
    many = np.random.default_rng(0).uniform(-2, 2, size=(4096, 2))

    ratio, naive_s, engine_s = median_ratio(naive_baseline, lambda: engine(one), repeats)
    print(
        f"engine vs naive torch.optim loop, {len(RUNS)} optimizers × {STEPS} steps: "
        f"{ratio:.1f}× faster (goal ≥ 10×)   [median {naive_s * 1e3:.0f} ms vs "
        f"{engine_s * 1e3:.0f} ms]"
    )
    ratio, many_s, one_s = median_ratio(lambda: engine(many), lambda: engine(one), repeats)
    print(
        f"4096 starts vs 1 start, {len(RUNS)} optimizers × {STEPS} steps: {ratio:.1f}× the time "
        f"(goal ≤ 10×)   [median {many_s * 1e3:.0f} ms vs {one_s * 1e3:.0f} ms]"
    )
    cosine = [("cosine", {"T_max": STEPS})] * len(RUNS)
    for clock, name in ((time.perf_counter, "wall"), (time.process_time, "CPU")):
        ratio, scheduled_s, constant_s = median_ratio(
            lambda: engine(one, cosine), lambda: engine(one), repeats, clock
        )
        print(
            f"schedules cost ≤ 10 % of a race: cosine on all {len(RUNS)} runs vs constant α, "
            f"{STEPS} steps: {ratio:.2f}× the {name} time (goal ≤ 1.10×)   [median "
            f"{scheduled_s * 1e3:.0f} ms vs {constant_s * 1e3:.0f} ms]"
        )
    for starts, race_s in ((one, one_s), (many, many_s)):
        derive_s = statistics.median(derive_all(starts) for _ in range(repeats))
        print(
            f"deriving losses, gradients and state afterwards, {len(starts)} start(s): "
            f"{derive_s / race_s:.1f}× the race (not a goal)   [median {derive_s * 1e3:.0f} ms]"
        )
    costs = gradient_call_costs(repeats)
    print(
        f"one f and ∇f call, {len(RUNS)} runs × 1 start (not a goal): "
        + ", ".join(f"{name} {us:.0f} µs ({n} ops)" for name, (us, n) in costs.items())
    )


if __name__ == "__main__":
    main()
