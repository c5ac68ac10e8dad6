"""The run store failing under a live collector: points and final statuses written late are not
lost, a deleted history file is recreated with the runs in progress put back, and an outage
logs a few tracebacks, not one per round.

"Unwritable" is another program holding SQLite's write lock (``BEGIN EXCLUSIVE``), which is what
a backup tool or an open ``sqlite3`` shell does; file permissions would not stop a root process.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from optviz.training import cluster
from optviz.training.cluster import Collector, submit_group
from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.store import NewRun, RunStore
from training.support import QUICK, wait_until

MakeCollector = Callable[..., Collector]
PAGE = Path(__file__).resolve().parents[2] / "pages" / "mnist.py"

# 10 000 logistic-regression iterations: still training while a test breaks the store, and
# cancelled by the test once it has seen what it needs.
STEADY = TrainConfig(
    model="logreg", optimizer="adam", epochs=50, batch_size=10, train_subset=2_000,
    test_subset=500,
)  # fmt: skip


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another program holds the store's write lock until the block ends (reads still work)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


def submit(store: RunStore, data: Mnist, config: TrainConfig) -> int:
    return submit_group(store, data, [(config.optimizer, config)], "test")[1][0]


def stored_iteration(store: RunStore, run_id: int) -> int:
    run = store.run(run_id)
    return run.iteration if run else 0


def hold_until(condition: Callable[[], bool], at_least: float, timeout: float = 60.0) -> float:
    """Keep going until ``condition()`` holds and ``at_least`` seconds passed; return the time."""
    start = time.monotonic()
    wait_until(lambda: condition() and time.monotonic() - start >= at_least, timeout=timeout)
    return time.monotonic() - start


def assert_no_gaps(store: RunStore, run_id: int) -> list[int]:
    """Every logged training point is in the store: none further apart than ``log_every``."""
    run = store.run(run_id)
    assert run is not None
    iterations = sorted(p.iteration for p in store.metrics([run_id]) if p.kind == "train")
    steps = [b - a for a, b in zip([0, *iterations], iterations, strict=False)]
    assert iterations and max(steps) <= run.config.log_every, f"gap of {max(steps)} iterations"
    assert iterations[-1] == run.iteration
    return iterations


def finish_by_cancelling(store: RunStore, run_id: int) -> str:
    """Cancel the run and return the final status the store records: "cancelled", or "done" when
    a fast machine finished the run before the cancel reached it."""
    store.request_cancel(run_id)
    wait_until(lambda: not store.run(run_id).active, timeout=60)  # type: ignore[union-attr]
    return store.run(run_id).status  # type: ignore[union-attr]


# --- the store alone --------------------------------------------------------------------------


def submit_group_rows(store: RunStore) -> tuple[int, list[int]]:
    return store.create_group("logreg", "test", "digits", [NewRun("Adam", QUICK, 20)] * 2)


def test_a_deleted_history_file_is_recreated_at_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = RunStore(path)
    submit_group_rows(store)
    path.unlink()
    assert store.runs() == [] and store.groups() == []  # not "no such table"
    assert store.generation == 1
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_runs_put_back_into_a_new_file_keep_their_ids_and_say_why(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = RunStore(path)
    group_id, run_ids = submit_group_rows(store)
    records = store.records(run_ids)
    path.unlink()

    assert store.restore(records.values(), "history replaced") == []
    assert [(r.id, r.group_id, r.status, r.error) for r in store.runs()] == [
        (run_id, group_id, "queued", "history replaced") for run_id in run_ids
    ]
    assert store.restore(records.values(), "again") == []  # already there: left alone
    assert store.finish(run_ids[0], "done")
    assert store.run(run_ids[0]).error == "history replaced"  # type: ignore[union-attr]


def test_a_run_whose_id_another_history_holds_is_not_put_back(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = RunStore(path)
    _, run_ids = submit_group_rows(store)
    records = store.records(run_ids)
    other = tmp_path / "other.db"
    RunStore(other).create_group("mlp", "someone else's", "digits", [NewRun("SGD", QUICK, 20)])
    other.replace(path)

    assert store.restore(records.values(), "replaced") == run_ids
    assert [r.label for r in store.runs()] == ["SGD"]


# --- a live collector on a real Ray -----------------------------------------------------------


@pytest.mark.ray
def test_points_logged_while_the_store_is_locked_are_saved_after_it_is_released(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    store = collector.store
    run_id = submit(store, small_mnist, STEADY)
    wait_until(lambda: stored_iteration(store, run_id) >= 50)

    locked_at = time.time()
    with write_locked(store.path):
        frozen = stored_iteration(store, run_id)
        hold_until(lambda: collector.state.error is not None, at_least=2.0)
        assert "run history is unavailable" in (collector.state.error or "")
        assert stored_iteration(store, run_id) == frozen  # nothing was written meanwhile
    released_at = time.time()

    wait_until(lambda: stored_iteration(store, run_id) > frozen + 50)
    wait_until(lambda: collector.state.error is None)  # the banner goes once a round succeeds
    assert finish_by_cancelling(store, run_id) in ("cancelled", "done")
    assert_no_gaps(store, run_id)
    during = [p for p in store.metrics([run_id]) if locked_at < p.emitted_at < released_at]
    assert len(during) >= 5, "the worker kept training while the store was locked"


@pytest.mark.ray
def test_a_run_that_ends_while_the_store_is_locked_gets_its_status_and_points(
    make_collector: MakeCollector, small_mnist: Mnist
) -> None:
    collector = make_collector()
    store = collector.store
    collector.warm_up()
    wait_until(lambda: collector.warm_workers == 2)
    run_id = submit(store, small_mnist, QUICK)

    with write_locked(store.path):
        # The collector has let go of the worker: the run ended, and nothing could be written.
        hold_until(lambda: collector.live_runs == 0 and bool(collector.state.error), 0.0)
        assert store.run(run_id).status in ("queued", "running")  # type: ignore[union-attr]

    wait_until(lambda: store.run(run_id).status == "done")  # type: ignore[union-attr]
    run = store.run(run_id)
    assert run is not None and run.iteration == run.total_iterations and run.pid
    assert_no_gaps(store, run_id)
    assert {p.kind for p in store.metrics([run_id])} == {"train", "test"}


@pytest.mark.ray
def test_a_long_outage_logs_three_tracebacks_then_a_line_when_it_ends(
    make_collector: MakeCollector, small_mnist: Mnist, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="optviz")
    collector = make_collector()
    store = collector.store
    run_id = submit(store, small_mnist, STEADY)
    wait_until(lambda: stored_iteration(store, run_id) >= 20)

    banner_gone = []
    with write_locked(store.path):
        wait_until(lambda: collector.state.error)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:  # the page's banner stays for the whole outage
            banner_gone.append(collector.state.error is None)
            time.sleep(0.1)
    assert not any(banner_gone)

    wait_until(lambda: collector.state.error is None)
    ours = [r for r in caplog.records if r.name.startswith("optviz")]
    tracebacks = [r for r in ours if r.exc_info]
    assert 1 <= len(tracebacks) <= 3, [r.getMessage() for r in ours]
    assert any("recovered after" in r.getMessage() for r in ours)
    assert finish_by_cancelling(store, run_id) in ("cancelled", "done")
    assert_no_gaps(store, run_id)


@pytest.mark.ray
def test_a_history_file_deleted_mid_run_is_recreated_and_the_page_and_start_still_work(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    small_mnist_dir: Path,
    small_mnist: Mnist,
    ray_session: str,
) -> None:
    path = tmp_path / "runs.db"
    monkeypatch.setenv("OPTVIZ_DB", str(path))
    monkeypatch.setenv("OPTVIZ_DATA_DIR", str(small_mnist_dir))
    monkeypatch.setenv("OPTVIZ_MAX_CONCURRENT_RUNS", "2")
    try:
        collector = cluster.get_collector()
        store = collector.store
        run_id = submit(store, small_mnist, STEADY)
        wait_until(lambda: stored_iteration(store, run_id) >= 20)

        for name in ("runs.db", "runs.db-wal", "runs.db-shm"):  # `rm runs.db*`
            (tmp_path / name).unlink(missing_ok=True)
        # The collector notices on its own (nothing else touches the store meanwhile).
        wait_until(lambda: any("deleted or replaced" in w for w in collector.state.warnings), 5)
        run = store.run(run_id)
        assert run is not None and run.status == "running" and "replaced" in (run.error or "")
        wait_until(lambda: stored_iteration(store, run_id) > 0)  # its points go to the new file

        app = AppTest.from_file(str(PAGE), default_timeout=120).run()
        assert not app.exception
        assert any("deleted or replaced" in w.value for w in app.warning)
        table = app.dataframe[0].value
        assert list(table["Run"]) == [f"#{run_id}"] and "replaced" in table["Note"][0]

        app.multiselect(key="mnist_optimizers").set_value(["sgd"]).run()
        app.number_input(key="mnist_epochs").set_value(1).run()
        app.number_input(key="mnist_subset").set_value(1_000).run()
        app.button(key="mnist_start").click().run()
        assert not app.exception and not app.error
        (new_run,) = [r for r in store.runs() if r.id != run_id]
        wait_until(lambda: store.run(new_run.id).status == "done")  # type: ignore[union-attr]

        assert finish_by_cancelling(store, run_id) in ("cancelled", "done")
        iterations = sorted(p.iteration for p in store.metrics([run_id]) if p.kind == "train")
        assert iterations and iterations[-1] == stored_iteration(store, run_id)
    finally:
        cluster.close_collectors()
