"""Landscapes speed and memory, as ratios measured in one run (absolute times drift on shared
machines). The baseline is one race: the Adam paper's eight optimizers × 500 steps from one
start on Rosenbrock, as the explorer runs it.

1. A 32 × 32 β1 × β2 map of Adam, 500 steps, one start: goal ≤ 3× one race, and ≥ 50× faster
   than the naive way, a ``torch.optim.Adam`` run per cell with autograd every step (timed on
   ``NAIVE_CELLS`` cells and scaled to 1024: each cell costs the same).
2. α sensitivity, 8 optimizers × 41 α × 4 starts × 500 steps: goal ≤ 3× one race.
3. A 64 × 64 basin map × 4 optimizers × 500 steps: goal ≤ 15× one race.
4. Not timed: each computation's peak memory, in a fresh process (peak resident set size
   minus that of the process after its imports and a warm-up race).

Each timing is repeated, interleaved with the race, and the median ratio printed. Run:
``python benchmarks/bench_landscapes.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine import median_ratio

from optviz import landscapes
from optviz.optim import OPTIMIZERS
from optviz.surfaces import SURFACES
from optviz.trajectories import simulate

STEPS = 500
SURFACE = SURFACES["rosenbrock"]
PAPER = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax"]
BASIN_OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]
NAIVE_CELLS = 32  # cells the naive loop is timed on (a row of the map)
LR = 0.01


def race() -> None:
    simulate(SURFACE, [(key, {}) for key in PAPER], SURFACE.start, STEPS)


def beta_map(starts: int = 1) -> None:
    landscapes.hyper_map(
        SURFACE,
        "adam",
        ("beta1", "beta2"),
        SURFACE.start,
        STEPS,
        hparams={"lr": LR},
        starts=starts,
    )


def naive_map(cells: int = NAIVE_CELLS) -> None:
    """What one would write first: a torch.optim.Adam per cell, autograd every step, recording
    the loss each cell's metric needs."""
    grid = landscapes.MAP_CELLS
    adam = OPTIMIZERS["adam"]
    beta1, beta2 = adam.hp("beta1").dense(grid), adam.hp("beta2").dense(grid)
    for cell in range(cells):
        theta = torch.tensor(SURFACE.start, dtype=torch.float64, requires_grad=True)
        betas = (beta1[cell % grid], beta2[cell // grid])
        optimizer = torch.optim.Adam([theta], lr=LR, betas=betas)
        losses = []
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = SURFACE.f(theta).sum()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())


def sensitivity() -> None:
    landscapes.alpha_sensitivity(SURFACE, PAPER, SURFACE.start, STEPS, alphas=41, starts=4)


def basins() -> None:
    landscapes.basins(SURFACES["himmelblau"], BASIN_OPTIMIZERS, STEPS, cells=64)


COMPUTATIONS = {
    "race": race,
    "map": beta_map,
    "sensitivity": sensitivity,
    "basins": basins,
    "tune": lambda: landscapes.tune_all(SURFACE, PAPER, SURFACE.start, STEPS, starts=4),
}


def peak_mb() -> float:
    """This process's peak resident set size (VmHWM; getrusage's ru_maxrss would start from
    the parent's size at fork, which exec does not reset)."""
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
        / 1024
    )


def measure_memory(name: str) -> None:
    """Child mode: the peak memory ``name`` adds over a warmed-up process, in MB."""
    race()
    before = peak_mb()
    COMPUTATIONS[name]()
    print(f"{peak_mb() - before:.0f}")


def memory(name: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", name], capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", choices=COMPUTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        measure_memory(args.memory)
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    ratio, map_s, race_s = median_ratio(beta_map, race, args.repeats)
    print(
        f"32 × 32 β1 × β2 map of Adam, {STEPS} steps, 1 start: {ratio:.1f}× one race "
        f"(goal ≤ 3×)   [median {map_s * 1e3:.0f} ms vs {race_s * 1e3:.0f} ms]"
    )
    # Interleaved with the map too: NAIVE_CELLS cells of the loop against the whole map.
    ratio, naive_s, map_s = median_ratio(naive_map, beta_map, max(1, args.repeats // 2))
    scale = landscapes.MAP_CELLS**2 / NAIVE_CELLS
    print(
        f"the same map vs a torch.optim.Adam loop over its cells: {ratio * scale:.0f}× faster "
        f"(goal ≥ 50×)   [{naive_s * scale:.1f} s for 1024 cells, from {NAIVE_CELLS}]"
    )
    ratio, four_s, race_s = median_ratio(lambda: beta_map(4), race, args.repeats)
    print(
        f"the same map from 4 starts (the page's default): {ratio:.1f}× one race (not a goal)   "
        f"[median {four_s * 1e3:.0f} ms]"
    )
    ratio, sens_s, race_s = median_ratio(sensitivity, race, args.repeats)
    print(
        f"α sensitivity, 8 optimizers × 41 α × 4 starts × {STEPS} steps: {ratio:.1f}× one race "
        f"(goal ≤ 3×)   [median {sens_s * 1e3:.0f} ms vs {race_s * 1e3:.0f} ms]"
    )
    ratio, basin_s, race_s = median_ratio(basins, race, args.repeats)
    print(
        f"64 × 64 basin map × 4 optimizers × {STEPS} steps: {ratio:.1f}× one race "
        f"(goal ≤ 15×)   [median {basin_s * 1e3:.0f} ms vs {race_s * 1e3:.0f} ms]"
    )
    ratio, tune_s, race_s = median_ratio(COMPUTATIONS["tune"], race, args.repeats)
    print(
        f"Tune all, 8 optimizers × their grids × 4 starts × {STEPS} steps: {ratio:.1f}× one race "
        f"(not a goal)   [median {tune_s * 1e3:.0f} ms]"
    )
    peaks = {name: memory(name) for name in COMPUTATIONS if name != "race"}
    print(
        "peak memory over a warmed-up process: "
        + ", ".join(f"{n} {mb:.0f} MB" for n, mb in peaks.items())
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
