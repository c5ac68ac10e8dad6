"""What an app process cleans up from the one before it, and from itself when it exits.

A local Ray's processes carry ``OPTVIZ_RAY_OWNER=<pid>:<start time>`` of the app process that
started them (``ensure_ray`` sets it while ``ray.init`` spawns them; everything Ray starts later
inherits it). That tag tells an app's leftovers from anything else on the machine, and a dead
owner from a live one even after its pid has been reused:

- ``recover_previous_app`` (once per app process, on the first script run of any page): runs the
  store still shows ``queued``/``running`` are marked failed, since their workers belonged to a
  previous app, and processes whose owner is dead are killed. A SIGKILLed app cannot clean up
  after itself, and Ray's agents then linger for about a minute trying to report to a GCS that
  died with it.
- ``reap_own`` (at exit, after ``ray.shutdown``): whatever this app's Ray left running.

Linux only (``/proc``); elsewhere the process part does nothing. No Ray import here: the
explorer page runs this too and must not pay for Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from optviz.training.data import default_data_dir
from optviz.training.store import RunStore

log = logging.getLogger(__name__)

OWNER_VAR = "OPTVIZ_RAY_OWNER"
ORPHAN_REASON = "app restarted: its worker belonged to a previous app"
PROC = Path("/proc")


def default_db_path() -> Path:
    """``OPTVIZ_DB``, default ``runs.db`` in the data directory."""
    configured = os.environ.get("OPTVIZ_DB")
    return Path(configured) if configured else default_data_dir() / "runs.db"


def process_token(pid: int) -> str | None:
    """``"<pid>:<start time>"``, which no later process with the same pid shares; None if the
    process is gone or there is no ``/proc``."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22 is the start time in clock ticks since boot; the command name (field 2) may hold
    # spaces and parentheses, so count from its closing parenthesis.
    return f"{pid}:{stat.rsplit(')', 1)[1].split()[19]}"


def _tagged_processes() -> Iterator[tuple[int, str]]:
    """``(pid, owner token)`` of every process we may read that carries ``OWNER_VAR``."""
    prefix = f"{OWNER_VAR}=".encode()
    if not PROC.is_dir():
        return
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                yield int(entry.name), item[len(prefix) :].decode(errors="replace")
                break


def _owner_alive(token: str) -> bool:
    pid, _, _ = token.partition(":")
    return pid.isdigit() and process_token(int(pid)) == token


def _kill(pids: list[int], grace: float) -> None:
    """SIGTERM, then SIGKILL whatever is still there after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def reap_leftovers(grace: float = 0.0) -> list[int]:
    """Kill the processes of local Rays whose app process is dead; return their pids."""
    pids = [pid for pid, owner in _tagged_processes() if not _owner_alive(owner)]
    if pids:
        log.warning("killing %d process(es) a previous app's Ray left behind", len(pids))
        _kill(pids, grace)
    return pids


def reap_own(grace: float = 2.0) -> list[int]:
    """Kill what this process's local Ray left running (call after ``ray.shutdown``)."""
    me = process_token(os.getpid())
    pids = [pid for pid, owner in _tagged_processes() if me is not None and owner == me]
    if pids:
        _kill(pids, grace)
    return pids


def recover_previous_app(db_path: Path | None = None) -> int:
    """Fail the runs a previous app process left active and kill its Ray's leftovers.

    Returns the number of runs marked failed. A store that does not exist yet is left alone
    (opening the explorer must not create one).
    """
    reap_leftovers()
    path = Path(db_path or default_db_path())
    if not path.exists():
        return 0
    orphans = RunStore(path).fail_active(ORPHAN_REASON)
    if orphans:
        log.warning("marked %d run(s) left by a previous app process as failed", orphans)
    return orphans
