"""The app's local Ray keeps to loopback and to the app's lifetime: every process it starts
listens on 127.0.0.1 only (a connect from the machine's network address is refused), nothing of
it outlives a SIGTERM of the app, and after a SIGKILL the next app marks the dead app's runs
failed and kills what its Ray left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, StreamlitServer, open_app

from optviz.training.config import TrainConfig
from optviz.training.lifecycle import ORPHAN_REASON
from optviz.training.store import NewRun, RunStore

pytestmark = pytest.mark.ray

# Starts the app's local Ray the app's way, in a fresh process (the session's Ray fixture stays
# out of it), with a task run and an actor alive so workers exist; prints its pid and waits for
# stdin to close, then exits normally (atexit: the app's shutdown).
DRIVER = """
import json, os, sys
import ray
from optviz.training.cluster import Settings, ensure_ray

ensure_ray(Settings(max_concurrent_runs=2))

@ray.remote
def pid():
    return os.getpid(), ray.util.get_node_ip_address()

@ray.remote
class Idle:
    def pid(self):
        return os.getpid()

actor = Idle.remote()
task_pid, node_ip = ray.get(pid.remote())
print(json.dumps({"pid": os.getpid(), "node_ip": node_ip,
                  "workers": [task_pid, ray.get(actor.pid.remote())]}), flush=True)
sys.stdin.read()
"""


def poll(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """``predicate()`` once it is truthy, else its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- processes and sockets, from /proc ----------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree(root: int) -> set[int]:
    """``root`` and its descendants (Ray's agents are the raylet's children)."""
    children, found, todo = _children(), set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _listening_sockets() -> dict[int, tuple[str, int]]:
    """inode → (address, port) of every listening TCP socket, IPv4 and IPv6."""
    found = {}
    for family, table in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[int(fields[9])] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    return found


def listeners(pids: set[int]) -> dict[int, list[tuple[str, int]]]:
    """pid → the (address, port) its open sockets listen on, for the processes in ``pids``."""
    sockets, found = _listening_sockets(), {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        inodes = set()
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
        bound = [sockets[inode] for inode in inodes if inode in sockets]
        if bound:
            found[pid] = bound
    return found


def is_loopback(address: str) -> bool:
    if address.startswith("::ffff:"):  # an IPv4 address on an IPv6 socket
        address = address.removeprefix("::ffff:")
    return address.startswith("127.") or address == "::1"


def name(pid: int) -> str:
    """The program a process runs: its whole argv[0] (a path's length depends on the clone's)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return "?"


def network_address() -> str | None:
    """This machine's first non-loopback IPv4 address, read from its interfaces (no traffic)."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    try:
        candidates = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return None
    return next((ip for ip in candidates if not ip.startswith("127.")), None)


# --- item 1: loopback only ----------------------------------------------------------------------


def test_the_local_ray_listens_on_loopback_only_and_refuses_the_network_address(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "OPTVIZ_RAY_NODE_IP")}
    env |= {"RAY_AUTH_MODE": "disabled", "OPTVIZ_DB": str(tmp_path / "runs.db")}
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pids: set[int] = set()
    try:
        assert driver.stdout is not None and driver.stdin is not None
        line = driver.stdout.readline()
        assert line, f"the driver exited ({driver.wait(30)}) before Ray was up"
        started = json.loads(line)
        assert started["node_ip"] == "127.0.0.1"  # what a worker reports as its node's address
        pids = tree(driver.pid)
        assert set(started["workers"]) <= pids
        names = {name(pid) for pid in pids}
        assert {"gcs_server", "raylet"} <= {Path(n).name for n in names}, names
        assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names

        bound = listeners(pids)
        # the driver's own gRPC server, the GCS, the raylet's two, each worker's, the env agent
        assert driver.pid in bound and all(pid in bound for pid in started["workers"]), bound
        wide = {
            f"{pid} {name(pid)}": addresses
            for pid, addresses in bound.items()
            if not all(is_loopback(address) for address, _ in addresses)
        }
        assert wide == {}, f"listening beyond loopback: {wide}"

        lan = network_address()
        if lan is not None:  # without one there is nothing to connect from
            accepted = []
            for pid, addresses in bound.items():
                for _, port in addresses:
                    try:
                        with socket.create_connection((lan, port), timeout=2):
                            accepted.append(f"{lan}:{port} ({name(pid)})")
                    except ConnectionRefusedError:
                        pass
            assert accepted == [], f"connects from the network address succeeded: {accepted}"

        driver.stdin.close()  # the app exits normally: its shutdown stops Ray
        assert driver.wait(timeout=60) == 0
        assert still_alive(pids, within=10) == []
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


