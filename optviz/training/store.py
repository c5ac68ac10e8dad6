"""Run history in SQLite on the app host: groups of runs, their status and every metric point.

Why SQLite (WAL): pages in every browser tab read while the collector writes, history must outlive
page reloads and app restarts, and workers on other machines never touch this file — only the
app's collector writes it. Every call opens its own short-lived connection, so any thread
(Streamlit script threads, the collector) may use one ``RunStore``.

Status moves only forward: ``queued → running → done | diverged | failed | cancelled`` (``queued``
may also end directly). Writers use ``WHERE status IN ('queued', 'running')`` so a finished run is
never reopened and a cancel by one tab is never overwritten by the collector.

The file outlives the code (a Docker volume), so it carries its schema version in
``PRAGMA user_version``; opening it applies the missing ``MIGRATIONS`` steps in one transaction,
and a file from a newer optviz is refused rather than misread.

A file deleted or replaced while the app runs (someone cleans a cache folder, restores a backup)
is noticed by its identity (device and inode) before each transaction: the store opens the new
file as it opened the first one, schema and all, and counts the change in ``generation`` so the
collector can put the runs it is training back into it (``records``, ``restore``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from optviz.training.config import MAX_ACTIVE_RUNS, TrainConfig
from optviz.training.loop import Metric

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
BUSY_TIMEOUT_S = 15.0  # how long a page's write waits for another writer's lock
# The collector is one thread serving every run: blocked 15 s on a lock it would forward no
# cancel and record no finished run. It keeps what it could not write and retries next round,
# so its writes give up quickly instead.
COLLECTOR_BUSY_TIMEOUT_S = 1.0
CSV_COLUMNS = (
    "group", "run", "optimizer", "label", "kind", "iteration", "epoch", "loss",
    "accuracy", "samples_per_s", "elapsed_s",
)  # fmt: skip
FINISHED = ("done", "diverged", "failed", "cancelled")
RETRIED = ("failed", "cancelled")  # a sweep started again queues these afresh (``open_sweep``)
_METRIC_COLUMNS = (  # named, not *: a column added by a later schema must not break MetricRow
    "run_id, kind, iteration, epoch, loss, accuracy, samples_per_s, elapsed_s, emitted_at, "
    "stored_at"
)

# MIGRATIONS[n] takes a file from schema version n (``PRAGMA user_version``) to n + 1. The file
# lives on a volume that outlives the code, so a released step is never edited: a schema change
# appends a step. Each step is a tuple of statements run one by one (``executescript`` would
# commit the open transaction, and a file must never be left half migrated).
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 0 → 1: the first schema. IF NOT EXISTS: files written before versioning already hold
        # these tables at user_version 0, and they are version 1 files.
        """CREATE TABLE IF NOT EXISTS groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            model TEXT NOT NULL,
            description TEXT NOT NULL,
            data_source TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id INTEGER NOT NULL REFERENCES groups(id),
            optimizer TEXT NOT NULL,
            label TEXT NOT NULL,
            config TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('queued', 'running', 'done', 'diverged', 'failed', 'cancelled')),
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            device TEXT,
            node_id TEXT,
            node_ip TEXT,
            pid INTEGER,
            error TEXT,
            iteration INTEGER NOT NULL DEFAULT 0,
            total_iterations INTEGER NOT NULL,
            samples_per_s REAL,
            best_accuracy REAL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status)",
        "CREATE INDEX IF NOT EXISTS runs_by_group ON runs(group_id)",
        """CREATE TABLE IF NOT EXISTS metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            kind TEXT NOT NULL CHECK (kind IN ('train', 'test')),
            iteration INTEGER NOT NULL,
            epoch REAL NOT NULL,
            loss REAL NOT NULL,
            accuracy REAL,
            samples_per_s REAL,
            elapsed_s REAL NOT NULL,
            emitted_at REAL NOT NULL,
            stored_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, kind, iteration)",
    ),
    (  # 1 → 2: sweeps (``optviz.training.sweeps``). A group is a Live MNIST race ("live") or a
        # sweep with the key of its experiment, preset and configurations; a run carries the key
        # of its full configuration, so starting a sweep again finds the runs it already has.
        # Groups and runs written before keep kind "live" and no keys.
        "ALTER TABLE groups ADD COLUMN kind TEXT NOT NULL DEFAULT 'live'",
        "ALTER TABLE groups ADD COLUMN sweep_key TEXT",
        "CREATE UNIQUE INDEX groups_by_sweep_key ON groups(sweep_key) WHERE sweep_key IS NOT NULL",
        "ALTER TABLE runs ADD COLUMN config_key TEXT",
        "CREATE INDEX runs_by_config_key ON runs(group_id, config_key)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)  # the version this code writes


class NewerSchemaError(sqlite3.DatabaseError):
    """The file was written by a newer optviz; this code must not guess at its tables."""


class StoreReplaced(sqlite3.OperationalError):
    """The file changed under a transaction: what it wrote may have gone to the deleted file."""


class TooManyActiveRuns(ValueError):
    """Starting the runs would put more than the cap in the queue; nothing was written."""


@dataclass(frozen=True)
class Group:
    id: int
    created_at: float
    model: str
    description: str
    data_source: str
    kind: str = "live"  # "live": a Live MNIST race; "sweep": see ``optviz.training.sweeps``
    sweep_key: str | None = None


@dataclass(frozen=True)
class Run:
    id: int
    group_id: int
    optimizer: str
    label: str
    config: TrainConfig
    status: str
    cancel_requested: bool
    device: str | None
    node_id: str | None
    node_ip: str | None
    pid: int | None
    error: str | None
    iteration: int
    total_iterations: int
    samples_per_s: float | None
    best_accuracy: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    config_key: str | None = None  # set for a sweep's runs (schema 2)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def progress(self) -> float:
        return min(1.0, self.iteration / self.total_iterations) if self.total_iterations else 0.0


@dataclass(frozen=True)
class MetricRow:
    id: int  # the point's row id: points written later have larger ids (see ``metrics_since``)
    run_id: int
    kind: str
    iteration: int
    epoch: float
    loss: float
    accuracy: float | None
    samples_per_s: float | None
    elapsed_s: float
    emitted_at: float
    stored_at: float


@dataclass(frozen=True)
class RunRecord:
    """A run's row and its group's row, as read by ``records``, to put back with ``restore``."""

    group: dict[str, Any]
    run: dict[str, Any]


@dataclass(frozen=True)
class NewRun:
    """What the page asks for: one run of a group."""

    label: str
    config: TrainConfig
    total_iterations: int
    config_key: str | None = None  # a sweep's runs: ``sweeps.config_key(config)``


@dataclass(frozen=True)
class SweepOpened:
    """What ``open_sweep`` did: the sweep's group, the runs it kept and the runs it queued."""

    group_id: int
    created: bool  # a new group (False: the sweep was started before)
    kept: dict[str, int]  # config key → its run finished with a result, queued or running
    queued: dict[str, int]  # config key → its new queued run (missing, failed or cancelled before)


