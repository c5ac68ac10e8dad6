"""Two Ray nodes on one machine (loopback addresses, ``training.ray_cluster``): a run that asks
for a GPU executes on the node that has one, its node is recorded in the store, and it falls
back to CPU inside because this machine has no CUDA; a sweep's runs spread over both nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optviz.training.store import RunStore
from training.ray_cluster import REPO_ROOT, loopback_cluster

pytestmark = pytest.mark.ray

HEAD_IP, GPU_NODE_IP = "127.0.0.2", "127.0.0.3"
SECOND_IP = GPU_NODE_IP


@pytest.fixture
def two_node_cluster() -> Iterator[str]:
    """A head on 127.0.0.2 (no GPU) and a node on 127.0.0.3 declaring one GPU, one CPU each;
    yields the address."""
    with loopback_cluster([(HEAD_IP, 0), (GPU_NODE_IP, 1)]) as address:
        yield address


@pytest.fixture
def two_cpu_nodes() -> Iterator[str]:
    """Two nodes of one CPU and no GPU (127.0.0.2, 127.0.0.3); yields the address."""
    with loopback_cluster([(HEAD_IP, 0), (SECOND_IP, 0)]) as address:
        yield address


def driver_env(address: str, db: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RAY_ADDRESS": address,
        "OPTVIZ_RAY_NODE_IP": HEAD_IP,  # the app host is the head's machine
        "RAY_AUTH_MODE": "disabled",
        "OPTVIZ_DB": str(db),
        "OPTVIZ_DATA_DIR": str(data_dir),
        "OPTVIZ_MNIST_DOWNLOAD": "0",
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }


def test_a_run_asking_for_a_gpu_executes_on_the_gpu_node_and_falls_back_to_cpu(
    two_node_cluster: str, small_mnist_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    env = driver_env(two_node_cluster, db, small_mnist_dir)
    driver = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("multinode_driver.py"))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert driver.returncode == 0, driver.stdout + driver.stderr[-3000:]
    report = json.loads(driver.stdout.strip().splitlines()[-1])
    assert set(report["nodes"]) == {HEAD_IP, GPU_NODE_IP}
    assert "2 node(s)" in report["ray"] and "1 GPUs" in report["ray"]

    run = RunStore(db).run(report["run_id"])
    assert run is not None
    assert run.status == "done", run.error
    assert run.node_ip == GPU_NODE_IP
    assert run.node_id == report["nodes"][GPU_NODE_IP]
    assert run.device is not None and run.device.startswith("cpu")
    assert "GPU" in run.device  # says that Ray gave it a GPU that torch could not use


def test_a_sweeps_runs_spread_over_both_nodes(
    two_cpu_nodes: str, small_mnist_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    # Each run asks for one CPU (the default with RAY_ADDRESS), and the collector's default of
    # four concurrent runs is more than the two CPUs: two new workers wait for a CPU, which a
    # finished run's worker gives back (``Collector._workers_waiting``).
    env = driver_env(two_cpu_nodes, db, small_mnist_dir)
    env.pop("OPTVIZ_MAX_CONCURRENT_RUNS", None)
    driver = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("sweep_driver.py")), "--runs", "6"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,  # far below IDLE_WORKER_TTL_S: idle workers must not hold the CPUs
    )
    assert driver.returncode == 0, driver.stdout + driver.stderr[-3000:]
    report = json.loads(driver.stdout.strip().splitlines()[-1])
    assert "2 node(s)" in report["ray"]
    store = RunStore(db)
    group = store.sweep_group(report["sweep"])
    assert group is not None and group.kind == "sweep"
    runs = store.runs(group_ids=[group.id])
    assert len(runs) == 6 and {r.status for r in runs} == {"done"}, [r.error for r in runs]
    assert {r.node_ip for r in runs} == {HEAD_IP, SECOND_IP}
    assert {r.node_id for r in runs} == set(report["nodes"].values())
