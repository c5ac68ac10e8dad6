"""Sweeps in the real SQLite store, and on a real local Ray with the app's collector: a run is
keyed by its full configuration, starting a sweep again keeps what finished and queues only what
is missing or failed, the progress counts and ETA come from the runs, a killed worker fails only
its run and a retry queues just that one."""

from __future__ import annotations

import csv
import io
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from optviz.training.cluster import Collector, submit_group
from optviz.training.config import MAX_ACTIVE_RUNS
from optviz.training.data import Mnist
from optviz.training.loop import Metric
from optviz.training.store import Run, RunStore, TooManyActiveRuns
from optviz.training.sweeps import (
    MAX_SWEEP_ACTIVE_RUNS,
    SweepPlan,
    config_key,
    progress,
    start_sweep,
    started_message,
    sweep_csv,
    sweep_curves,
    sweep_key,
    sweep_progress,
)
from training.support import LONG, QUICK, wait_until

MakeCollector = Callable[..., Collector]


def plan(*lrs: float, experiment: str = "test", base=QUICK) -> SweepPlan:
    runs = tuple((f"Adam α={lr:g}", replace(base, hyperparams={"lr": lr})) for lr in lrs)
    return SweepPlan(experiment, "quick", "a test sweep", runs)


def statuses(store: RunStore, sweep: SweepPlan) -> dict[str, str]:
    group = store.sweep_group(sweep.key)
    assert group is not None
    return {run.label: run.status for run in store.latest_runs(group.id)}


def test_a_run_key_is_its_full_configuration_whatever_its_spelling() -> None:
    adam = replace(QUICK, optimizer="adam", hyperparams={})
    spelled_out = replace(adam, hyperparams={"lr": 0.001, "beta1": 0.9, "beta2": 0.999})
    as_int = replace(QUICK, optimizer="sgd", hyperparams={"lr": 1})
    as_float = replace(QUICK, optimizer="sgd", hyperparams={"lr": 1.0})
    assert config_key(adam) == config_key(spelled_out)  # defaults filled in
    assert config_key(as_int) == config_key(as_float)
    assert config_key(replace(QUICK, schedule="cosine")) == config_key(
        replace(QUICK, schedule="cosine", schedule_params={"T_max": 300})
    )
    different = [
        replace(adam, hyperparams={"lr": 0.002}),
        replace(adam, seed=1),
        replace(adam, dropout=0.5),
        replace(adam, epochs=2),
        replace(adam, schedule="inv_sqrt"),
    ]
    keys = {config_key(adam), *map(config_key, different)}
    assert len(keys) == 1 + len(different)
    assert config_key(adam) == config_key(replace(adam))  # stable: no ids, no times


def test_a_sweep_key_names_its_experiment_preset_and_configurations_in_any_order() -> None:
    sweep = plan(0.001, 0.01)
    assert sweep.key == plan(0.001, 0.01).key
    reordered = SweepPlan("test", "quick", "other words", tuple(reversed(sweep.runs)))
    assert reordered.key == sweep.key
    configs = [c for _, c in sweep.runs]
    assert sweep_key("other", "quick", configs) != sweep.key
    assert sweep_key("test", "full", configs) != sweep.key
    assert plan(0.001, 0.02).key != sweep.key


