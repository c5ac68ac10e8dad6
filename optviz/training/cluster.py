"""Runs execute on Ray; one collector thread in the app process is the only writer of the store.

How a run travels:

1. The page writes a group of ``queued`` runs into the SQLite store (``submit_group``) and
   returns at once. It never trains and never talks to Ray.
2. The collector (one daemon thread per app process and store, started by ``get_collector``)
   polls the store. For each queued run, while fewer than ``OPTVIZ_MAX_CONCURRENT_RUNS`` are
   live, it takes a warm ``RunWorker`` actor or creates one — asking for ``OPTVIZ_RUN_GPUS``
   GPUs when the cluster has any — and calls ``run`` with the config and its dataset
   (``config.dataset``; each dataset is put in Ray's object store once, when a run first needs
   it; a run whose dataset is absent fails with the message saying how to get it). A worker
   costs seconds to start (a process, torch), so opening the page starts up to that many in
   advance, and a worker whose run ended normally is kept for the next run (unless another run's
   new worker is still waiting to start: on a cluster with fewer CPUs than the runs ask for, it
   may be waiting for that CPU); idle ones are released after ``IDLE_WORKER_TTL_S``.
3. The actor trains (``loop.train``) and buffers events in memory: first ``started`` (device,
   node id and IP, PID), then metric points. Every ``POLL_INTERVAL_S`` the collector calls
   ``drain`` on each live actor (never blocking: it waits on the replies with a short timeout)
   and writes the points to the store; pages read the store, so every tab sees the same runs.
   A point leaves the collector only once it is committed: what a write could not store (the
   file locked by another program, a full disk) is kept with the run and written on a later
   round, and so is the final status of a run that ended meanwhile.
4. When ``run`` returns, the collector drains once more and records the final status: at once,
   since between rounds it waits on the live runs' results as well as the clock, and in the
   same round the freed worker takes the next queued run (a sweep's runs follow one another
   without a poll interval between them). If the
   worker process dies, Ray fails the pending ``run`` call with ``RayActorError`` within about a
   second, and the run is recorded ``failed``. Cancel: a queued run is cancelled in the store
   directly (the collector kills its actor if it had one); a running run gets a flag the
   collector forwards to the actor's ``stop``, which the loop checks between batches.
5. A new app process marks runs it finds ``queued``/``running`` as failed ("app restarted"):
   their Ray workers belonged to the process that died.
6. If the store's file is deleted or replaced, the store opens a new one (``RunStore.current``)
   and the collector puts the runs it is training back into it, with their ids and a note, so
   they carry on there: their points so far went with the old file, but their result need not.

A round that fails (the store unwritable, Ray gone) is retried with a growing pause, up to
``MAX_RETRY_S``; the first ``TRACEBACKS_PER_OUTAGE`` failures are logged in full, then one line
every ``OUTAGE_LOG_EVERY_S`` while it lasts, and one when it ends. The page shows the failure as
long as it lasts (``CollectorState.error``).

``ray.init`` happens lazily for the collector (first use of the Live MNIST page), so the
explorer page never pays for it, on a thread that lives until the app shuts Ray down (Ray's local
processes die with the thread that started them). Without ``RAY_ADDRESS`` it starts a local Ray
that listens on loopback only; with it, it joins that cluster unchanged. At exit the app shuts its
local Ray down and kills whatever of it is left (``optviz.training.lifecycle``).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray.exceptions
import torch

from optviz.optim import OPTIMIZERS
from optviz.training.config import MAX_ACTIVE_RUNS, TrainConfig, env_number
from optviz.training.data import Dataset, DataUnavailable
from optviz.training.datasets import load_dataset
from optviz.training.lifecycle import (
    ORPHAN_REASON,
    claim_session,
    default_db_path,
    reap_own,
)
from optviz.training.loop import Metric, RunResult, train
from optviz.training.store import ACTIVE, NewRun, Run, RunRecord, RunStore

log = logging.getLogger(__name__)

# Ray's servers (GCS, raylet, every worker's and the driver's gRPC, the runtime env agent) listen
# on 127.0.0.1 only when that is the node's address, and on every interface otherwise, 127.0.0.2
# included. `ray.init` replaces 127.0.0.1 by the machine's network address unless Ray's switch
# for one-machine use is off: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, its default on macOS and
# Windows, which Ray reads into `ray_constants.ENABLE_RAY_CLUSTER` when it is imported.
LOCAL_NODE_IP = "127.0.0.1"
SINGLE_MACHINE_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # for the processes Ray starts (fresh imports)
    "RAY_USAGE_STATS_ENABLED": "0",  # a local default sends nothing anywhere either
}
POLL_INTERVAL_S = 0.2  # store ← worker latency is about this; the page redraws every second
IDLE_WORKER_TTL_S = 300.0  # warm workers hold a CPU (or GPU) slot; give it back when unused
MAX_RETRY_S = 2.0  # longest pause between failing rounds: a recovery is noticed within this
TRACEBACKS_PER_OUTAGE = 3  # enough to diagnose; after that the same traceback is noise
OUTAGE_LOG_EVERY_S = 15.0  # then one line per this while the failure lasts
REPO_ROOT = Path(__file__).resolve().parents[2]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset), which
    can be fewer than the machine's ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Deployment knobs, read from the environment once per collector."""

    max_concurrent_runs: int = 4  # OPTVIZ_MAX_CONCURRENT_RUNS: more runs wait as queued
    run_gpus: float = 1.0  # OPTVIZ_RUN_GPUS: GPUs per run, only when the cluster has GPUs
    # OPTVIZ_RUN_CPUS: Ray CPUs per run; None: a local Ray's CPUs shared by the concurrent runs
    # (fractional: 4 runs on 2 CPUs get 0.5 each), and 1 on a cluster joined by RAY_ADDRESS.
    run_cpus: float | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        concurrent, w1 = env_number("OPTVIZ_MAX_CONCURRENT_RUNS", 4, 1, MAX_ACTIVE_RUNS)
        gpus, w2 = env_number("OPTVIZ_RUN_GPUS", 1.0, 0.01, 64)
        cpus: float | None = None
        w3 = None
        if os.environ.get("OPTVIZ_RUN_CPUS", "").strip():
            cpus, w3 = env_number("OPTVIZ_RUN_CPUS", 1.0, 0.01, 256)
        return cls(int(concurrent), gpus, cpus, tuple(w for w in (w1, w2, w3) if w))

    def cpus_per_run(self) -> float:
        """What each run asks Ray for (see ``run_cpus``)."""
        if self.run_cpus is not None:
            return self.run_cpus
        if os.environ.get("RAY_ADDRESS"):
            return 1.0
        return available_cpus() / self.max_concurrent_runs

    def torch_threads(self) -> int:
        """Torch's intra-op threads in a worker: its whole CPUs, at least one."""
        return max(1, math.floor(self.cpus_per_run()))


