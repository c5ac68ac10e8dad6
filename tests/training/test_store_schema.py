"""Run-store files outlive the code: a file written before schema versions keeps its history and
is stamped version 1, later steps upgrade old files in order and all at once, and a file from a
newer optviz is refused instead of misread."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from optviz.training import store as store_module
from optviz.training.loop import Metric
from optviz.training.store import SCHEMA_VERSION, NewerSchemaError, NewRun, RunStore
from training.support import QUICK

# Version 1 exactly as optviz wrote it before files carried a version (user_version 0): this text
# is what is on users' volumes, so it is frozen here and never edited along with the code.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    description TEXT NOT NULL,
    data_source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
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
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs(group_id);
CREATE TABLE IF NOT EXISTS metrics (
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
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, kind, iteration);
"""

V1_CONFIG = (
    '{"model": "logreg", "optimizer": "adam", "hyperparams": {}, "epochs": 1, "batch_size": 50, '
    '"train_subset": 1000, "test_subset": 500, "dropout": 0.0, "seed": 0, "device": "auto", '
    '"eval_every": 0, "log_every": 5}'
)  # json.dumps(QUICK.to_dict()) as version 1 stored it


def write_v1_file(path: Path) -> Path:
    """A store file made the way version 1 made it, holding one finished run and its metrics."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(V1_SCHEMA)
        db.execute(
            "INSERT INTO groups (created_at, model, description, data_source) "
            "VALUES (1700000000.0, 'logreg', 'Logistic regression, 1 epoch(s)', 'IDX files')"
        )
        db.execute(
            "INSERT INTO runs (group_id, optimizer, label, config, status, device, node_id, "
            "node_ip, pid, iteration, total_iterations, samples_per_s, best_accuracy, created_at, "
            "started_at, finished_at) VALUES (1, 'adam', 'Adam', ?, 'done', 'cpu', 'n1', "
            "'127.0.0.2', 42, 20, 20, 900.0, 0.85, 1700000000.0, 1700000001.0, 1700000009.0)",
            (V1_CONFIG,),
        )
        db.executemany(
            "INSERT INTO metrics VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1700000005.0, 1700000005.1)",
            [
                ("test", 0, 0.0, 2.30, 0.10, None, 0.5),
                ("train", 20, 1.0, 0.61, None, 900.0, 8.0),
                ("test", 20, 1.0, 0.52, 0.85, None, 8.5),
            ],
        )
        db.commit()
    return path


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def columns(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def shape(path: Path) -> dict[str, list[tuple]]:
    """Every table's and index's columns (name, type, not null, default, key), whitespace aside."""
    with closing(sqlite3.connect(path)) as db:
        names = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
        return {
            name: db.execute(
                f"PRAGMA {'table' if kind == 'table' else 'index'}_xinfo({name})"
            ).fetchall()
            for kind, name in names
        }


def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "runs.db"
    RunStore(path)
    assert user_version(path) == SCHEMA_VERSION == 2
    assert "cancel_requested" in columns(path, "runs")
    assert {"kind", "sweep_key"} <= set(columns(path, "groups"))
    assert "config_key" in columns(path, "runs")


def test_a_file_written_before_versions_keeps_its_history_and_becomes_current(
    tmp_path: Path,
) -> None:
    path = write_v1_file(tmp_path / "runs.db")
    assert user_version(path) == 0

    store = RunStore(path)
    assert user_version(path) == SCHEMA_VERSION
    run = store.run(1)
    assert run is not None
    assert (run.status, run.label, run.device, run.pid, run.iteration) == (
        "done",
        "Adam",
        "cpu",
        42,
        20,
    )
    assert (run.samples_per_s, run.best_accuracy) == (900.0, 0.85)
    assert run.config == QUICK
    assert [(m.kind, m.iteration, m.loss) for m in store.metrics([1])] == [
        ("test", 0, 2.30),
        ("train", 20, 0.61),
        ("test", 20, 0.52),
    ]
    assert [g.description for g in store.groups()] == ["Logistic regression, 1 epoch(s)"]
    # …and it keeps working as a store: new runs go in after the old ones.
    _, (new_run,) = store.create_group("logreg", "after", "IDX files", [NewRun("SGD", QUICK, 20)])
    store.add_metrics(new_run, [Metric("test", 0, 0.0, 2.3, accuracy=0.1)])
    assert new_run == 2 and len(store.metrics([1, 2])) == 4


def test_an_upgraded_old_file_and_a_new_file_have_the_same_tables(tmp_path: Path) -> None:
    RunStore(write_v1_file(tmp_path / "old.db"))
    RunStore(tmp_path / "new.db")
    assert shape(tmp_path / "old.db") == shape(tmp_path / "new.db")
    assert {"groups", "runs", "metrics", "metrics_by_run"} <= set(shape(tmp_path / "new.db"))


def test_opening_an_old_file_applies_every_later_step_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_v1_file(tmp_path / "runs.db")
    steps = [
        *store_module.MIGRATIONS,
        ("ALTER TABLE runs ADD COLUMN note TEXT",),  # 2 → 3
        ("UPDATE runs SET note = 'seen by step 4: ' || label",),  # 3 → 4 needs step 3's column
    ]
    monkeypatch.setattr(store_module, "MIGRATIONS", steps)

    RunStore(path)
    assert user_version(path) == 4
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT note, status FROM runs").fetchall() == [
            ("seen by step 4: Adam", "done")
        ]
        assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 3


def test_a_step_that_fails_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.db"
    RunStore(path)
    broken = ("ALTER TABLE runs ADD COLUMN note TEXT", "INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, broken])

    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        RunStore(path)
    assert user_version(path) == SCHEMA_VERSION
    assert "note" not in columns(path, "runs")  # the first statement of the step was undone too


def test_a_file_from_a_newer_optviz_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    RunStore(path)
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    # A sqlite3.DatabaseError, so the page shows it where it shows a file it cannot open.
    newer = (
        f"schema version {SCHEMA_VERSION + 1}, but this optviz knows versions up to "
        f"{SCHEMA_VERSION}"
    )
    with pytest.raises(NewerSchemaError, match=newer) as error:
        RunStore(path)
    assert isinstance(error.value, sqlite3.DatabaseError)
    assert "OPTVIZ_DB" in str(error.value)
    assert user_version(path) == SCHEMA_VERSION + 1


def test_a_version_1_history_becomes_live_groups_and_a_sweep_can_join_it(tmp_path: Path) -> None:
    """Step 1 → 2 (sweeps): the old groups are Live MNIST groups with no keys, the Live page's
    cap counts them, and a sweep opened in the upgraded file is a group of its own."""
    store = RunStore(write_v1_file(tmp_path / "runs.db"))
    (old,) = store.groups()
    assert (old.kind, old.sweep_key) == ("live", None)
    assert store.run(1).config_key is None  # type: ignore[union-attr]
    opened = store.open_sweep(
        "k1", "logreg", "a sweep", "IDX files", [NewRun("Adam", QUICK, 20, "c1")], max_active=4
    )
    assert opened.group_id == 2 and opened.created and list(opened.queued) == ["c1"]
    assert [g.kind for g in store.groups()] == ["sweep", "live"]
    assert [g.id for g in store.groups(kind="live")] == [1]
    assert store.sweep_group("k1").id == 2  # type: ignore[union-attr]
