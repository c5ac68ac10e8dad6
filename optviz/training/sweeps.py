"""Sweeps: many runs of one experiment in the run store, resumable by their configurations.

A sweep is a group of kind "sweep" whose key is a hash of its experiment, its preset and its
runs' configurations (``sweep_key``); each run carries the key of its full configuration
(``config_key``: the canonical JSON of the ``TrainConfig`` with every default filled in).
Starting a sweep (``start_sweep``) finds its group by that key, keeps every run that finished with
a result or is still queued or running, and queues only the configurations that have no run yet
or whose latest run failed or was cancelled (a retry): restarting the app, reloading the page or
pressing Start again never trains a finished configuration twice. The collector
(``optviz.training.cluster``) hands the queued runs to Ray workers as it does a Live MNIST
group's, as many at once as it has capacity for; a killed worker fails its one run.

Nothing here imports Streamlit or Ray: the page calls these functions, the collector trains.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.store import NewRun, Run, RunStore, SweepOpened

# Queued + running runs of every sweep together (a Live MNIST race has its own cap,
# MAX_ACTIVE_RUNS). The largest paper preset queues 50 runs at once (Fig. 2's full grid), so
# two full sweeps and a few quick ones fit; the collector trains only as many at once as it has
# workers for, the rest wait in the store, which costs a row each.
MAX_SWEEP_ACTIVE_RUNS = 128
RESULT = ("done", "diverged")  # finished with a curve worth keeping
FAILED = ("failed", "cancelled")  # finished without one: a retry queues it again


def canonical_config(config: TrainConfig) -> dict[str, Any]:
    """The configuration as it trains: registry defaults filled in, numbers as floats.

    Two configs that train the same run (``{}`` and ``{"lr": 0.001}`` for Adam, ``lr=1`` and
    ``lr=1.0``) have the same canonical form, so the same ``config_key``.
    """
    values = config.to_dict()
    hyperparams: dict[str, Any] = dict(config.hyperparams)
    if config.optimizer in OPTIMIZERS:
        hyperparams = OPTIMIZERS[config.optimizer].defaults() | hyperparams
    schedule_params: dict[str, Any] = dict(config.schedule_params)
    if config.schedule in SCHEDULES:
        defaults = {p.name: p.default for p in SCHEDULES[config.schedule].params}
        schedule_params = defaults | schedule_params
    values["hyperparams"] = {k: _number(v) for k, v in sorted(hyperparams.items())}
    values["schedule_params"] = {k: _number(v) for k, v in sorted(schedule_params.items())}
    return values


def config_key(config: TrainConfig) -> str:
    """A stable key of a run's full configuration: SHA-256 of its canonical JSON."""
    return _hash(canonical_config(config))


def sweep_key(experiment: str, preset: str, configs: Sequence[TrainConfig]) -> str:
    """The key of a sweep: its experiment, preset and the keys of its runs' configurations."""
    return _hash(
        {"experiment": experiment, "preset": preset, "runs": sorted(map(config_key, configs))}
    )


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains: one run per ``(label, config)``, each configuration once."""

    experiment: str
    preset: str
    description: str
    runs: tuple[tuple[str, TrainConfig], ...]

    @property
    def key(self) -> str:
        return sweep_key(self.experiment, self.preset, [config for _, config in self.runs])

    @property
    def model(self) -> str:
        return self.runs[0][1].model

    def config_keys(self) -> list[str]:
        return [config_key(config) for _, config in self.runs]


def check_plan(plan: SweepPlan, n_train: int | None = None) -> list[str]:
    """Readable problems of a plan (empty when it can start)."""
    out = []
    if not plan.runs:
        out.append("A sweep needs at least one run.")
    keys = plan.config_keys()
    if len(set(keys)) < len(keys):
        out.append("A sweep lists the same configuration twice.")
    if len(plan.runs) > MAX_SWEEP_ACTIVE_RUNS:
        out.append(f"A sweep has at most {MAX_SWEEP_ACTIVE_RUNS} runs (this one {len(plan.runs)}).")
    for label, config in plan.runs:
        problems = config.problems(n_train)
        if problems:
            out.append(f"{label}: {' '.join(problems.values())}")
    return out


def start_sweep(store: RunStore, data: Mnist, plan: SweepPlan) -> SweepOpened:
    """Start the sweep or resume it: queue the configurations it has no result for.

    Raises ``ValueError`` with a readable message for a bad plan, and ``TooManyActiveRuns`` (a
    ``ValueError`` too) when the queue of sweeps is full; nothing is written then.
    """
    n_train = len(data.train_labels)
    problems = check_plan(plan, n_train)
    if problems:
        raise ValueError(" ".join(problems))
    runs = [
        NewRun(label, config, config.total_iterations(n_train), config_key(config))
        for label, config in plan.runs
    ]
    return store.open_sweep(
        plan.key,
        plan.model,
        plan.description,
        data.source,
        runs,
        max_active=MAX_SWEEP_ACTIVE_RUNS,
    )


def started_message(plan: SweepPlan, opened: SweepOpened) -> str:
    """What a person reads after Start or Resume."""
    queued, kept = len(opened.queued), len(opened.kept)
    if opened.created:
        return f"Sweep started: {queued} run(s) queued."
    if not queued:
        return f"Nothing to queue: all {kept} run(s) of this sweep are finished or under way."
    return f"Sweep resumed: {kept} run(s) kept, {queued} queued (missing or failed before)."


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands: counts of its configurations by their latest run, and an ETA."""

    total: int  # configurations in the plan
    done: int  # finished with a result (done or diverged)
    running: int
    queued: int
    failed: int  # failed or cancelled: Resume / Retry queues them again
    eta_s: float | None  # None: no finished run to time yet, or nothing left

    @property
    def missing(self) -> int:
        """Configurations with no run at all (the sweep was never started, or grew)."""
        return self.total - self.done - self.running - self.queued - self.failed

    @property
    def to_queue(self) -> int:
        """What Start / Resume would queue now."""
        return self.missing + self.failed

    @property
    def active(self) -> bool:
        return bool(self.running or self.queued)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def summary(self) -> str:
        text = (
            f"{self.done} of {self.total} done · {self.running} running · {self.queued} queued · "
            f"{self.failed} failed"
        )
        if self.missing:
            text += f" · {self.missing} not started"
        if self.eta_s is not None:
            text += f" · about {clock(self.eta_s)} left"
        return text


