"""Driver for the multi-node sweep test and ``benchmarks/bench_sweeps.py``: the app's collector
joins a Ray cluster through RAY_ADDRESS (with ``--warm``, warms its workers first, as the Live
page does), starts a sweep of ``--runs`` logistic regressions (α differs) and waits for it to
finish.

A separate process because one Python process holds one Ray connection. Prints one JSON line:
the sweep key, the node IDs by IP, the cluster description and the sweep's wall time from Start
to its last run stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import ray

from optviz.training.cluster import close_collectors, ensure_ray, get_collector
from optviz.training.config import TrainConfig
from optviz.training.data import load_mnist
from optviz.training.sweeps import SweepPlan, start_sweep, sweep_progress


def plan(runs: int, train_subset: int, epochs: int) -> SweepPlan:
    configs = tuple(
        (
            f"Adam α={lr:g}",
            TrainConfig(
                model="logreg",
                hyperparams={"lr": lr},
                epochs=epochs,
                train_subset=train_subset,
                test_subset=500,
                schedule="inv_sqrt",
            ),
        )
        for lr in (0.01 * (1 + i) for i in range(runs))
    )
    return SweepPlan("driver", "test", "a sweep across nodes", configs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--warm", action="store_true", help="start the clock on warm workers")
    args = parser.parse_args()
    ensure_ray()
    deadline = time.monotonic() + 60
    while sum(node["Alive"] for node in ray.nodes()) < args.nodes:  # still registering
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"fewer than {args.nodes} nodes: {ray.nodes()}"}))
            return 1
        time.sleep(0.2)
    collector = get_collector()
    if args.warm:  # OPTVIZ_MAX_CONCURRENT_RUNS must fit the cluster: every worker must start
        collector.warm_up()
        deadline = time.monotonic() + 120
        while collector.state.progress or not collector.warm_workers:
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"workers did not start: {collector.state}"}))
                return 1
            time.sleep(0.1)
    data = load_mnist()
    sweep = plan(args.runs, min(args.train_subset, len(data.train_labels)), args.epochs)
    started = time.monotonic()
    start_sweep(collector.store, data, sweep)
    deadline = started + 600
    while sweep_progress(collector.store, sweep).active and time.monotonic() < deadline:
        time.sleep(0.05)
    seconds = time.monotonic() - started
    nodes = {node["NodeManagerAddress"]: node["NodeID"] for node in ray.nodes() if node["Alive"]}
    report = {"sweep": sweep.key, "nodes": nodes, "ray": collector.state.ray, "seconds": seconds}
    print(json.dumps(report))
    close_collectors()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
