"""What an app process cleans up from the one before it, and from itself when it exits.

``ensure_ray`` writes this process's identity (``<pid>:<start time>``, which no later process
with the same pid shares) into its local Ray's session directory as ``OWNER_FILE``. Every process
of that Ray (GCS, raylet, workers, the agents) keeps log files open in that directory, which is
how they are found again: not by environment (Ray's agents overwrite theirs with their process
title) and not by parent (they are re-parented once the raylet dies). So:

- ``recover_previous_app`` (once per app process, as it starts: ``app.py``'s lifespan): runs the
  store still shows ``queued``/``running`` are marked failed, since their workers belonged to a
  previous app, and processes of a Ray whose owner is dead are killed. A SIGKILLed app cannot
  clean up after itself, and Ray's agents then linger for about a minute trying to report to a
  GCS that died with it.
- ``reap_own`` (at exit, after ``ray.shutdown``): whatever of this app's Ray is still running.

Linux only (``/proc``); elsewhere the process part does nothing. No Ray import here: the
explorer page runs this too and must not pay for Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from optviz.training.data import default_data_dir
from optviz.training.store import RunStore

log = logging.getLogger(__name__)

OWNER_FILE = "optviz_owner"
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


def claim_session(session_dir: Path) -> None:
    """Mark a local Ray's session directory as this process's (``ensure_ray`` calls it)."""
    token = process_token(os.getpid())
    if token:
        (session_dir / OWNER_FILE).write_text(token)


def _session_of(path: str) -> Path | None:
    """The Ray session directory (``…/session_<date>_<pid>``) a file path lies in, if any."""
    parts = Path(path).parts
    for index, part in enumerate(parts):
        if part.startswith("session_") and part != "session_latest":
            return Path(*parts[: index + 1])
    return None


def _session_processes() -> dict[Path, list[int]]:
    """Session directory → the processes (ours to read) holding a file open in it."""
    found: dict[Path, list[int]] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        sessions = set()
        with contextlib.suppress(OSError):  # gone, or another user's
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    session = _session_of(os.readlink(fd))
                    if session is not None:
                        sessions.add(session)
        for session in sessions:
            found.setdefault(session, []).append(int(entry.name))
    return found


def _owner(session: Path) -> str | None:
    try:
        return (session / OWNER_FILE).read_text().strip()
    except OSError:
        return None  # not an optviz app's Ray: never ours to kill


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
    pids = sorted(
        {
            pid
            for session, members in _session_processes().items()
            if (owner := _owner(session)) is not None and not _owner_alive(owner)
            for pid in members
        }
    )
    if pids:
        log.warning("killing %d process(es) a previous app's Ray left behind", len(pids))
        _kill(pids, grace)
    return pids


def reap_own(grace: float = 2.0) -> list[int]:
    """Kill what this process's local Ray left running (call after ``ray.shutdown``)."""
    me = process_token(os.getpid())
    pids = sorted(
        {
            pid
            for session, members in _session_processes().items()
            if me is not None and _owner(session) == me
            for pid in members
        }
    )
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