def progress(runs: Sequence[Run], keys: Sequence[str], now: float | None = None) -> SweepProgress:
    """``runs``: a sweep's latest run per key (``RunStore.latest_runs``); ``keys``: its plan's.

    The ETA spreads the work left over the runs training now: each queued run takes the mean
    duration of the finished ones, each running run what its pace so far says it has left.
    """
    now = time.time() if now is None else now
    wanted = set(keys)
    latest = {run.config_key: run for run in runs if run.config_key in wanted}
    counts = {"done": 0, "running": 0, "queued": 0, "failed": 0}
    for run in latest.values():
        bucket = (
            "done" if run.status in RESULT else "failed" if run.status in FAILED else run.status
        )
        counts[bucket] += 1
    durations = [
        run.finished_at - run.started_at
        for run in latest.values()
        if run.status in RESULT and run.started_at is not None and run.finished_at is not None
    ]
    eta: float | None = None
    if durations and (counts["running"] or counts["queued"]):
        mean = float(np.mean(durations))
        left = counts["queued"] * mean
        for run in latest.values():
            if run.status != "running":
                continue
            spent = now - run.started_at if run.started_at is not None else 0.0
            if run.iteration:
                left += spent * (run.total_iterations - run.iteration) / run.iteration
            else:
                left += max(0.0, mean - spent)
        eta = left / max(1, counts["running"])
    return SweepProgress(len(wanted), eta_s=eta, **counts)


def sweep_progress(store: RunStore, plan: SweepPlan, now: float | None = None) -> SweepProgress:
    """The plan's progress as the store has it (all missing if it was never started)."""
    group = store.sweep_group(plan.key)
    runs = store.latest_runs(group.id) if group else []
    return progress(runs, plan.config_keys(), now)


@dataclass(frozen=True)
class RunCurve:
    """A sweep run's training cost against epochs, with its settings."""

    run_id: int
    config: TrainConfig
    status: str
    epochs: np.ndarray  # (P,) the train points' epochs
    losses: np.ndarray  # (P,) mean minibatch training cost at each


def sweep_curves(store: RunStore, plan: SweepPlan) -> list[RunCurve]:
    """The training curves of the plan's latest runs (finished or not) that have points."""
    group = store.sweep_group(plan.key)
    if group is None:
        return []
    wanted = set(plan.config_keys())
    runs = {r.id: r for r in store.latest_runs(group.id) if r.config_key in wanted}
    points: dict[int, list[tuple[float, float]]] = {i: [] for i in runs}
    for point in store.metrics(list(runs)):
        if point.kind == "train":
            points[point.run_id].append((point.epoch, point.loss))
    return [
        RunCurve(
            run.id,
            run.config,
            run.status,
            np.array([e for e, _ in points[run.id]], dtype=float),
            np.array([loss for _, loss in points[run.id]], dtype=float),
        )
        for run in runs.values()
        if points[run.id]
    ]


CSV_COLUMNS = (
    "sweep", "run", "config_key", "status", "label", "model", "optimizer", "hyperparams",
    "schedule", "schedule_params", "dropout", "epochs", "batch_size", "train_subset",
    "test_subset", "seed", "kind", "iteration", "epoch", "loss", "accuracy", "elapsed_s",
)  # fmt: skip


def sweep_csv(store: RunStore, plan: SweepPlan) -> str:
    """Every run of the sweep (every attempt) with its settings, one row per metric point."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    group = store.sweep_group(plan.key)
    if group is None:
        return out.getvalue()
    runs = {run.id: run for run in store.runs(group_ids=[group.id])}
    for m in store.metrics(list(runs)):
        run = runs[m.run_id]
        c = run.config
        writer.writerow(
            [
                plan.key, run.id, run.config_key, run.status, run.label, c.model, c.optimizer,
                json.dumps(c.hyperparams, sort_keys=True), c.schedule,
                json.dumps(c.schedule_params, sort_keys=True), c.dropout, c.epochs, c.batch_size,
                c.train_subset, c.test_subset, c.seed, m.kind, m.iteration, f"{m.epoch:.6g}",
                repr(m.loss), "" if m.accuracy is None else repr(m.accuracy), f"{m.elapsed_s:.3f}",
            ]
        )  # fmt: skip
    return out.getvalue()


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(value)


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