class RunStore:
    """All reads and writes of the run history; see the module docstring for the rules."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.generation = 0  # how many times the file was found deleted or replaced and reopened
        self._reopen_lock = threading.Lock()
        self._identity = self._open()

    def _open(self) -> tuple[int, int] | None:
        """Create or open the file, bring its schema up to date; return its identity."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        ) as db:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the collector's writes
            # IMMEDIATE: two processes opening an old file at once migrate it once, in turn.
            db.execute("BEGIN IMMEDIATE")
            try:
                _migrate(db, self.path)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return _identity(self.path)

    def current(self) -> tuple[int, int] | None:
        """The identity of the file this store uses, reopening it first if it was replaced.

        SQLite reopens a deleted path as a new, empty file; without this every query would fail
        with "no such table" until the app restarted.
        """
        identity = _identity(self.path)
        if identity is not None and identity == self._identity:
            return identity
        with self._reopen_lock:
            if _identity(self.path) != self._identity or self._identity is None:
                log.warning("%s was deleted or replaced; opening it afresh", self.path)
                self._identity = self._open()
                self.generation += 1
            return self._identity

    @contextmanager
    def _transaction(
        self, begin: str = "BEGIN", timeout: float = BUSY_TIMEOUT_S
    ) -> Iterator[sqlite3.Connection]:
        """A short-lived connection holding one transaction: commit on success, roll back on error.

        A write that reads first begins with ``BEGIN IMMEDIATE``: it takes the write lock before
        the read, so what it read is still true when it writes, whatever another tab does. A
        write that committed while the file was being replaced raises ``StoreReplaced``: it may
        have gone to the deleted file, so the writer should write it again.
        """
        for _ in range(3):
            identity = self.current()
            # isolation_level=None: transactions begin where this code says, not where the
            # sqlite3 module guesses (it would start them at the first INSERT, after the reads).
            db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            if _identity(self.path) == identity:
                break
            db.close()  # replaced between the check and the connect: check again
        else:
            raise StoreReplaced(f"{self.path} keeps being replaced")
        with closing(db):
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; no fsync per metric batch
            db.execute(begin)
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if db.total_changes and _identity(self.path) != identity:
                raise StoreReplaced(f"{self.path} was replaced while this write committed")

    # --- writes by the page ---------------------------------------------------------------

    def create_group(
        self,
        model: str,
        description: str,
        data_source: str,
        runs: Sequence[NewRun],
        *,
        max_active: int = MAX_ACTIVE_RUNS,
    ) -> tuple[int, list[int]]:
        """Queue ``runs`` as one Live MNIST group; return the group's id and the runs' ids.

        Raises ``TooManyActiveRuns`` (and writes nothing) when that would put more than
        ``max_active`` runs of Live MNIST groups in the queue or running, counting every tab's
        runs (sweeps have a bound of their own: ``open_sweep``).
        """
        now = time.time()
        # IMMEDIATE: the count and the inserts hold the write lock together, so two tabs pressing
        # Start at once are counted one after the other and cannot both slip under the cap.
        with self._transaction("BEGIN IMMEDIATE") as db:
            active = _active_runs(db, "live")
            if active + len(runs) > max_active:
                raise TooManyActiveRuns(
                    f"{active} runs are already queued or running; at most {max_active} may be. "
                    "Wait for some to finish or cancel them."
                )
            group_id = db.execute(
                "INSERT INTO groups (created_at, model, description, data_source) "
                "VALUES (?, ?, ?, ?)",
                (now, model, description, data_source),
            ).lastrowid
            run_ids = [_insert_run(db, int(group_id), run, now) for run in runs]  # type: ignore[arg-type]
        return int(group_id), run_ids  # type: ignore[arg-type]

    def open_sweep(
        self,
        sweep_key: str,
        model: str,
        description: str,
        data_source: str,
        runs: Sequence[NewRun],
        *,
        max_active: int,
    ) -> SweepOpened:
        """Find or create the sweep's group and queue what it lacks, in one transaction.

        Each of ``runs`` (with its ``config_key``) is looked up by its key in the group: if its
        latest run finished with a result (done or diverged) or is queued or running, it is
        kept; if it has none, or its latest failed or was cancelled, a new queued run is added
        (the old row stays, as history). Raises ``TooManyActiveRuns`` (and writes nothing) when
        the new runs would put more than ``max_active`` sweep runs in the queue or running.
        """
        if any(run.config_key is None for run in runs):
            raise ValueError("every run of a sweep needs its config_key")
        now = time.time()
        with self._transaction("BEGIN IMMEDIATE") as db:
            row = db.execute("SELECT id FROM groups WHERE sweep_key = ?", (sweep_key,)).fetchone()
            created = row is None
            if created:
                group_id = int(
                    db.execute(  # type: ignore[arg-type]
                        "INSERT INTO groups (created_at, model, description, data_source, kind, "
                        "sweep_key) VALUES (?, ?, ?, ?, 'sweep', ?)",
                        (now, model, description, data_source, sweep_key),
                    ).lastrowid
                )
                latest: dict[str, tuple[int, str]] = {}
            else:
                group_id = int(row["id"])
                latest = _latest_by_key(db, group_id)
            kept = {
                run.config_key: latest[run.config_key][0]
                for run in runs
                if run.config_key in latest and latest[run.config_key][1] not in RETRIED
            }
            missing = list(
                {run.config_key: run for run in runs if run.config_key not in kept}.values()
            )
            active = _active_runs(db, "sweep")
            if active + len(missing) > max_active:
                raise TooManyActiveRuns(
                    f"{len(missing)} more runs would make {active + len(missing)} sweep runs "
                    f"queued or running; at most {max_active} may be. Wait for a sweep to finish "
                    "or cancel one."
                )
            queued = {run.config_key: _insert_run(db, group_id, run, now) for run in missing}
        return SweepOpened(group_id, created, kept, queued)  # type: ignore[arg-type]

    def sweep_group(self, sweep_key: str) -> Group | None:
        with self._transaction() as db:
            row = db.execute("SELECT * FROM groups WHERE sweep_key = ?", (sweep_key,)).fetchone()
        return Group(**dict(row)) if row else None

    def latest_runs(self, group_id: int) -> list[Run]:
        """A sweep's current run per configuration key: the latest attempt at each."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs WHERE group_id = ? "
                "GROUP BY config_key) ORDER BY id",
                (group_id,),
            ).fetchall()
        return [_run(row) for row in rows]

    def request_cancel(self, run_id: int) -> str:
        """Cancel a run in any state; the returned message says what happened.

        Queued: cancelled at once (the collector kills its worker if it had one). Running: the
        flag asks the worker to stop after its current batch. Finished: nothing to do.
        """
        # IMMEDIATE: the status read for the message is the one the update acts on.
        with self._transaction("BEGIN IMMEDIATE") as db:
            row = db.execute("SELECT label, status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return f"There is no run #{run_id}."
            name = f"Run #{run_id} ({row['label']})"
            if not _cancel(db, "id", run_id):
                return f"{name} already finished ({row['status']}); nothing to cancel."
            if row["status"] == "queued":
                return f"{name} was cancelled before it started."
            return f"{name} will stop after its current batch."

    def cancel_group(self, group_id: int) -> str:
        """Cancel every active run of a group at once; the message says how many."""
        with self._transaction("BEGIN IMMEDIATE") as db:
            (runs,) = db.execute(
                "SELECT COUNT(*) FROM runs WHERE group_id = ?", (group_id,)
            ).fetchone()
            cancelled = _cancel(db, "group_id", group_id)
        if not runs:
            return f"Group #{group_id} has no runs."
        if not cancelled:
            return f"Every run of group #{group_id} had already finished; nothing to cancel."
        return f"Cancelling {cancelled} run(s) of group #{group_id}."

    # --- writes by the collector --------------------------------------------------------

    def mark_running(
        self, run_id: int, *, device: str, node_id: str, node_ip: str, pid: int
    ) -> bool:
        with self._transaction(timeout=COLLECTOR_BUSY_TIMEOUT_S) as db:
            changed = db.execute(
                "UPDATE runs SET status = 'running', device = ?, node_id = ?, node_ip = ?, "
                "pid = ?, started_at = ? WHERE id = ? AND status = 'queued'",
                (device, node_id, node_ip, pid, time.time(), run_id),
            ).rowcount
        return changed == 1

    def add_metrics(self, run_id: int, metrics: Iterable[Metric]) -> int:
        """Append points and refresh the run's progress, throughput and best accuracy."""
        metrics = list(metrics)
        now = time.time()
        rows = [
            (
                run_id,
                m.kind,
                m.iteration,
                m.epoch,
                m.loss,
                m.accuracy,
                m.samples_per_s,
                m.elapsed_s,
                m.emitted_at,
                now,
            )
            for m in metrics
        ]
        if not rows:
            return 0
        last_train = next((m for m in reversed(metrics) if m.kind == "train"), None)
        accuracies = [m.accuracy for m in metrics if m.accuracy is not None]
        best = max(accuracies) if accuracies else None
        with self._transaction(timeout=COLLECTOR_BUSY_TIMEOUT_S) as db:
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute(
                "UPDATE runs SET iteration = MAX(iteration, ?), "
                "samples_per_s = COALESCE(?, samples_per_s), "
                "best_accuracy = MAX(COALESCE(best_accuracy, ?), COALESCE(?, best_accuracy)) "
                "WHERE id = ?",
                (
                    max(m.iteration for m in metrics),
                    last_train.samples_per_s if last_train else None,
                    best,
                    best,
                    run_id,
                ),
            )
        return len(rows)

    def finish(self, run_id: int, status: str, error: str | None = None) -> bool:
        """Move an active run to a final status; False if it had already finished.

        Without an ``error`` the run keeps its note (e.g. that it was restored by ``restore``).
        """
        if status not in FINISHED:
            raise ValueError(f"{status!r} is not a final status")
        with self._transaction(timeout=COLLECTOR_BUSY_TIMEOUT_S) as db:
            changed = db.execute(
                "UPDATE runs SET status = ?, error = COALESCE(?, error), finished_at = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                (status, error, time.time(), run_id),
            ).rowcount
        return changed == 1

    def fail_active(self, reason: str) -> int:
        """Mark every queued or running run failed: called when a new app process starts,
        since the process that owned them (and their Ray workers) is gone."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE runs SET status = 'failed', error = ?, finished_at = ? "
                "WHERE status IN ('queued', 'running')",
                (reason, time.time()),
            ).rowcount

    def records(self, run_ids: Sequence[int]) -> dict[int, RunRecord]:
        """The rows of these runs and of their groups, kept by the collector for ``restore``."""
        if not run_ids:
            return {}
        marks = ", ".join("?" * len(run_ids))
        with self._transaction() as db:
            runs = db.execute(f"SELECT * FROM runs WHERE id IN ({marks})", list(run_ids))
            runs = [dict(row) for row in runs.fetchall()]
            group_ids = sorted({run["group_id"] for run in runs})
            marks = ", ".join("?" * len(group_ids))
            groups = db.execute(f"SELECT * FROM groups WHERE id IN ({marks})", group_ids)
            groups = {row["id"]: dict(row) for row in groups.fetchall()}
        return {
            r["id"]: RunRecord(groups[r["group_id"]], r) for r in runs if r["group_id"] in groups
        }

    def restore(self, records: Iterable[RunRecord], note: str) -> list[int]:
        """Put runs (as read by ``records``) back into a file that lost them; return the ids of
        those that could not be, because another run or group holds their id.

        Each run keeps its id, so the page's selection and the collector's bookkeeping still
        point at it, and carries ``note`` (shown beside it) until it finishes with an error.
        A run already present with the same creation time (a restored copy of this history)
        is left as it is.
        """
        refused: list[int] = []
        with self._transaction("BEGIN IMMEDIATE", timeout=COLLECTOR_BUSY_TIMEOUT_S) as db:
            for record in records:
                run = {**record.run, "error": note}
                if not _put_back(db, "groups", record.group) or not _put_back(db, "runs", run):
                    refused.append(run["id"])
        return refused

    # --- reads ----------------------------------------------------------------------------

    def groups(self, limit: int = 100, *, kind: str | None = None) -> list[Group]:
        """The newest groups first; ``kind`` ("live" or "sweep") keeps only those."""
        where = "" if kind is None else "WHERE kind = ?"
        args: list[Any] = [] if kind is None else [kind]
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT * FROM groups {where} ORDER BY id DESC LIMIT ?", [*args, limit]
            )
            return [Group(**dict(row)) for row in rows]

    def runs(
        self, *, group_ids: Sequence[int] | None = None, statuses: Sequence[str] | None = None
    ) -> list[Run]:
        clauses, args = [], []
        for column, values in (("group_id", group_ids), ("status", statuses)):
            if values is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._transaction() as db:
            rows = db.execute(f"SELECT * FROM runs {where} ORDER BY id", args).fetchall()
        return [_run(row) for row in rows]

    def run(self, run_id: int) -> Run | None:
        with self._transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def metrics(self, run_ids: Sequence[int]) -> list[MetricRow]:
        """Every point of the runs, run by run, each run's in the order written."""
        return self.metrics_since(run_ids, 0)

    def metrics_since(self, run_ids: Sequence[int], after_id: int) -> list[MetricRow]:
        """The runs' points with an id above ``after_id``, run by run, in the order written.

        A reader that keeps the largest id it has seen gets only what is new on its next call:
        ids only grow (the collector is the one writer and never deletes a point), so no point
        can appear later below an id already read. A read after ``after_id`` scans only the rows
        written since, whatever the runs' length.
        """
        if not run_ids:
            return []
        marks = ", ".join("?" * len(run_ids))
        # From 0, the per-run index. After an id, walk the rows written since in id order and
        # group them by run here: "+run_id" and ORDER BY rowid keep SQLite off the index, which
        # would visit every point the runs ever wrote.
        since = after_id > 0
        order = "rowid" if since else "run_id, rowid"
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT rowid AS id, {_METRIC_COLUMNS} FROM metrics "
                f"WHERE {'+' if since else ''}run_id IN ({marks}) AND rowid > ? ORDER BY {order}",
                [*run_ids, after_id],
            ).fetchall()
        points = [MetricRow(**dict(row)) for row in rows]
        return sorted(points, key=lambda point: point.run_id) if since else points

    def metrics_csv(self, group_ids: Sequence[int]) -> str:
        """Every metric point of the groups, one row each, with the run's optimizer and label."""
        runs = {run.id: run for run in self.runs(group_ids=group_ids)}
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for m in self.metrics(list(runs)):
            run = runs[m.run_id]
            writer.writerow(
                [
                    run.group_id, run.id, run.optimizer, run.label, m.kind, m.iteration,
                    f"{m.epoch:.6g}", repr(m.loss), _blank(m.accuracy), _blank(m.samples_per_s),
                    f"{m.elapsed_s:.3f}",
                ]
            )  # fmt: skip
        return out.getvalue()


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode); None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _put_back(
    db: sqlite3.Connection, table: Literal["groups", "runs"], row: dict[str, Any]
) -> bool:
    """Insert ``row`` with its own id unless a row holds that id: True if that row is this one
    (same creation time), or now is."""
    found = db.execute(f"SELECT created_at FROM {table} WHERE id = ?", (row["id"],)).fetchone()
    if found is not None:
        return bool(found["created_at"] == row["created_at"])
    columns = ", ".join(row)
    db.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )
    return True


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to ``SCHEMA_VERSION`` inside the caller's transaction (all steps or none)."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise NewerSchemaError(
            f"{path} holds run-store schema version {version}, but this optviz knows versions up "
            f"to {len(MIGRATIONS)}: upgrade optviz, or point OPTVIZ_DB at another file."
        )
    if version < len(MIGRATIONS):
        for step in MIGRATIONS[version:]:
            for statement in step:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")  # PRAGMA takes no bound parameters


