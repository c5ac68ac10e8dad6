"""The SQLite run history: it survives re-opening, statuses only move forward, cancels say what
they did, the cap on active runs holds even when two tabs press Start at once, and a new app
process fails the runs a dead one left behind."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from optviz.training.config import MAX_ACTIVE_RUNS
from optviz.training.loop import Metric
from optviz.training.store import ACTIVE, NewRun, RunStore, TooManyActiveRuns
from training.support import QUICK


def make_group(store: RunStore, n: int = 2, **kwargs: Any) -> tuple[int, list[int]]:
    runs = [NewRun(f"Adam (seed {i})", QUICK, 20) for i in range(n)]
    return store.create_group("logreg", "test group", "IDX files", runs, **kwargs)


def test_history_survives_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = RunStore(path)
    group_id, (run_id, _) = make_group(store)
    store.mark_running(run_id, device="cpu", node_id="n1", node_ip="127.0.0.2", pid=42)
    store.add_metrics(run_id, [Metric("test", 0, 0.0, 2.3, accuracy=0.1)])
    store.add_metrics(run_id, [Metric("train", 5, 0.25, 1.5, samples_per_s=900.0)])
    store.finish(run_id, "done")

    reopened = RunStore(path)
    run = reopened.run(run_id)
    assert run is not None
    assert (run.status, run.device, run.node_ip, run.pid) == ("done", "cpu", "127.0.0.2", 42)
    assert run.config == QUICK
    assert (run.iteration, run.samples_per_s, run.best_accuracy) == (5, 900.0, 0.1)
    assert [m.kind for m in reopened.metrics([run_id])] == ["test", "train"]
    assert [g.id for g in reopened.groups()] == [group_id]


def test_the_store_uses_write_ahead_logging(tmp_path: Path) -> None:
    RunStore(tmp_path / "runs.db")
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_finished_run_is_never_reopened(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, (run_id, _) = make_group(store)
    assert store.finish(run_id, "diverged", "loss became nan")
    assert not store.finish(run_id, "done")
    assert not store.mark_running(run_id, device="cpu", node_id="n", node_ip="ip", pid=1)
    run = store.run(run_id)
    assert run is not None and (run.status, run.error) == ("diverged", "loss became nan")


def test_cancel_says_what_it_did_in_each_state(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, (queued, running) = make_group(store)
    store.mark_running(running, device="cpu", node_id="n", node_ip="ip", pid=1)

    assert "cancelled before it started" in store.request_cancel(queued)
    assert store.run(queued).status == "cancelled"  # type: ignore[union-attr]
    assert "will stop after its current batch" in store.request_cancel(running)
    run = store.run(running)
    assert run is not None and run.status == "running" and run.cancel_requested
    assert "already finished (cancelled); nothing to cancel" in store.request_cancel(queued)
    assert "no run #999" in store.request_cancel(999)


def test_cancelling_a_group_counts_the_runs_it_stopped(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    # A label is free text; this one would fool a count that reads the messages.
    runs = [NewRun(label, QUICK, 20) for label in ("nothing to cancel", "running", "done")]
    group_id, (queued, running, done) = store.create_group("logreg", "g", "IDX files", runs)
    store.mark_running(running, device="cpu", node_id="n", node_ip="ip", pid=1)
    store.finish(done, "done")

    assert store.cancel_group(group_id) == f"Cancelling 2 run(s) of group #{group_id}."
    assert [store.run(i).status for i in (queued, running, done)] == [  # type: ignore[union-attr]
        "cancelled",
        "running",  # until its worker stops after the current batch
        "done",
    ]
    assert store.run(running).cancel_requested  # type: ignore[union-attr]
    store.finish(running, "cancelled")
    assert "had already finished; nothing to cancel" in store.cancel_group(group_id)
    assert store.cancel_group(999) == "Group #999 has no runs."


def test_start_is_refused_when_it_would_exceed_the_cap_and_writes_nothing(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, first = make_group(store, 2, max_active=3)
    with pytest.raises(TooManyActiveRuns, match="2 runs are already queued or running; at most 3"):
        make_group(store, 2, max_active=3)
    assert len(store.groups()) == 1 and len(store.runs()) == 2

    for run_id in first:  # finished runs leave room
        store.finish(run_id, "done")
    make_group(store, 2, max_active=3)
    assert len(store.runs(statuses=ACTIVE)) == 2


def test_the_default_cap_is_the_apps(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(TooManyActiveRuns, match=f"at most {MAX_ACTIVE_RUNS} may be"):
        make_group(store, MAX_ACTIVE_RUNS + 1)
    make_group(store, MAX_ACTIVE_RUNS)
    assert len(store.runs(statuses=ACTIVE)) == MAX_ACTIVE_RUNS


def test_two_tabs_pressing_start_at_once_never_exceed_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads, each with its own store on one file, each asking for 2 runs under a cap of 3.

    SQLite's trace hook holds each tab just before its first INSERT until the other tab has
    counted too (reached its own INSERT) or is about to wait for the write lock (``BEGIN
    IMMEDIATE``): the interleaving in which a count outside the insert's lock lets both in.
    """
    path = tmp_path / "runs.db"
    tabs = {name: RunStore(path) for name in ("left", "right")}
    arrived = {name: threading.Event() for name in tabs}
    stuck: list[str] = []
    connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        me = threading.current_thread().name
        if me in tabs:
            (other,) = set(tabs) - {me}

            def trace(sql: str) -> None:
                if sql.startswith(("BEGIN IMMEDIATE", "INSERT")):
                    arrived[me].set()
                if sql.startswith("INSERT") and not arrived[other].wait(timeout=60):
                    stuck.append(me)  # bounds a hung test; never reached when the store is right

            db.set_trace_callback(trace)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    outcomes: dict[str, object] = {}

    def press_start(name: str) -> None:
        try:
            outcomes[name] = make_group(tabs[name], 2, max_active=3)
        except Exception as error:  # the test inspects what each tab got
            outcomes[name] = error

    threads = [threading.Thread(target=press_start, args=(name,), name=name) for name in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stuck == []
    refused = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], TooManyActiveRuns)
    assert "2 runs are already queued or running; at most 3" in str(refused[0])
    assert len(RunStore(path).runs(statuses=ACTIVE)) == 2


