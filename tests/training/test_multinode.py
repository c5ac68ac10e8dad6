"""Two Ray nodes on one machine (loopback addresses): a run that asks for a GPU executes on the
node that has one, its node is recorded in the store, and it falls back to CPU inside because
this machine has no CUDA.

The cluster is started with ``ray start --block`` in temporary directories of its own and
stopped by signalling those two commands, which take down exactly the processes they started:
``ray stop`` would kill every Ray process on the machine, including other people's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from optviz.training.store import RunStore

pytestmark = pytest.mark.ray

REPO_ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
HEAD_IP, GPU_NODE_IP = "127.0.0.2", "127.0.0.3"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (our temporary directories)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def two_node_cluster() -> Iterator[str]:
    """A head on 127.0.0.2 (no GPU) and a node on 127.0.0.3 declaring one GPU; yields the
    address. Token auth is off: Ray refused the second node with it here, even with the same
    token (docs/deploy.md documents tokens for real clusters)."""
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("RAY_ADDRESS", None)
    temp_dirs = [Path(tempfile.mkdtemp(prefix="ovr-", dir="/tmp")) for _ in range(2)]
    port = free_port(HEAD_IP)
    head = ["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", "--num-gpus=0"]
    gpu_node = [f"--address={HEAD_IP}:{port}", f"--node-ip-address={GPU_NODE_IP}", "--num-gpus=1"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for args, temp_dir in zip((head, gpu_node), temp_dirs, strict=True):
            command = [RAY, "start", *args, f"--temp-dir={temp_dir}", "--num-cpus=1", "--block"]
            if args is head:
                command.append("--include-dashboard=false")
            with (temp_dir / "start.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            if args is head:  # the head writes its address file once it is up
                deadline = time.monotonic() + 90
                while not (temp_dir / "ray_current_cluster").exists():
                    assert processes[0].poll() is None, (temp_dir / "start.log").read_text()
                    assert time.monotonic() < deadline, "the Ray head did not start"
                    time.sleep(0.2)
        yield f"{HEAD_IP}:{port}"
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for temp_dir in temp_dirs:
            for pid in pids_mentioning(str(temp_dir)):  # only processes of this cluster
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_run_asking_for_a_gpu_executes_on_the_gpu_node_and_falls_back_to_cpu(
    two_node_cluster: str, small_mnist_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    env = {
        **os.environ,
        "RAY_ADDRESS": two_node_cluster,
        "OPTVIZ_RAY_NODE_IP": HEAD_IP,  # the app host is the head's machine
        "RAY_AUTH_MODE": "disabled",
        "OPTVIZ_DB": str(db),
        "OPTVIZ_DATA_DIR": str(small_mnist_dir),
        "OPTVIZ_MNIST_DOWNLOAD": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
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
