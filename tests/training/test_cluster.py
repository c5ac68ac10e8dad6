"""Runs on a real local Ray, recorded in a real SQLite store by the app's collector: metrics
stream in while a run trains, cancel works in every state, divergence and a killed worker are
recorded, and the history outlives the collector."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable

import pytest
import ray

from optviz.training.cluster import Collector, available_cpus, submit_group
from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.store import RunStore
from training.support import LONG, QUICK, wait_until

pytestmark = pytest.mark.ray

MakeCollector = Callable[..., Collector]


def submit(collector: Collector, data: Mnist, *configs: TrainConfig) -> list[int]:
    labelled = [(config.optimizer, config) for config in configs]
    return submit_group(collector.store, data, labelled, "test")[1]


def status(store: RunStore, run_id: int) -> str:
    run = store.run(run_id)
    assert run is not None
    return run.status


def finished(store: RunStore, run_id: int) -> str:
    """The run's final status, once it has one (the status the wait saw, not a second read)."""
    final = wait_until(lambda: (now := status(store, run_id)) not in ("queued", "running") and now)
    return str(final)


def test_a_run_streams_metrics_while_it_trains_and_finishes_done(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    config = TrainConfig(**{**LONG.to_dict(), "epochs": 6, "eval_every": 20})
    (run_id,) = submit(collector, small_mnist, config)
    store = collector.store

    counts_while_running: set[int] = set()

    def done() -> bool:
        count = len(store.metrics([run_id]))  # read before the status: if that still says
        run = store.run(run_id)  # running, these points all arrived while it trained
        assert run is not None
        if run.status == "running":
            counts_while_running.add(count)
        return not run.active

    wait_until(done, timeout=120)
    run = store.run(run_id)
    assert run is not None and run.status == "done", run.error
    assert len(counts_while_running - {0}) >= 2, "points should arrive while the run trains"
    assert run.iteration == run.total_iterations and run.progress == 1.0
    assert run.device == "cpu" and run.node_ip == "127.0.0.1" and run.node_id and run.pid
    assert run.best_accuracy and run.best_accuracy > 0.5
    points = store.metrics([run_id])
    assert {p.kind for p in points} == {"train", "test"}
    assert all(p.stored_at >= p.emitted_at - 1.0 for p in points)


def test_a_run_cancelled_while_queued_never_starts(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector(max_concurrent_runs=1)
    first, second = submit(collector, small_mnist, LONG, QUICK)
    store = collector.store
    wait_until(lambda: status(store, first) == "running")
    assert status(store, second) == "queued"  # only one run at a time

    assert "cancelled before it started" in store.request_cancel(second)
    store.request_cancel(first)
    assert finished(store, first) == "cancelled"
    run = store.run(second)
    assert run is not None and run.status == "cancelled" and run.pid is None
    assert store.metrics([second]) == []


def test_a_running_run_stops_when_cancelled(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    (run_id,) = submit(collector, small_mnist, LONG)
    store = collector.store
    wait_until(lambda: store.run(run_id).iteration > 0)  # type: ignore[union-attr]

    assert "will stop after its current batch" in store.request_cancel(run_id)
    assert finished(store, run_id) == "cancelled"
    run = store.run(run_id)
    assert run is not None and 0 < run.iteration < run.total_iterations
    # The store says "cancelled" as soon as the worker reports it; the collector lets go of the
    # run on its next tick.
    wait_until(lambda: collector.live_runs == 0)


def test_cancelling_a_finished_run_changes_nothing(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    (run_id,) = submit(collector, small_mnist, QUICK)
    assert finished(collector.store, run_id) == "done"
    message = collector.store.request_cancel(run_id)
    assert "already finished (done); nothing to cancel" in message
    assert status(collector.store, run_id) == "done"


def test_a_huge_learning_rate_ends_diverged(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    config = TrainConfig(
        **{**QUICK.to_dict(), "model": "mlp", "optimizer": "sgd", "hyperparams": {"lr": 10.0}}
    )
    (run_id,) = submit(collector, small_mnist, config)
    assert finished(collector.store, run_id) == "diverged"
    run = collector.store.run(run_id)
    assert run is not None and "non-finite" in (run.error or "")


def test_a_killed_worker_fails_its_run_and_the_next_run_still_succeeds(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    store = collector.store
    (victim,) = submit(collector, small_mnist, LONG)
    training = wait_until(lambda: (run := store.run(victim)) and run.iteration > 0 and run)
    pid = training.pid  # type: ignore[union-attr]
    assert pid and pid != os.getpid()

    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: status(store, victim) == "failed", timeout=30)
    run = store.run(victim)
    assert run is not None and "worker process died" in (run.error or "")

    (survivor,) = submit(collector, small_mnist, QUICK)
    assert finished(store, survivor) == "done"


def test_history_survives_the_collector_and_a_restart_fails_orphans(
    make_collector: MakeCollector, small_mnist: Mnist, tmp_path
) -> None:
    collector = make_collector()
    (done_run,) = submit(collector, small_mnist, QUICK)
    assert finished(collector.store, done_run) == "done"
    points = len(collector.store.metrics([done_run]))
    collector.close()

    # An app process that dies leaves a run queued; the next one marks it failed on start-up.
    (orphan,) = submit_group(RunStore(tmp_path / "runs.db"), small_mnist, [("x", QUICK)], "x")[1]
    restarted = make_collector()
    assert status(restarted.store, orphan) == "failed"
    assert "app restarted" in (restarted.store.run(orphan).error or "")  # type: ignore[union-attr]
    assert status(restarted.store, done_run) == "done"
    assert len(restarted.store.metrics([done_run])) == points


def test_a_finished_run_leaves_its_worker_warm_for_the_next_run(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    (first,) = submit(collector, small_mnist, QUICK)
    assert finished(collector.store, first) == "done"
    (second,) = submit(collector, small_mnist, QUICK)
    assert finished(collector.store, second) == "done"
    pids = {collector.store.run(i).pid for i in (first, second)}  # type: ignore[union-attr]
    assert len(pids) == 1, "the second run should reuse the first run's worker process"


def test_warm_up_prepares_one_worker_per_concurrent_run(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector(max_concurrent_runs=2)
    collector.warm_up()
    wait_until(lambda: collector.warm_workers == 2)
    first, second = submit(collector, small_mnist, QUICK, QUICK)
    assert {finished(collector.store, i) for i in (first, second)} == {"done"}
    # The collector records a run as done, then hands its worker back: wait for the hand-back.
    wait_until(lambda: collector.warm_workers == 2)


def test_a_local_ray_sees_the_real_cpus_and_concurrent_runs_share_them(
    make_collector: MakeCollector,
) -> None:
    # Ray is told the CPUs this process may use, not a count inflated to fit the runs.
    assert ray.cluster_resources()["CPU"] == available_cpus()
    collector = make_collector(max_concurrent_runs=4)
    per_run = collector.settings.cpus_per_run()
    assert per_run == available_cpus() / 4  # fractional: all four still fit at once
    collector.warm_up()
    progress: list[str | None] = []

    def all_ready() -> bool:
        progress.append(collector.state.progress)
        return collector.state.workers == collector.state.workers_ready == 4

    wait_until(all_ready, timeout=120)
    # While they started, the page had something to say; once they are up, nothing.
    assert any(p and p.startswith("Starting workers…") for p in progress), progress
    assert collector.state.progress is None
    threads = {ray.get(worker.actor.ready.remote())["torch_threads"] for worker in collector._idle}
    assert threads == {max(1, math.floor(per_run))}


def test_one_run_at_a_time_gets_every_cpu_as_torch_threads(make_collector: MakeCollector) -> None:
    collector = make_collector(max_concurrent_runs=1)
    assert collector.settings.torch_threads() == available_cpus()
    collector.warm_up()
    wait_until(lambda: collector.state.workers == collector.state.workers_ready == 1)
    (worker,) = collector._idle
    assert ray.get(worker.actor.ready.remote())["torch_threads"] == available_cpus()


FIRST_POINT_WITHIN_S = 3.0


def test_a_warm_worker_stores_the_first_point_within_3_s_of_start(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector(max_concurrent_runs=1)
    collector.warm_up()
    wait_until(lambda: collector.state.workers == collector.state.workers_ready == 1)
    config = TrainConfig(**{**LONG.to_dict(), "model": "cnn"})  # the slowest to evaluate
    (run_id,) = submit(collector, small_mnist, config)
    store = collector.store
    first = wait_until(lambda: store.metrics([run_id])[:1])
    run = store.run(run_id)
    assert run is not None
    seen_after_s = first[0].stored_at - run.created_at  # type: ignore[index]
    store.request_cancel(run_id)
    assert finished(store, run_id) == "cancelled"
    assert seen_after_s <= FIRST_POINT_WITHIN_S, f"first point stored {seen_after_s:.1f} s after"


def test_the_startup_note_never_lapses_between_ray_and_its_workers(tmp_path, monkeypatch) -> None:
    """The page's note goes from "Starting Ray…" straight to "Starting workers…": the collector
    says Ray is up only once it has asked for the workers (here Ray is faked: what is under test
    is the order of the collector's state changes; data is loaded per run, at launch)."""
    from optviz.training import cluster

    collector = Collector(RunStore(tmp_path / "runs.db"))
    seen = []

    def tend_pool() -> None:  # Ray is up; the pool asks for two workers
        seen.append(collector.state.progress)
        collector.state.workers = 2
        seen.append(collector.state.progress)

    monkeypatch.setattr(cluster, "ensure_ray", lambda settings: "Ray local: faked")
    monkeypatch.setattr(cluster.ray, "put", lambda value: "data")
    monkeypatch.setattr(collector, "_tend_pool", tend_pool)
    assert collector._connect([])
    seen.append(collector.state.progress)
    # Never None (nothing starting) on the way: the page would drop its note for that moment.
    assert seen == ["Starting Ray…", "Starting Ray…", "Starting workers… 0 of 2 ready"]