# --- Ray -----------------------------------------------------------------------------------

_ray_lock = threading.Lock()


def ensure_ray(settings: Settings | None = None) -> str:
    """Connect this process to Ray once; return a one-line description of the cluster.

    No ``RAY_ADDRESS``: a local Ray whose every process listens on ``127.0.0.1`` only (see
    ``_init_ray``), with the CPUs this process may use (``available_cpus``): the runs share
    them (``Settings.cpus_per_run``), so ``max_concurrent_runs`` runs race side by side even
    on a 2-core laptop without Ray believing it has more cores than it does. With
    ``RAY_ADDRESS``: join that cluster (``OPTVIZ_RAY_NODE_IP`` names this host's address in it).
    Workers get the repository on their ``PYTHONPATH`` so they can import optviz (in Docker the
    code is in the image at that path).
    """
    settings = settings or Settings.from_env()
    with _ray_lock:
        if not ray.is_initialized():
            path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
            kwargs: dict[str, Any] = {
                "runtime_env": {"env_vars": {"PYTHONPATH": path}},
                "configure_logging": False,
            }
            node_ip = os.environ.get("OPTVIZ_RAY_NODE_IP")
            address = os.environ.get("RAY_ADDRESS")
            if address:
                kwargs["address"] = address
                if node_ip:
                    kwargs["_node_ip_address"] = node_ip
                _init_ray_on_its_thread(kwargs, local=False)
            else:
                kwargs |= {
                    "address": "local",  # never attach to some other `ray start` on this machine
                    "_node_ip_address": LOCAL_NODE_IP,
                    "num_cpus": available_cpus(),
                    "include_dashboard": False,
                    "object_store_memory": 512 * 1024**2,  # MNIST is 55 MB; leave the RAM alone
                }
                _init_ray_on_its_thread(kwargs, local=True)
            _register_shutdown()
        resources = ray.cluster_resources()
        where = os.environ.get("RAY_ADDRESS") or "local"
        nodes = sum(1 for key in resources if key.startswith("node:") and "internal" not in key)
        return (
            f"Ray {where}: {nodes} node(s), {resources.get('CPU', 0):g} CPUs, "
            f"{resources.get('GPU', 0):g} GPUs"
        )


