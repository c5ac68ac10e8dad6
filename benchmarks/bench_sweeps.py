"""Sweep speed on Ray, as ratios measured in one run (absolute times drift on shared machines).

1. Throughput: the same sweep of ``--runs`` logistic regressions (Fig. 1's quick run: 2 epochs
   on 10 000 images, α/√t; 24 runs by default, between Figs. 1 and 4's quick sweeps: with fewer,
   a sweep's fixed costs, such as putting MNIST in Ray's object store, hide the rate) on a
   loopback cluster of one one-CPU node, then of two; the app's
   collector joins each through RAY_ADDRESS with as many concurrent runs as the cluster has CPUs
   and warm workers. Printed: the one-node time over the two-node time. Goal: ≥ 1.7×.
2. Overhead per run: the one-node sweep's time per run against the same runs trained one after
   the other in this process by ``optviz.training.loop.train`` on one thread. Goal: ≤ 10 % of a
   quick run's time.

Run: ``python benchmarks/bench_sweeps.py [--runs N]``. Starts and stops its own Ray nodes
(127.0.0.2, 127.0.0.3); needs no other Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from training.ray_cluster import loopback_cluster  # noqa: E402
from training.sweep_driver import plan  # noqa: E402

from optviz.training.data import load_mnist  # noqa: E402
from optviz.training.loop import train  # noqa: E402

NODES = ("127.0.0.2", "127.0.0.3")
TRAIN_SUBSET, EPOCHS = 10_000, 2
THROUGHPUT_GOAL, OVERHEAD_GOAL = 1.7, 0.10


def in_process(runs: int, data_dir: Path) -> float:
    """Seconds to train the sweep's runs one after the other here, on one thread."""
    torch.set_num_threads(1)
    data = load_mnist(data_dir, download=False)
    sweep = plan(runs, TRAIN_SUBSET, EPOCHS)
    start = time.perf_counter()
    for _, config in sweep.runs:
        result = train(config, data, lambda metric: None)
        assert result.status == "done", result.error
    return time.perf_counter() - start


def on_ray(nodes: int, runs: int, data_dir: Path, work: Path) -> float:
    """Seconds from Start to the last run stored, for a sweep on ``nodes`` one-CPU nodes."""
    with loopback_cluster([(ip, 0) for ip in NODES[:nodes]]) as address:
        env = {
            **os.environ,
            "RAY_ADDRESS": address,
            "OPTVIZ_RAY_NODE_IP": NODES[0],
            "RAY_AUTH_MODE": "disabled",
            "OPTVIZ_DB": str(work / f"runs-{nodes}.db"),
            "OPTVIZ_DATA_DIR": str(data_dir),
            "OPTVIZ_MNIST_DOWNLOAD": "0",
            "OPTVIZ_MAX_CONCURRENT_RUNS": str(nodes),  # one run per CPU of the cluster
            "PYTHONPATH": str(ROOT),
        }
        command = [
            sys.executable, str(ROOT / "tests" / "training" / "sweep_driver.py"),
            "--runs", str(runs), "--nodes", str(nodes), "--train-subset", str(TRAIN_SUBSET),
            "--epochs", str(EPOCHS), "--warm",
        ]  # fmt: skip
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if out.returncode:
            raise RuntimeError(out.stdout + out.stderr[-3000:])
        return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        data_dir = work / "no-idx-files"  # MNIST from the installed package, as the app loads it
        data_dir.mkdir()
        here = in_process(args.runs, data_dir)
        one = on_ray(1, args.runs, data_dir, work)
        two = on_ray(2, args.runs, data_dir, work)
    per_run = here / args.runs
    overhead = (one / args.runs - per_run) / per_run
    print(f"{args.runs} runs of logistic regression, {EPOCHS} epochs on {TRAIN_SUBSET:,} images")
    print(f"in this process, one after the other: {here:.1f} s ({per_run:.2f} s a run)")
    print(f"sweep on one one-CPU node:  {one:.1f} s")
    print(f"sweep on two one-CPU nodes: {two:.1f} s")
    print(f"throughput, two nodes / one: {one / two:.2f}x (goal >= {THROUGHPUT_GOAL}x)")
    print(
        f"overhead per run on Ray: {overhead:+.0%} of a quick run's time "
        f"(goal <= {OVERHEAD_GOAL:.0%})"
    )


if __name__ == "__main__":
    main()
