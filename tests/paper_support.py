"""Train a sweep's queued runs in this process with the real loop on real MNIST, writing them
into the real store as the collector writes them (no Ray): for tests of what is computed from a
finished sweep (claims, the page's figure and table)."""

from __future__ import annotations

from optviz.training.data import Mnist
from optviz.training.loop import train
from optviz.training.store import RunStore
from optviz.training.sweeps import SweepPlan, start_sweep


def train_sweep_here(store: RunStore, data: Mnist, plan: SweepPlan, fail: int = 0) -> list[int]:
    """Start (or resume) ``plan`` and train every run it queued, one after the other; the last
    ``fail`` of them fail instead, as the run of a killed worker does."""
    opened = start_sweep(store, data, plan)
    configs = dict(zip(plan.config_keys(), (c for _, c in plan.runs), strict=True))
    queued = list(opened.queued.items())
    for position, (key, run_id) in enumerate(queued):
        store.mark_running(run_id, device="cpu", node_id="here", node_ip="127.0.0.1", pid=0)
        if position >= len(queued) - fail:
            store.finish(run_id, "failed", "the worker process died")
            continue
        points = []
        result = train(configs[key], data, points.append)
        store.add_metrics(run_id, points)
        store.finish(run_id, result.status, result.error)
    return list(opened.queued.values())