# Set by `shutdown` once Ray is shut down: the thread `ray.init` ran on may end then.
_ray_thread_release: threading.Event | None = None


def _init_ray_on_its_thread(kwargs: dict[str, Any], *, local: bool) -> None:
    """``_init_ray`` on a thread of its own that lives until ``shutdown`` has shut Ray down.

    Ray starts its local processes (GCS, raylet, ...) with ``PR_SET_PDEATHSIG``, so that they die
    with the app if it is SIGKILLed; but Linux sends that signal when the *thread* that started
    them ends. Started from a collector's thread, they were SIGKILLed as the app's shutdown
    closed the collector, and ``ray.shutdown`` then waited seconds for the dead GCS and raylet
    (the driver's log: "TaskEventBuffer shutdown timed out"), which held up a SIGTERM of the app.
    """
    global _ray_thread_release
    started: concurrent.futures.Future[None] = concurrent.futures.Future()
    release = threading.Event()

    def own() -> None:
        try:
            _init_ray(kwargs, local=local)
        except BaseException as error:
            started.set_exception(error)
            return
        started.set_result(None)
        release.wait()

    threading.Thread(target=own, name="optviz-ray", daemon=True).start()
    started.result()
    _ray_thread_release = release


def _init_ray(kwargs: dict[str, Any], *, local: bool) -> None:
    """``ray.init(**kwargs)`` with two of Ray's switches set for that call only.

    - Ray's C++ failure-signal handler stays out of this process
      (``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``). Installed, it takes SIGTERM from Streamlit's
      handler and kills the app on the spot: no shutdown ran and Ray's agents outlived the app.
    - ``local``: the one-machine switch is off (``SINGLE_MACHINE_ENV``), so the node address
      stays 127.0.0.1 and every Ray process listens on loopback only, and the session directory
      is claimed as this process's (``claim_session``), so a later app can kill what this one's
      Ray leaves behind if this process is SIGKILLed.

    Ray reads both switches into ``ray_constants`` when it is imported, so they are set there;
    the environment carries the one-machine switch to the processes Ray starts. Everything is
    restored afterwards, so a ``ray start`` this process runs later (the tests do) is a normal
    cluster node.
    """
    from ray._private import ray_constants  # the switches, as Ray read them at import

    constants = {"RAY_DISABLE_FAILURE_SIGNAL_HANDLER": True}
    env: dict[str, str] = {}
    if local:
        constants["ENABLE_RAY_CLUSTER"] = False
        env = SINGLE_MACHINE_ENV
    saved_constants = {name: getattr(ray_constants, name) for name in constants}
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    for name, value in constants.items():
        setattr(ray_constants, name, value)
    try:
        ray.init(**kwargs)
    finally:
        for name, value in saved_constants.items():
            setattr(ray_constants, name, value)
        for key, old in saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    if not local:
        return
    node_ip = ray.util.get_node_ip_address()
    if node_ip != LOCAL_NODE_IP:  # a Ray that ignores the switch would listen on the network
        ray.shutdown()
        raise RuntimeError(
            f"the local Ray took node address {node_ip}, not {LOCAL_NODE_IP}: it would listen "
            "beyond loopback, so it was shut down"
        )
    context = ray.get_runtime_context()
    claim_session(Path(context.get_temp_dir()) / context.get_session_name())