def _cancel(db: sqlite3.Connection, column: Literal["id", "group_id"], key: int) -> int:
    """Cancel the active runs whose ``column`` is ``key``; return how many were.

    Queued runs end now; running ones get the flag the collector forwards to their worker.
    """
    queued = db.execute(
        "UPDATE runs SET status = 'cancelled', cancel_requested = 1, "
        "error = 'cancelled before it started', finished_at = ? "
        f"WHERE {column} = ? AND status = 'queued'",
        (time.time(), key),
    ).rowcount
    running = db.execute(
        f"UPDATE runs SET cancel_requested = 1 WHERE {column} = ? AND status = 'running'", (key,)
    ).rowcount
    return queued + running


def _active_runs(db: sqlite3.Connection, kind: str) -> int:
    """Queued and running runs of the groups of ``kind``."""
    (count,) = db.execute(
        "SELECT COUNT(*) FROM runs JOIN groups ON groups.id = runs.group_id "
        "WHERE runs.status IN ('queued', 'running') AND groups.kind = ?",
        (kind,),
    ).fetchone()
    return int(count)


def _insert_run(db: sqlite3.Connection, group_id: int, run: NewRun, now: float) -> int:
    return int(
        db.execute(  # type: ignore[arg-type]
            "INSERT INTO runs (group_id, optimizer, label, config, status, total_iterations, "
            "created_at, config_key) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
            (
                group_id,
                run.config.optimizer,
                run.label,
                json.dumps(run.config.to_dict()),
                run.total_iterations,
                now,
                run.config_key,
            ),
        ).lastrowid
    )


def _latest_by_key(db: sqlite3.Connection, group_id: int) -> dict[str, tuple[int, str]]:
    """Config key → (id, status) of the group's latest run with that key."""
    rows = db.execute(
        "SELECT id, config_key, status FROM runs WHERE id IN (SELECT MAX(id) FROM runs "
        "WHERE group_id = ? AND config_key IS NOT NULL GROUP BY config_key)",
        (group_id,),
    ).fetchall()
    return {row["config_key"]: (row["id"], row["status"]) for row in rows}


def _blank(value: float | None) -> str:
    return "" if value is None else repr(value)


def _run(row: sqlite3.Row) -> Run:
    values: dict[str, Any] = dict(row)
    values["config"] = TrainConfig.from_dict(json.loads(values["config"]))
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Run(**values)