def test_starting_a_sweep_again_keeps_finished_runs_and_queues_missing_or_failed_ones(
    tmp_path: Path, small_mnist: Mnist
) -> None:
    store = RunStore(tmp_path / "runs.db")
    sweep = plan(0.001, 0.003, 0.01, 0.03)
    first = start_sweep(store, small_mnist, sweep)
    assert first.created and len(first.queued) == 4 and not first.kept
    assert started_message(sweep, first) == "Sweep started: 4 run(s) queued."

    again = start_sweep(store, small_mnist, sweep)  # a reload, a second tab: nothing new
    assert not again.created and again.group_id == first.group_id
    assert not again.queued and again.kept == first.queued
    assert started_message(sweep, again).startswith("Nothing to queue")

    # The collector's writes: one done, one diverged, one failed, one cancelled.
    ids = [first.queued[k] for k in sweep.config_keys()]
    for run_id, final in zip(ids, ("done", "diverged", "failed", "cancelled"), strict=True):
        store.mark_running(run_id, device="cpu", node_id="n", node_ip="127.0.0.1", pid=1)
        store.finish(run_id, final)
    resumed = start_sweep(store, small_mnist, sweep)
    assert sorted(resumed.kept.values()) == ids[:2]  # results are kept, diverged included
    assert set(resumed.queued) == set(sweep.config_keys()[2:])  # the failed and the cancelled
    assert started_message(sweep, resumed) == (
        "Sweep resumed: 2 run(s) kept, 2 queued (missing or failed before)."
    )
    assert statuses(store, sweep) == {
        "Adam α=0.001": "done",
        "Adam α=0.003": "diverged",
        "Adam α=0.01": "queued",
        "Adam α=0.03": "queued",
    }
    assert len(store.runs(group_ids=[first.group_id])) == 6  # the failed attempts stay, as history

    # A sweep that grew (one more α) reuses nothing of another key: it is another sweep.
    grown = start_sweep(store, small_mnist, plan(0.001, 0.003, 0.01, 0.03, 0.1))
    assert grown.created and len(grown.queued) == 5


def test_sweeps_have_their_own_cap_and_do_not_count_against_live_mnist(
    tmp_path: Path, small_mnist: Mnist
) -> None:
    store = RunStore(tmp_path / "runs.db")
    lrs = [1e-4 * (1 + i) for i in range(MAX_SWEEP_ACTIVE_RUNS)]
    assert MAX_SWEEP_ACTIVE_RUNS > MAX_ACTIVE_RUNS
    start_sweep(store, small_mnist, plan(*lrs[: MAX_SWEEP_ACTIVE_RUNS - 1]))
    # The Live page still starts a race: its cap counts only Live MNIST groups.
    submit_group(store, small_mnist, [("Adam", QUICK)], "live")
    with pytest.raises(TooManyActiveRuns, match=f"at most {MAX_SWEEP_ACTIVE_RUNS} may be"):
        start_sweep(store, small_mnist, plan(0.5, 0.6, experiment="another"))
    assert store.sweep_group(plan(0.5, 0.6, experiment="another").key) is None  # nothing written


def test_a_bad_plan_is_refused_with_the_reason(tmp_path: Path, small_mnist: Mnist) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(ValueError, match="same configuration twice"):
        start_sweep(store, small_mnist, plan(0.001, 0.001))
    with pytest.raises(ValueError, match="Epochs must be between 1 and 50"):
        start_sweep(store, small_mnist, plan(0.001, base=replace(QUICK, epochs=99)))
    assert store.groups() == []


def _run(key: str, status: str, started: float | None, finished: float | None, it: int = 0) -> Run:
    return Run(
        1, 1, "adam", key, QUICK, status, False, None, None, None, None, None, it, 100, None,
        None, 0.0, started, finished, config_key=key,
    )  # fmt: skip


def test_progress_counts_each_configuration_by_its_latest_run_and_estimates_what_is_left() -> None:
    runs = [
        _run("a", "done", 0.0, 10.0),
        _run("b", "diverged", 0.0, 30.0),  # mean duration of results: 20 s
        _run("c", "running", 90.0, None, it=25),  # 10 s for a quarter: 30 s left
        _run("d", "running", 95.0, None),  # no step yet: the mean less its 5 s, 15 s
        _run("e", "queued", None, None),  # 20 s
        _run("f", "failed", 0.0, 1.0),
        _run("x", "done", 0.0, 1.0),  # not in this plan
    ]
    got = progress(runs, ["a", "b", "c", "d", "e", "f", "g"], now=100.0)
    assert (got.total, got.done, got.running, got.queued, got.failed, got.missing) == (
        7, 2, 2, 1, 1, 1,
    )  # fmt: skip
    assert got.to_queue == 2 and got.active
    assert got.eta_s == pytest.approx((30 + 15 + 20) / 2)
    assert got.summary() == (
        "2 of 7 done · 2 running · 1 queued · 1 failed · 1 not started · about 0:32 left"
    )
    fresh = progress([], ["a", "b"], now=0.0)
    assert (fresh.missing, fresh.eta_s, fresh.active) == (2, None, False)
    untimed = progress([_run("a", "running", 0.0, None)], ["a"], now=5.0)
    assert untimed.eta_s is None  # nothing finished yet to time a run by