@ray.remote(max_restarts=0)
class RunWorker:
    """A Ray worker process that trains one run at a time. Its methods run on separate threads
    (``max_concurrency``), so ``drain`` and ``stop`` answer while ``run`` trains.

    Starting one costs seconds (a process, torch, and the lazy imports torch.optim pulls in on
    its first optimizer), so ``__init__`` pays them up front and the collector keeps a few warm
    workers and reuses them between runs.
    """

    def __init__(self, threads: int = 1) -> None:
        torch.set_num_threads(threads)  # Ray's share of the CPUs, in whole threads
        self._events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._run_id: int | None = None
        next(iter(OPTIMIZERS.values())).build([torch.zeros(1, requires_grad=True)])  # warm imports

    def _push(self, kind: str, payload: Any) -> None:
        with self._lock:
            self._events.append((kind, payload))

    def ready(self) -> dict[str, int]:
        """Answers once ``__init__`` is done: the worker is warm."""
        return {"pid": os.getpid(), "torch_threads": torch.get_num_threads()}

    def run(self, run_id: int, config: TrainConfig, data: Dataset) -> RunResult:
        with self._lock:
            self._run_id, self._events = run_id, []
            self._stop.clear()
        context = ray.get_runtime_context()

        def started(device: str) -> None:
            gpus = ray.get_gpu_ids()
            if gpus and device.startswith("cpu"):
                device += f"; Ray assigned GPU {','.join(map(str, gpus))} but torch has no CUDA"
            self._push(
                "started",
                {
                    "device": device,
                    "node_id": context.get_node_id(),
                    "node_ip": ray.util.get_node_ip_address(),
                    "pid": os.getpid(),
                },
            )

        return train(
            config,
            data,
            lambda metric: self._push("metric", metric),
            should_stop=self._stop.is_set,
            on_start=started,
        )

    def drain(self) -> list[tuple[str, Any]]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def stop(self, run_id: int) -> None:
        """Stop ``run_id`` if it is still this worker's run (a late stop must not hit the next)."""
        with self._lock:
            if self._run_id == run_id:
                self._stop.set()


# --- the collector ---------------------------------------------------------------------------


@dataclass
class _Live:
    """A run the collector has handed to Ray."""

    run_id: int
    worker: _Worker
    result: ray.ObjectRef
    drain: ray.ObjectRef | None = None
    stopping: bool = False


@dataclass
class _Worker:
    actor: Any
    gpus: float  # what it asked Ray for; a warm worker is reused only for the same request
    idle_since: float = 0.0
    starting: ray.ObjectRef | None = None  # its ``ready`` call, until it answered


@dataclass
class _Unsaved:
    """What the collector owes the store for one run, from its launch until all is written."""

    record: RunRecord  # its rows as last saved, to put back if the file is replaced
    started: dict[str, Any] | None = None  # the worker's "started" event, once it came
    start_saved: bool = False
    metrics: list[Metric] = field(default_factory=list)
    final: tuple[str, str | None] | None = None  # status and error, once the run ended


@dataclass
class _Outage:
    """Consecutive failed rounds of the collector."""

    since: float
    failures: int = 0
    last_line: float = 0.0


@dataclass
class CollectorState:
    """What the page shows about the collector (read without locks: plain values)."""

    ray: str = "Ray starts on first use"
    backend_error: str | None = None  # Ray or the data could not start
    round_error: str | None = None  # the collector's rounds are failing (e.g. store unwritable)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    ray_started: bool = False
    workers: int = 0  # the collector's workers (idle and training)
    workers_ready: int = 0  # of which this many have finished starting

    @property
    def progress(self) -> str | None:
        """What is still starting, for a person; None once Ray and every worker are up."""
        if self.backend_error:
            return None
        if not self.ray_started:
            return "Starting Ray…"
        if self.workers_ready < self.workers:
            return f"Starting workers… {self.workers_ready} of {self.workers} ready"
        return None

    @property
    def error(self) -> str | None:
        return self.round_error or self.backend_error


