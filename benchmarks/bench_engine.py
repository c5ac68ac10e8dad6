"""Trajectory-engine speed, as ratios measured in one run (absolute times drift on shared machines).

1. 8 optimizers × 500 steps from one start: ``simulate`` vs the naive baseline, one
   ``torch.optim`` instance per optimizer with autograd every step. Goal: ≥ 10× faster.
2. 4096 starts × 8 optimizers × 500 steps vs 1 start: goal ≤ 10× the time (vectorized, not a
   Python loop over starts).
3. Not a goal, shown so the trade stays visible: what reading every derived series afterwards
   (losses, gradients, optimizer state, which the race does not record) costs, against the race.

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

from optviz.optim import OPTIMIZERS
from optviz.surfaces import SURFACES
from optviz.trajectories import simulate

STEPS = 500
SURFACE = SURFACES["rosenbrock"]
RUNS = [(key, {"lr": 0.02} if key != "adadelta" else {}) for key in OPTIMIZERS]
TORCH_TWINS = {
    "sgd": torch.optim.SGD,
    "momentum": functools.partial(torch.optim.SGD, momentum=0.9),
    "nesterov": functools.partial(torch.optim.SGD, momentum=0.9, nesterov=True),
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
}


def naive_baseline() -> None:
    """What one would write first: each optimizer on its own, autograd every step, recording
    the path and the loss a plot needs (the engine records those and more)."""
    for key, hparams in RUNS:
        theta = torch.tensor([SURFACE.start], dtype=torch.float64, requires_grad=True)
        optimizer = TORCH_TWINS[key]([theta], **hparams)
        path, losses = [], []
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = SURFACE.f(theta).sum()
            loss.backward()
            optimizer.step()
            path.append(theta.detach().clone())
            losses.append(loss.item())


def engine(starts: np.ndarray) -> None:
    simulate(SURFACE, RUNS, starts, STEPS)


def derive_all(starts: np.ndarray) -> float:
    """Seconds to derive every series of a finished race (the race itself not counted)."""
    result = simulate(SURFACE, RUNS, starts, STEPS)
    return seconds(lambda: (result.losses, result.grads, result.state))


def seconds(fn) -> float:
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def median_ratio(slow, fast, repeats: int) -> tuple[float, float, float]:
    """Median of slow/fast over interleaved repeats, and the median times."""
    slow(), fast()  # warm-up: imports, allocator, first-call paths
    pairs = [(seconds(slow), seconds(fast)) for _ in range(repeats)]
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
        f"engine vs naive torch.optim loop, 8 optimizers × {STEPS} steps: "
        f"{ratio:.1f}× faster (goal ≥ 10×)   [median {naive_s * 1e3:.0f} ms vs "
        f"{engine_s * 1e3:.0f} ms]"
    )
    ratio, many_s, one_s = median_ratio(lambda: engine(many), lambda: engine(one), repeats)
    print(
        f"4096 starts vs 1 start, 8 optimizers × {STEPS} steps: {ratio:.1f}× the time "
        f"(goal ≤ 10×)   [median {many_s * 1e3:.0f} ms vs {one_s * 1e3:.0f} ms]"
    )
    for starts, race_s in ((one, one_s), (many, many_s)):
        derive_s = statistics.median(derive_all(starts) for _ in range(repeats))
        print(
            f"deriving losses, gradients and state afterwards, {len(starts)} start(s): "
            f"{derive_s / race_s:.1f}× the race (not a goal)   [median {derive_s * 1e3:.0f} ms]"
        )


if __name__ == "__main__":
    main()