def test_the_csv_holds_every_point_of_every_run_with_its_settings(
    tmp_path: Path, small_mnist: Mnist
) -> None:
    store = RunStore(tmp_path / "runs.db")
    sweep = plan(0.001, 0.01)
    opened = start_sweep(store, small_mnist, sweep)
    first, second = opened.queued.values()
    store.add_metrics(first, [Metric("train", 5, 0.25, 1.5), Metric("test", 5, 0.25, 1.4, 0.6)])
    store.add_metrics(second, [Metric("train", 5, 0.25, 1.2)])
    rows = list(csv.DictReader(io.StringIO(sweep_csv(store, sweep))))
    assert [(r["run"], r["kind"], r["loss"]) for r in rows] == [
        (str(first), "train", "1.5"),
        (str(first), "test", "1.4"),
        (str(second), "train", "1.2"),
    ]
    assert {r["hyperparams"] for r in rows} == {'{"lr": 0.001}', '{"lr": 0.01}'}
    assert rows[0]["config_key"] == config_key(sweep.runs[0][1]) and rows[0]["sweep"] == sweep.key
    assert rows[0]["train_subset"] == str(QUICK.train_subset) and rows[1]["accuracy"] == "0.6"
    curves = sweep_curves(store, sweep)
    assert [(c.run_id, list(c.losses)) for c in curves] == [(first, [1.5]), (second, [1.2])]


@pytest.mark.ray
def test_a_sweep_trains_on_ray_resumes_for_free_and_a_killed_worker_fails_only_its_run(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector(max_concurrent_runs=2)
    store = collector.store
    long = replace(LONG, epochs=8)  # ~500 MLP steps: still training when it is killed
    sweep = SweepPlan(
        "test",
        "quick",
        "a test sweep",
        (
            ("slow", long),
            *((f"Adam α={lr:g}", replace(QUICK, hyperparams={"lr": lr})) for lr in (1e-3, 1e-2)),
        ),
    )
    start_sweep(store, small_mnist, sweep)
    victim = wait_until(
        lambda: next(
            (r for r in store.runs() if r.label == "slow" and r.iteration > 0 and r.pid), None
        )
    )
    assert victim.pid != os.getpid()  # type: ignore[union-attr]
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[union-attr]

    def settled() -> dict[str, str] | None:
        now = statuses(store, sweep)
        return None if {"queued", "running"} & set(now.values()) else now

    assert wait_until(settled, timeout=120) == {
        "slow": "failed",
        "Adam α=0.001": "done",
        "Adam α=0.01": "done",
    }
    killed = store.run(victim.id)  # type: ignore[union-attr]
    assert killed is not None and "worker process died" in (killed.error or "")
    now = sweep_progress(store, sweep)
    assert (now.done, now.failed, now.to_queue, now.active) == (2, 1, 1, False)
    finished_ids = {r.id for r in store.runs() if r.status == "done"}
    points = {i: len(store.metrics([i])) for i in finished_ids}

    # Retry: only the failed configuration is queued again; the finished runs are untouched.
    retry = start_sweep(store, small_mnist, sweep)
    assert not retry.created and list(retry.queued) == [config_key(long)]
    assert set(retry.kept.values()) == finished_ids
    (again,) = retry.queued.values()
    assert wait_until(lambda: (r := store.run(again)) and not r.active and r, timeout=180)
    assert statuses(store, sweep)["slow"] == "done"
    assert {i: len(store.metrics([i])) for i in finished_ids} == points
    assert sweep_progress(store, sweep).done == 3