def still_alive(pids: set[int] | list[int], within: float) -> list[str]:
    """The processes of ``pids`` still alive once they all died or ``within`` seconds passed."""
    poll(lambda: not any(alive(pid) for pid in pids), within)
    return [f"{pid} {name(pid)}" for pid in pids if alive(pid)]


# --- item 5: nothing outlives the app; a restart cleans up after a crash --------------------------

# A warm RunWorker exists only once `ensure_ray` has returned (its session is claimed by then).
RAY_PROCESSES = {"raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent"}
RAY_UP = RAY_PROCESSES | {"ray::RunWorker"}


def ray_started(server: StreamlitServer) -> set[int]:
    """The server's process tree once its local Ray (GCS, raylet, both agents) and a warm
    worker are up."""

    def up() -> set[int]:
        pids = tree(server.process.pid)
        return pids if RAY_UP <= {Path(name(pid)).name for pid in pids} else set()

    pids = poll(up, timeout=120)
    assert pids, f"the Live MNIST page did not start Ray:\n{server.log()}"
    return pids


def test_sigterm_of_the_app_ends_it_and_every_process_of_its_tree_within_10_s(
    streamlit_server: Callable[..., StreamlitServer], page: Any
) -> None:
    server = streamlit_server()
    open_app(page, server.url, "mnist")  # the page starts Ray and warm workers
    # The app and its tree (GCS, raylet, agents, workers), and whatever else carries its marker.
    pids = ray_started(server) | set(server.marked_pids())
    os.kill(server.process.pid, signal.SIGTERM)  # the app process only, as `docker stop` does
    left = still_alive(pids, within=10)
    assert left == [], f"alive 10 s after SIGTERM: {left}\n{server.log()}"
    # Its server (uvicorn) re-raises the SIGTERM it handled once its lifespan has shut Ray down,
    # so the app ends by that signal.
    assert server.process.wait(timeout=1) in (0, -signal.SIGTERM), server.log()


def store_status(db: Path, run_id: int) -> tuple[str, str | None]:
    """Read straight from the file, as any other reader of the store would."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
        row = connection.execute("SELECT status, error FROM runs WHERE id = ?", (run_id,))
        return row.fetchone()


def test_after_a_sigkill_the_next_app_fails_the_dead_apps_runs_and_kills_its_leftovers(
    streamlit_server: Callable[..., StreamlitServer], page: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"  # the fixture's default store, shared by both servers
    crashed = streamlit_server()
    open_app(page, crashed.url, "mnist")
    pids = ray_started(crashed)
    os.kill(crashed.process.pid, signal.SIGKILL)
    crashed.process.wait(timeout=10)
    leftovers = [pid for pid in pids if alive(pid)]  # Ray's agents linger for about a minute

    # A run the dead app was training, as its store shows it. Written after the kill, so the
    # dead app's collector cannot have picked it up.
    store = RunStore(db)
    config = TrainConfig(model="logreg", optimizer="adam", epochs=1)
    _, (run_id,) = store.create_group("logreg", "crashed", "test", [NewRun("adam", config, 20)])
    assert store.mark_running(run_id, device="cpu", node_id="n", node_ip="127.0.0.1", pid=1)

    restarted = streamlit_server()  # and no page is opened: the app's lifespan recovers
    answered = time.monotonic()
    failed = poll(
        lambda: store_status(db, run_id)[0] == "failed", 5 - (time.monotonic() - answered)
    )
    assert failed, f"still {store_status(db, run_id)} 5 s after the server answered"
    assert store_status(db, run_id) == ("failed", ORPHAN_REASON)
    assert still_alive(leftovers, within=5) == [], restarted.log()