class Collector:
    """Moves runs from the store to Ray and their metrics from Ray to the store (module doc)."""

    def __init__(
        self,
        store: RunStore,
        data_dir: Path | None = None,
        settings: Settings | None = None,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.settings = settings or Settings.from_env()
        self.poll_interval = poll_interval
        self.state = CollectorState(warnings=self.settings.warnings)
        self._live: dict[int, _Live] = {}
        self._unsaved: dict[int, _Unsaved] = {}  # by run id, in launch order
        self._generation = store.generation  # the store file the runs' rows are in
        self._idle: list[_Worker] = []
        self._data_refs: dict[str, ray.ObjectRef] = {}  # dataset key → its copy in Ray
        self._want_ray = threading.Event()
        self._want_warm = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="optviz-collector", daemon=True)

    def start(self) -> Collector:
        orphans = self.store.fail_active(ORPHAN_REASON)
        if orphans:
            log.warning("marked %d run(s) left by a previous app process as failed", orphans)
        self._thread.start()
        return self

    def warm_up(self) -> None:
        """Start Ray and enough warm workers in the background now, so Start does not wait."""
        self._want_ray.set()
        self._want_warm.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop polling, kill every worker and mark live runs failed."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for live in list(self._live.values()):
            self._kill(live.worker)
            self._unsaved[live.run_id].final = ("failed", "the app shut down during the run")
        for worker in self._idle:
            self._kill(worker)
        self._live.clear()
        self._idle.clear()
        try:
            self._save()
        except sqlite3.Error as error:  # the next app process fails them ("app restarted")
            log.warning("%d run(s) could not be saved at shutdown: %s", len(self._unsaved), error)

    @property
    def live_runs(self) -> int:
        return len(self._live)

    @property
    def warm_workers(self) -> int:
        return len(self._idle)

    def _loop(self) -> None:
        outage: _Outage | None = None
        while not self._closing.is_set():
            try:
                self.tick()
            except Exception as error:  # keep collecting: one bad tick must not end the thread
                outage = outage or _Outage(since=time.monotonic())
                self._report(outage, error)
                self._closing.wait(min(MAX_RETRY_S, self.poll_interval * 2**outage.failures))
                continue
            if outage is not None:
                log.warning(
                    "collector recovered after %.0f s (%d failed rounds)",
                    time.monotonic() - outage.since,
                    outage.failures,
                )
                outage = None
                self.state.round_error = None
            self._rest(self.poll_interval)

    def _rest(self, seconds: float) -> None:
        """Wait ``seconds`` for the next round, or less: until a live run ends, so its worker
        takes the next queued run at once (a sweep's runs follow one another with no poll
        interval between them), or the collector closes. A run that had ended already (a
        round that returned early left it) waits for the next round like any work."""
        results = [live.result for live in self._live.values()]
        if results and ray.is_initialized():
            with contextlib.suppress(ray.exceptions.RayError):
                ended, running = ray.wait(results, num_returns=len(results), timeout=0)
                if not ended:
                    ray.wait(running, num_returns=1, timeout=seconds)
                    return
        self._closing.wait(seconds)

    def _report(self, outage: _Outage, error: Exception) -> None:
        """Log a failed round without flooding the log, and say on the page what is wrong."""
        outage.failures += 1
        what = f"{type(error).__name__}: {error}"
        if isinstance(error, sqlite3.Error):
            waiting = sum(len(u.metrics) for u in self._unsaved.values())
            what = (
                f"the run history is unavailable ({what}); {waiting} new point(s) are kept and "
                "will be saved when it is back"
            )
        self.state.round_error = what
        now = time.monotonic()
        if outage.failures <= TRACEBACKS_PER_OUTAGE:
            log.exception(
                "collector round failed (%d in a row; after %d, one line every %.0f s)",
                outage.failures,
                TRACEBACKS_PER_OUTAGE,
                OUTAGE_LOG_EVERY_S,
            )
            outage.last_line = now
        elif now - outage.last_line >= OUTAGE_LOG_EVERY_S:
            log.error(
                "collector still failing after %.0f s (%d rounds): %s",
                now - outage.since,
                outage.failures,
                what,
            )
            outage.last_line = now

    def tick(self) -> None:
        """One round: honour cancels, launch queued runs, drain metrics, record finished runs."""
        self._follow_store_file()
        rows = {run.id: run for run in self.store.runs(statuses=ACTIVE)}
        if self.store.generation != self._generation:
            return  # the file was replaced during the read: these rows miss our runs
        for live in list(self._live.values()):
            row = rows.get(live.run_id)
            if row is None:  # finished behind our back: cancelled while queued
                self._kill(live.worker)
                del self._live[live.run_id]
                self._unsaved[live.run_id].final = ("cancelled", None)  # a no-op; ends its record
            elif row.cancel_requested and not live.stopping:
                live.worker.actor.stop.remote(live.run_id)
                live.stopping = True
        if self._live:  # first, so a finished run's worker takes a queued run in this round
            self._drain_all()
            self._finish_ready()
        queued = [r for r in rows.values() if r.status == "queued" and r.id not in self._unsaved]
        if (queued or self._want_ray.is_set()) and not self._connect(queued):
            return
        launch = queued[: max(0, self.settings.max_concurrent_runs - len(self._live))]
        records = self.store.records([row.id for row in launch]) if launch else {}
        for row in launch:
            if row.id in records:
                self._unsaved[row.id] = _Unsaved(records[row.id])
                try:
                    data = self._data_ref(row.config.dataset)
                except (DataUnavailable, ValueError) as error:
                    self._unsaved[row.id].final = ("failed", str(error))
                    continue
                self._launch(row.id, row.config, data)
        self._tend_pool()
        self._save()

    def _save(self) -> None:
        """Write what is owed, in launch order; stop at the first failure, keeping the rest."""
        for run_id, owed in list(self._unsaved.items()):
            if self.store.generation != self._generation:
                return  # the file was replaced meanwhile: the next round puts the runs back first
            if owed.started is not None and not owed.start_saved:
                self.store.mark_running(run_id, **owed.started)
                owed.start_saved = True
                run = {**owed.record.run, **owed.started, "status": "running"}
                owed.record = RunRecord(owed.record.group, {**run, "started_at": time.time()})
            if owed.metrics:
                self.store.add_metrics(run_id, owed.metrics)
                owed.metrics = []
            if owed.final is not None:
                self.store.finish(run_id, *owed.final)
                del self._unsaved[run_id]

    def _follow_store_file(self) -> None:
        """If the store's file was deleted or replaced, put the runs still owed back into it."""
        self.store.current()  # reopens a replaced file (schema included)
        generation = self.store.generation
        if generation == self._generation:
            return
        note = (
            f"the run history file was replaced at {time.strftime('%H:%M:%S')}: "
            "points from before then are gone"
        )
        refused = self.store.restore([owed.record for owed in self._unsaved.values()], note)
        for run_id in refused:  # another history holds its id: it has nowhere to go
            live = self._live.pop(run_id, None)
            if live is not None:
                self._kill(live.worker)
            del self._unsaved[run_id]
        self._generation = generation
        kept = len(self._unsaved)
        log.warning(
            "%s was deleted or replaced: %d run(s) put back, %d refused",
            self.store.path,
            kept,
            len(refused),
        )
        self.state.warnings = (
            *self.state.warnings,
            f"The run history file was deleted or replaced at {time.strftime('%H:%M:%S')}: the "
            f"runs before then are gone from it; {kept} run(s) in progress carry on in the new "
            "file" + (f", {len(refused)} could not (their ids are taken)." if refused else "."),
        )

    def _connect(self, queued: list[Run]) -> bool:
        """Ray, once; on failure the queued runs fail with the reason."""
        try:
            self.state.ray = ensure_ray(self.settings)
            self._tend_pool()  # workers warm up (seconds each) while the data loads
            # Only now, with the workers counted: the page's note goes from "Starting Ray…"
            # straight to "Starting workers…", never through a moment with nothing starting.
            self.state.ray_started = True
            self.state.backend_error = None
            return True
        except Exception as error:
            reason = f"could not start Ray: {type(error).__name__}: {error}"
        self.state.backend_error = reason
        self._want_ray.clear()  # do not retry every tick without a reason
        for row in queued:
            self.store.finish(row.id, "failed", reason)
        return False

    def _data_ref(self, key: str) -> ray.ObjectRef:
        """Dataset ``key`` in Ray's object store, put there on first use and shared by every run
        of it; ``DataUnavailable`` (kept for the page as ``backend_error``) when it is absent."""
        if key not in self._data_refs:
            try:
                self._data_refs[key] = ray.put(load_dataset(key, self.data_dir))
            except DataUnavailable as error:
                self.state.backend_error = str(error)
                raise
        return self._data_refs[key]

    def _gpus_per_run(self) -> float:
        """GPUs to ask for: only when the cluster has any, else Ray would never schedule it."""
        return self.settings.run_gpus if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def _new_worker(self, gpus: float) -> _Worker:
        options: dict[str, Any] = {
            "num_cpus": self.settings.cpus_per_run(),
            "max_concurrency": 4,
        }
        if gpus:
            options["num_gpus"] = gpus
        actor = RunWorker.options(**options).remote(self.settings.torch_threads())
        return _Worker(actor, gpus, time.monotonic(), starting=actor.ready.remote())

    def _count_workers(self) -> None:
        """How many workers there are and how many have started (for ``state.progress``)."""
        workers = [*self._idle, *(live.worker for live in self._live.values())]
        starting = {w.starting: w for w in workers if w.starting is not None}
        if starting:
            done, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
            for ref in done:
                starting[ref].starting = None
        self.state.workers = len(workers)
        self.state.workers_ready = sum(w.starting is None for w in workers)

    def _launch(self, run_id: int, config: TrainConfig, data: ray.ObjectRef) -> None:
        gpus = self._gpus_per_run()
        warm = [w for w in self._idle if w.gpus == gpus]
        worker = warm[-1] if warm else self._new_worker(gpus)
        if warm:
            self._idle.remove(worker)
        result = worker.actor.run.remote(run_id, config, data)
        self._live[run_id] = _Live(run_id, worker, result)

    def _tend_pool(self) -> None:
        """Keep warm workers for the next Start while the page is in use; free them after."""
        now = time.monotonic()
        for worker in [w for w in self._idle if now - w.idle_since > IDLE_WORKER_TTL_S]:
            self._idle.remove(worker)
            self._kill(worker)
        if self._want_warm.is_set() and ray.is_initialized():
            self._want_warm.clear()
            gpus = self._gpus_per_run()
            while len(self._idle) + len(self._live) < self.settings.max_concurrent_runs:
                self._idle.append(self._new_worker(gpus))
            for worker in self._idle:
                worker.idle_since = now
        if ray.is_initialized():
            self._count_workers()

    def _drain_all(self) -> None:
        for live in self._live.values():
            if live.drain is None:
                live.drain = live.worker.actor.drain.remote()
        pending = {live.drain: live for live in self._live.values()}
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.1)
        for ref in ready:
            live = pending[ref]
            live.drain = None
            with contextlib.suppress(ray.exceptions.RayError):  # the worker is gone: `run` says how
                self._keep(live.run_id, ray.get(ref))

    def _keep(self, run_id: int, events: list[tuple[str, Any]]) -> None:
        """Take drained events into the run's unsaved record; ``_save`` writes them."""
        owed = self._unsaved[run_id]
        for kind, payload in events:
            if kind == "started":
                owed.started = payload
            elif kind == "metric":
                owed.metrics.append(payload)

    def _finish_ready(self) -> None:
        by_ref = {live.result: live for live in self._live.values()}
        ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
        for ref in ready:
            live = by_ref[ref]
            reusable = False
            try:
                result: RunResult = ray.get(ref)
                for drain in (live.drain, live.worker.actor.drain.remote()):  # the last points
                    if drain is not None:
                        self._keep(live.run_id, ray.get(drain, timeout=10))
                status, error = result.status, result.error
                reusable = status != "failed"  # after an error (CUDA OOM…) start afresh
            except ray.exceptions.RayActorError as died:
                status, error = "failed", f"the worker process died ({_first_line(died)})"
            except ray.exceptions.RayError as failure:
                status, error = "failed", _first_line(failure)
            self._unsaved[live.run_id].final = (status, error)
            del self._live[live.run_id]
            if reusable and self._workers_waiting(live.worker):
                reusable = False  # free its CPU for them rather than hold it idle
            if reusable and len(self._idle) + len(self._live) < self.settings.max_concurrent_runs:
                live.worker.idle_since = time.monotonic()
                self._idle.append(live.worker)
            else:
                self._kill(live.worker)

    def _workers_waiting(self, finished: _Worker) -> bool:
        """Whether a live run's worker has not started yet while this app's workers (the
        ``finished`` run's included) ask for more CPUs or GPUs than the cluster has.

        On a cluster with fewer CPUs than ``max_concurrent_runs`` runs ask for, Ray cannot place
        a new worker while finished runs' warm workers hold the CPUs; kept idle, they held them
        until ``IDLE_WORKER_TTL_S`` and the waiting runs stayed queued that long. So a finished
        run's worker is released instead of kept while another run waits for its worker. On a
        local Ray the runs share its CPUs (``Settings.cpus_per_run``), so this never applies.
        """
        workers = [finished, *self._idle, *(live.worker for live in self._live.values())]
        resources = ray.cluster_resources()
        cpus = len(workers) * self.settings.cpus_per_run()
        gpus = sum(worker.gpus for worker in workers)
        if cpus <= resources.get("CPU", 0) + 1e-9 and gpus <= resources.get("GPU", 0) + 1e-9:
            return False  # every worker has what it asked for
        for live in self._live.values():
            starting = live.worker.starting
            if starting is None:
                continue
            if not ray.wait([starting], timeout=0)[0]:
                return True
            live.worker.starting = None
        return False

    @staticmethod
    def _kill(worker: _Worker) -> None:
        if ray.is_initialized():
            ray.kill(worker.actor, no_restart=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- one collector per store, for the whole app process ------------------------------------

_collectors: dict[Path, Collector] = {}
_collectors_lock = threading.Lock()
_shutdown_registered = False


def get_collector(db_path: Path | None = None, data_dir: Path | None = None) -> Collector:
    """The process-wide collector for a store, started on first use (no Streamlit in here)."""
    path = Path(db_path or default_db_path()).resolve()
    with _collectors_lock:
        collector = _collectors.get(path)
        if collector is None:
            collector = Collector(RunStore(path), data_dir).start()
            _collectors[path] = collector
            _register_shutdown()
        return collector


def close_collectors() -> None:
    with _collectors_lock:
        for collector in _collectors.values():
            collector.close()
        _collectors.clear()


def shutdown() -> None:
    """At exit: fail the live runs, then end this app's local Ray.

    ``ray.shutdown`` runs while the GCS and the raylet still answer (see
    ``_init_ray_on_its_thread``), so the driver disconnects at once; ``reap_own`` then kills what
    it leaves running: the raylet's agents are not Ray's to stop.
    """
    close_collectors()
    if ray.is_initialized():
        ray.shutdown()
    if _ray_thread_release is not None:
        _ray_thread_release.set()
    reap_own(grace=0.5)


def _register_shutdown() -> None:
    global _shutdown_registered
    if not _shutdown_registered:
        atexit.register(shutdown)
        _shutdown_registered = True


def submit_group(
    store: RunStore,
    data: Dataset | Mapping[str, Dataset],
    configs: list[tuple[str, TrainConfig]],
    description: str,
) -> tuple[int, list[int]]:
    """Queue one run per ``(label, config)`` as a group; the collector picks them up.

    ``data``: the dataset of every run, or the datasets by key when the runs use several; each
    config is checked against its own dataset's size.
    """
    if not configs:
        raise ValueError("a group needs at least one run")
    by_key = {data.key: data} if isinstance(data, Dataset) else dict(data)
    runs, sources = [], {}
    for label, config in configs:
        dataset = by_key.get(config.dataset)
        if dataset is None:
            raise ValueError(f"{label}: no {config.dataset!r} data was given to check it against")
        n_train = len(dataset.train_labels)
        problems = config.problems(n_train)
        if problems:
            raise ValueError(f"{label}: {' '.join(problems.values())}")
        runs.append(NewRun(label, config, config.total_iterations(n_train)))
        sources[dataset.key] = dataset.source
    # The store checks MAX_ACTIVE_RUNS in the transaction that inserts (TooManyActiveRuns is a
    # ValueError, so the page shows it like the problems above).
    return store.create_group(configs[0][1].model, description, "; ".join(sources.values()), runs)