def test_a_new_app_process_fails_the_runs_a_dead_one_left(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, (queued, running) = make_group(store)
    store.mark_running(running, device="cpu", node_id="n", node_ip="ip", pid=1)
    assert store.fail_active("app restarted") == 2
    assert {store.run(i).status for i in (queued, running)} == {"failed"}  # type: ignore[union-attr]


def test_metrics_download_as_csv_with_one_row_per_point(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    group_id, (run_id, _) = make_group(store)
    store.add_metrics(
        run_id, [Metric("test", 0, 0.0, 2.3, accuracy=0.1), Metric("train", 5, 0.25, 1.5)]
    )
    rows = list(csv.DictReader(io.StringIO(store.metrics_csv([group_id]))))
    assert [(r["kind"], r["iteration"], r["accuracy"]) for r in rows] == [
        ("test", "0", "0.1"),
        ("train", "5", ""),
    ]
    assert rows[0]["optimizer"] == "adam" and rows[0]["group"] == str(group_id)


def test_metrics_since_returns_only_the_points_written_after_an_id(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, (first, second) = make_group(store)
    _, (other, _) = make_group(store)
    store.add_metrics(first, [Metric("train", i, 0.0, 2.0 - 0.1 * i) for i in (5, 10)])
    store.add_metrics(second, [Metric("train", 5, 0.0, 1.9)])
    seen = store.metrics_since([first, second], 0)
    assert [(m.run_id, m.iteration) for m in seen] == [(first, 5), (first, 10), (second, 5)]
    assert seen == store.metrics([first, second])
    last = max(m.id for m in seen)
    assert store.metrics_since([first, second], last) == []

    store.add_metrics(second, [Metric("train", 10, 0.0, 1.7)])
    store.add_metrics(other, [Metric("train", 5, 0.0, 1.0)])  # not asked for
    store.add_metrics(first, [Metric("test", 10, 0.0, 1.5, accuracy=0.6)])
    new = store.metrics_since([first, second], last)
    assert [(m.run_id, m.kind, m.iteration) for m in new] == [
        (first, "test", 10),
        (second, "train", 10),
    ]
    assert min(m.id for m in new) > last
    everything = {(m.run_id, m.kind, m.iteration) for m in store.metrics([first, second])}
    assert everything == {(m.run_id, m.kind, m.iteration) for m in [*seen, *new]}
