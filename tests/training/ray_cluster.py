"""A Ray cluster of loopback nodes on this machine, for the multi-node tests and benchmarks.

Each node is ``ray start --block`` in a temporary directory of its own, stopped by signalling
that command, which takes down exactly the processes it started (``ray stop`` would kill every
Ray process on the machine, including other people's); what is left is found by its directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


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


@contextmanager
def loopback_cluster(nodes: Sequence[tuple[str, int]], cpus: int = 1) -> Iterator[str]:
    """``nodes``: (loopback IP, GPUs) each, the first the head; each with ``cpus`` CPUs.
    Yields the head's address. Token auth is off: Ray refused a second node with it here, even
    with the same token (docs/deploy.md documents tokens for real clusters)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAY_ADDRESS", None)
    temp_dirs = [Path(tempfile.mkdtemp(prefix="ovr-", dir="/tmp")) for _ in nodes]
    head_ip = nodes[0][0]
    port = free_port(head_ip)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index, ((ip, gpus), temp_dir) in enumerate(zip(nodes, temp_dirs, strict=True)):
            if index == 0:
                args = ["--head", f"--port={port}", "--include-dashboard=false"]
            else:
                args = [f"--address={head_ip}:{port}"]
            command = [
                RAY, "start", *args, f"--node-ip-address={ip}", f"--num-gpus={gpus}",
                f"--temp-dir={temp_dir}", f"--num-cpus={cpus}", "--block",
            ]  # fmt: skip
            with (temp_dir / "start.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            if index == 0:  # the head writes its address file once it is up
                deadline = time.monotonic() + 90
                while not (temp_dir / "ray_current_cluster").exists():
                    assert processes[0].poll() is None, (temp_dir / "start.log").read_text()
                    assert time.monotonic() < deadline, "the Ray head did not start"
                    time.sleep(0.2)
        yield f"{head_ip}:{port}"
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
