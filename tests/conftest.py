"""Shared test fixtures: a real `streamlit run app.py` server and a real headless Chromium.

Servers
    app_server            session fixture: base URL ("http://127.0.0.1:PORT") of one server for the
                          whole session, with its own temporary OPTVIZ_DB and OPTVIZ_DATA_DIR.
    app_server_process    the same server as a `StreamlitServer` (for `.log()` in failure messages).
    streamlit_server      function fixture: a factory `streamlit_server(env=None, **kwargs)` that
                          starts a server of your own (e.g. with a custom env) and stops it after
                          the test. Returns a `StreamlitServer` (`.url`, `.log()`, `.stop()`, ...).
    start_streamlit(...)  the same without a fixture; call `.stop()` yourself.

Browser (tests that use these are marked `browser` automatically)
    browser               session fixture: Debian's Chromium driven by Playwright's sync API.
    page                  function fixture: a fresh context (1400×900) whose page records JS errors,
                          requests, URLs and Streamlit script runs (read off the app's WebSocket).

Markers: `browser` as above; `ray` for tests that use a Ray fixture (added here too) and for
tests that open a page of RAY_PAGES (the `page` fixture fails such a test left unmarked).
`-m "not browser and not ray"` is the fast core.

Page helpers (import them: `from conftest import open_app, move_slider, ...`)
    open_app(page, url, path="")         go to a page of the app and wait until its script run,
                                         and any rerun it asks for, is shown.
    wait_for_idle(page, after=None)      wait until the last full script run finished with no
                                         rerun to follow and is shown (given a `script_runs`
                                         marker, a run newer than it); fragment runs, such as a
                                         `st.fragment(run_every=...)` polling, do not hold it up.
    script_runs(page) / expect_rerun(page)   the marker, and `with expect_rerun(page): click()`.
    move_slider(page, label, presses)    focus a slider by its label and press arrow keys, one
                                         rerun per press; returns the slider's new value text.
    navigations_shown(page)              every page navigation shown since the first paint.
    app_errors(page) / assert_no_app_errors(page, server=None)
                                         JS page errors and Streamlit exception blocks.
    offsite_requests(page)               requests the page sent anywhere but loopback.
    plotly_data(page, index=0)           the traces of the index-th Plotly chart, decoded arrays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
# Every process a test server starts (Ray's raylet, GCS and workers too) inherits this variable,
# which is how teardown finds the ones that left the server's process group.
MARKER_VAR = "OPTVIZ_TEST_SERVER_ID"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# --------------------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def streamlit_command(port: int, script: str = "app.py") -> list[str]:
    """The command the tests run a server with: loopback only, headless, no usage statistics, and
    no file watcher (tests never edit the code, and watching a busy work tree floods inotify)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def _pids_with_marker(marker: str) -> list[int]:
    """Live processes whose initial environment carries MARKER_VAR=marker (Linux /proc)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _signal_all(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class StreamlitServer:
    """A running `streamlit run` subprocess in its own process group (session)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    marker: str
    env: dict[str, str]
    _cleanup_dirs: list[Path] = field(default_factory=list)

    def log(self, tail: int = 8000) -> str:
        """The last `tail` characters of the server's stdout and stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:]

    def marked_pids(self) -> list[int]:
        """Live processes started by this server, its own included (Ray helpers, workers, ...)."""
        return _pids_with_marker(self.marker)

    def stop(self, grace: float = 10.0) -> list[int]:
        """Stop the server and everything it started; return the pids that outlived its group.

        SIGTERM to the process group, SIGKILL after `grace` seconds; then any process still
        carrying this server's marker (Ray starts some in groups of their own) gets the same.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        leftovers = self.marked_pids()
        if leftovers:
            _signal_all(leftovers, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.marked_pids() and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_all(self.marked_pids(), signal.SIGKILL)
        for directory in self._cleanup_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        return leftovers


def _health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None


def start_streamlit(
    env: Mapping[str, str] | None = None,
    *,
    command: Callable[[int], Sequence[str]] = streamlit_command,
    cwd: Path = REPO_ROOT,
    startup_timeout: float = 120.0,
) -> StreamlitServer:
    """Start a Streamlit server on a free loopback port and wait until its health check says ok.

    `env` is laid over this process's environment, from which RAY_ADDRESS and STREAMLIT_* are
    dropped first so a developer's shell cannot leak into a test. Unless `env` gives them,
    OPTVIZ_DB and OPTVIZ_DATA_DIR point into a fresh temporary directory (removed on stop),
    OPTVIZ_MNIST_DOWNLOAD is "0" (tests never download) and RAY_AUTH_MODE is "disabled" (a
    loopback-only test Ray). `command(port)` builds the argv.
    """
    base = {
        key: value
        for key, value in os.environ.items()
        if key != "RAY_ADDRESS" and not key.startswith("STREAMLIT_")
    }
    cleanup: list[Path] = []
    given = dict(env or {})
    if "OPTVIZ_DB" not in given or "OPTVIZ_DATA_DIR" not in given:
        scratch = Path(tempfile.mkdtemp(prefix="optviz-server-"))
        cleanup.append(scratch)
        (scratch / "data").mkdir()
        given.setdefault("OPTVIZ_DB", str(scratch / "runs.db"))
        given.setdefault("OPTVIZ_DATA_DIR", str(scratch / "data"))
    given.setdefault("OPTVIZ_MNIST_DOWNLOAD", "0")
    given.setdefault("RAY_AUTH_MODE", "disabled")
    log_dir = Path(tempfile.mkdtemp(prefix="optviz-server-log-"))
    cleanup.append(log_dir)

    failure = ""
    for _attempt in range(3):  # a port can be taken between probing and binding: try another
        port = free_port()
        marker = uuid.uuid4().hex
        full_env = {**base, **given, MARKER_VAR: marker, "PYTHONUNBUFFERED": "1"}
        log_path = log_dir / f"streamlit-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(command(port)),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one on stop()
            )
        server = StreamlitServer(
            url=f"http://127.0.0.1:{port}",
            port=port,
            process=process,
            log_path=log_path,
            marker=marker,
            env=full_env,
        )
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _health(server.url) == "ok":
                server._cleanup_dirs = cleanup
                return server
            time.sleep(0.2)
        exit_code = process.poll()
        server.stop(grace=2)
        failure = (
            f"Streamlit ({' '.join(map(str, command(port)))}) did not answer 'ok' on "
            f"{server.url}/_stcore/health within {startup_timeout:.0f} s (exit code {exit_code})."
            f" Server output:\n{server.log()}"
        )
        if exit_code is None or "already in use" not in server.log():
            break
    for directory in cleanup:
        shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(failure)


@pytest.fixture(scope="session")
def app_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """One `streamlit run app.py` for the whole session, with its own temporary store."""
    root = tmp_path_factory.mktemp("app_server")
    (root / "data").mkdir()
    env = {
        "OPTVIZ_DB": str(root / "runs.db"),
        "OPTVIZ_DATA_DIR": str(root / "data"),
        "RAY_AUTH_MODE": "disabled",
    }
    try:
        server = start_streamlit(env)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server(app_server_process: StreamlitServer) -> str:
    """Base URL of the session's app server, e.g. "http://127.0.0.1:40123"."""
    return app_server_process.url


@pytest.fixture
def streamlit_server(tmp_path: Path) -> Iterator[Callable[..., StreamlitServer]]:
    """Factory: `streamlit_server(env=None, **start_streamlit_kwargs)`; stopped after the test.

    OPTVIZ_DB and OPTVIZ_DATA_DIR default to paths under the test's tmp_path.
    """
    servers: list[StreamlitServer] = []

    def start(env: Mapping[str, str] | None = None, **kwargs: Any) -> StreamlitServer:
        data_dir = tmp_path / f"data-{len(servers)}"
        data_dir.mkdir(exist_ok=True)
        defaults = {"OPTVIZ_DB": str(tmp_path / "runs.db"), "OPTVIZ_DATA_DIR": str(data_dir)}
        try:
            server = start_streamlit({**defaults, **(env or {})}, **kwargs)
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --------------------------------------------------------------------------------------- browser

# Installed in every tracked page before its own scripts run. It taps the app's WebSocket and
# reads the fields of each ForwardMsg that say how a script run went (field numbers from
# streamlit/proto/ForwardMsg.proto): `new_session` (4) starts a run, `script_finished` (6)
# ends it, with status FINISHED_EARLY_FOR_RERUN (2) when `st.rerun()` or a newer rerun request cut
# it short and another run follows. Both carry the run's identity (`metadata` 2 → `run` 6), whose
# `fragment_ids` (2) name the fragments a fragment run reruns: such a run (e.g. a
# `st.fragment(run_every=...)` polling) is kept apart, in `fragment` and `fragments_finished`, so
# `run` and `finished` follow the page's full runs only, and a page that polls still goes idle.
# A fragment run that ends early for a rerun may be followed by a full run, so `run` is "rerun"
# until the next run starts (and back to what it was if that is a fragment run).
# `starts` and `ends` keep when each run (full or fragment) started and finished, `finished_at`
# when the last full run finished (`performance.now()`). It counts the rerun requests the page
# sends (BackMsg `rerun_script`, 11), for the message of a wait that timed out. `doc` tells a
# reloaded document from the old one; `navs` keeps every distinct page navigation the document
# has shown, from its first paint.
_TAP_JS = """
(() => {
  if (window.__optviz) return;
  const s = (window.__optviz = {
    doc: Math.random(), received: 0, finished: 0, run: "none", navs: [], reruns_sent: 0,
    fragment: "none", fragments_finished: 0, starts: [], ends: [], finished_at: null,
    figures: [],
  });
  const METADATA = 2, NEW_SESSION = 4, SCRIPT_FINISHED = 6, FINISHED_EARLY_FOR_RERUN = 2;
  const RUN_IDENTITY = 6, FRAGMENT_IDS = 2;  // ForwardMsgMetadata.run, RunIdentity.fragment_ids
  let fragmentCut = null;  // `run` as it was before a fragment run was cut short for a rerun
  const RERUN_SCRIPT = 11;  // BackMsg.rerun_script: the page asks for a run
  const varint = (bytes, i) => {
    let value = 0, scale = 1, byte;
    do { byte = bytes[i++]; value += (byte & 0x7f) * scale; scale *= 128; } while (byte & 0x80);
    return [value, i];
  };
  const topLevelFields = (bytes) => {
    const fields = new Map();
    let i = 0, tag, value;
    while (i < bytes.length) {
      [tag, i] = varint(bytes, i);
      const wire = tag % 8, field = (tag - wire) / 8;
      if (wire === 0) { [value, i] = varint(bytes, i); fields.set(field, value); }
      else if (wire === 2) {  // a length-delimited field: keep where its bytes are
        [value, i] = varint(bytes, i); fields.set(field, bytes.subarray(i, i + value)); i += value;
      }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else break;
    }
    return fields;
  };
  const FIGURE_ID = /"figure_id": ?"([0-9a-f]+)"/g, latin1 = new TextDecoder("latin1");
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (!(event.data instanceof ArrayBuffer)) return;
        s.received += 1;
        const bytes = new Uint8Array(event.data);
        // The explorer's chart elements name the figures they carry (optviz.ui.chart_view).
        for (const sent of latin1.decode(bytes).matchAll(FIGURE_ID)) s.figures.push(sent[1]);
        const fields = topLevelFields(bytes);
        if (!fields.has(NEW_SESSION) && !fields.has(SCRIPT_FINISHED)) return;
        const run = fields.has(METADATA) && topLevelFields(fields.get(METADATA)).get(RUN_IDENTITY);
        const fragmentRun = Boolean(run) && topLevelFields(run).has(FRAGMENT_IDS);
        if (fields.has(NEW_SESSION)) {
          s.starts.push(performance.now());
          if (!fragmentRun) [s.run, s.figures] = ["running", []];
          else {
            s.fragment = "running";
            if (fragmentCut) s.run = fragmentCut;  // what followed the cut run was a fragment run
          }
          fragmentCut = null;
        }
        if (fields.has(SCRIPT_FINISHED)) {
          s.ends.push(performance.now());
          const early = fields.get(SCRIPT_FINISHED) === FINISHED_EARLY_FOR_RERUN;
          if (fragmentRun) {
            s.fragment = "finished"; s.fragments_finished += 1;
            // Cut short for a rerun (its `st.rerun()`, say): a full run may follow.
            if (early) [fragmentCut, s.run] = [s.run, "rerun"];
          } else if (early) s.run = "rerun";
          else { s.run = "finished"; s.finished += 1; s.finished_at = performance.now(); }
        }
      });
    }
    send(data) {
      if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
        const bytes = new Uint8Array(data.buffer || data, data.byteOffset || 0, data.byteLength);
        if (topLevelFields(bytes).has(RERUN_SCRIPT)) s.reruns_sent += 1;
      }
      return super.send(data);
    }
  };
  const NAV = '[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]';
  const recordNav = () => {
    const titles = [...document.querySelectorAll(NAV)]
      .map((a) => a.innerText.trim().split(/\\s+/).join(" "));
    const last = s.navs[s.navs.length - 1];
    if (titles.length && JSON.stringify(titles) !== JSON.stringify(last)) s.navs.push(titles);
  };
  const start = () => {
    new MutationObserver(recordNav).observe(document.documentElement,
      {subtree: true, childList: true, characterData: true});
    recordNav();
  };
  if (document.documentElement) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
"""

# Idle: the last full script run the page heard of ended without a rerun to follow, one ended
# since `finished` (or in a newer document than `doc`), the app shows it as connected and not
# running (or running only a fragment run: a page that polls with `st.fragment(run_every=...)` is
# idle between its full runs however often the fragment reruns), no element still waits for its
# code (Streamlit's `stSkeleton` stands in for it meanwhile), plotly.js has drawn every Plotly
# chart (its `_fullData` is filled in as it draws) and the explorer's chart elements show the
# figures the run sent them (their ids, read from the messages as they arrived).
_SETTLED_JS = """
([doc, finished]) => {
  const s = window.__optviz;
  const app = document.querySelector('[data-testid="stApp"]');
  return Boolean(s && app) && s.run === "finished" && (s.doc !== doc || s.finished > finished)
    && app.getAttribute("data-test-connection-state") === "CONNECTED"
    && (app.getAttribute("data-test-script-state") === "notRunning" || s.fragment === "running")
    && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]')
    && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every((chart) => {
      const gd = chart.querySelector(".js-plotly-plot");
      return Boolean(gd) && gd._fullData !== undefined;
    })
    && s.figures.every((id) => [...document.querySelectorAll(".optviz-chart")].some(
      (box) => box.dataset.figure === id && box.dataset.state === "drawn"));
}
"""

# Whether the page is still settled after its event loop has had two turns with no new message:
# every message that had arrived was handed to Streamlit's frontend in the task that received it,
# and React renders what that changed in a task of its own, queued before the second turn.
_STILL_SETTLED_JS = f"""
async (args) => {{
  const settled = {_SETTLED_JS.strip()};
  const turn = () => new Promise((resolve) => {{
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  }});
  const received = window.__optviz.received;
  await turn();
  await turn();
  return window.__optviz.received === received && settled(args);
}}
"""


# What `_SETTLED_JS` looks at, for the message of a wait that timed out.
_IDLE_STATE_JS = """
() => {
  const s = window.__optviz || {};
  const app = document.querySelector('[data-testid="stApp"]');
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return {
    run: s.run, finished: s.finished, received: s.received, reruns_sent: s.reruns_sent,
    connection: app && app.getAttribute("data-test-connection-state"),
    script: app && app.getAttribute("data-test-script-state"),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    app_skeleton: Boolean(document.querySelector('[data-testid="stAppSkeleton"]')),
    charts_undrawn: charts.filter((chart) => {
      const gd = chart.querySelector(".js-plotly-plot");
      return !gd || gd._fullData === undefined;
    }).length,
    charts: charts.length,
    figures_sent: s.figures,
    figures_shown: [...document.querySelectorAll(".optviz-chart")]
      .map((box) => `${box.dataset.figure} ${box.dataset.state}`),
    fragment: s.fragment, fragments_finished: s.fragments_finished,
    text: document.body ? document.body.innerText.slice(0, 400) : null,
  };
}
"""


@dataclass
class _PageLog:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


_PAGE_LOGS: weakref.WeakKeyDictionary[Any, _PageLog] = weakref.WeakKeyDictionary()


def track_page(page: Any) -> None:
    """Record the page's JS errors, requests, URLs and script runs (the `page` fixture does this).

    Call it before the page opens the app: the run tracking taps the app's WebSocket."""
    if page in _PAGE_LOGS:
        return
    log = _PageLog()
    _PAGE_LOGS[page] = log
    page.on("pageerror", lambda error: log.errors.append(f"page error: {error}"))
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("framenavigated", lambda frame: log.urls.append(frame.url))
    page.add_init_script(_TAP_JS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never a downloaded one) under Playwright's sync API."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium "
            "(`apt-get install -y chromium`; scripts/test.sh installs it).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# Pages of the app whose script starts Ray (Live MNIST warms up workers as it opens).
RAY_PAGES = ("mnist",)


def page_name(url: str) -> str:
    """The app page a URL shows: its last path segment ("" for the default page)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new page in a fresh browser context, tracked for errors, requests and script runs.

    A test that opens a page of `RAY_PAGES` starts Ray in its server, so it must be a `ray` test:
    this fails it otherwise (a page can be reached by a click, so no fixture could tell)."""
    context = browser.new_context(viewport=VIEWPORT)
    new_page = context.new_page()
    new_page.set_default_timeout(30_000)
    track_page(new_page)
    yield new_page
    visited = {
        urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] for url in _PAGE_LOGS[new_page].urls
    }
    context.close()
    ray_pages = sorted(visited & set(RAY_PAGES))
    if ray_pages and request.node.get_closest_marker("ray") is None:
        pytest.fail(f"opened {ray_pages}, which start Ray: mark the test `ray`", pytrace=False)


# Fixtures that start Ray in the test process or as a cluster of their own.
RAY_FIXTURES = {"ray_session", "two_node_cluster", "two_cpu_nodes"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the browser fixtures are `browser` tests and tests that use a Ray fixture
    are `ray` tests, marked or not, so `-m "not browser and not ray"` leaves out every one."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if {"browser", "page"} & names:
            item.add_marker(pytest.mark.browser)
        if RAY_FIXTURES & names:
            item.add_marker(pytest.mark.ray)


@pytest.fixture(autouse=True)
def _ray_only_in_ray_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that is not marked `ray` but connected this process to Ray."""
    ray = sys.modules.get("ray")
    before = ray is not None and ray.is_initialized()
    yield
    ray = sys.modules.get("ray")
    started = ray is not None and not before and ray.is_initialized()
    if started and request.node.get_closest_marker("ray") is None:
        pytest.fail("this test started Ray: mark it `ray`", pytrace=False)


# ---------------------------------------------------------------------------------- page helpers


@dataclass(frozen=True)
class RunMarker:
    """Where the page's count of finished full script runs stood (see `script_runs`)."""

    doc: float
    finished: int


def script_runs(page: Any) -> RunMarker:
    """A marker to pass to `wait_for_idle(page, after=...)` before an action that reruns."""
    state = page.evaluate(
        "() => window.__optviz && [window.__optviz.doc, window.__optviz.finished]"
    )
    assert state, "the page is not tracked: use the `page` fixture or call track_page() first"
    return RunMarker(doc=float(state[0]), finished=int(state[1]))


def wait_for_idle(page: Any, after: RunMarker | None = None, *, timeout_ms: float = 60_000) -> None:
    """Wait until the app is connected, its last full script run finished with no rerun to
    follow, and the page shows that run. Fragment runs are not waited for (a page whose fragment
    polls would never be idle), so an action that reruns only a fragment has no marker to wait on.

    With `after`, the run must have finished after that marker was taken (or in a reloaded
    document), so an action's rerun that has not started yet is not mistaken for idle.
    """
    args = [after.doc, after.finished] if after else [-1.0, -1]
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
        try:
            page.wait_for_function(_SETTLED_JS, arg=args, timeout=remaining_ms)
        except PlaywrightTimeoutError:
            state = page.evaluate(_IDLE_STATE_JS)
            raise AssertionError(
                f"{page.url} did not settle within {timeout_ms / 1000:.0f} s: {state}"
            ) from None
        if page.evaluate(_STILL_SETTLED_JS, args):
            return


@contextlib.contextmanager
def expect_rerun(page: Any, *, timeout_ms: float = 60_000) -> Iterator[None]:
    """`with expect_rerun(page): page.get_by_role("button", name="Run").click()`."""
    marker = script_runs(page)
    yield
    wait_for_idle(page, marker, timeout_ms=timeout_ms)


def open_app(page: Any, base_url: str, path: str = "", *, timeout_ms: float = 60_000) -> None:
    """Open `base_url/path` (e.g. "", "mnist", "?surface=saddle") and wait for its first run (and
    any rerun it asks for) to be shown."""
    separator = "" if not path or path.startswith("?") else "/"
    page.goto(base_url.rstrip("/") + separator + path)
    wait_for_idle(page, timeout_ms=timeout_ms)


def navigations_shown(page: Any) -> list[list[str]]:
    """Every distinct page navigation (link titles) the document has shown since its first paint."""
    navs: list[list[str]] = page.evaluate("() => window.__optviz.navs")
    return navs


def app_errors(page: Any) -> list[str]:
    """JS errors the page raised plus the text of every Streamlit exception block shown."""
    log = _PAGE_LOGS.get(page)
    errors = list(log.errors) if log else []
    for block in page.locator('[data-testid="stException"]').all():
        errors.append(f"st.exception: {block.inner_text()[:2000]}")
    return errors


def assert_no_app_errors(page: Any, server: StreamlitServer | None = None) -> None:
    """Fail with the errors (and the server's log, if given) if the page shows any."""
    errors = app_errors(page)
    if errors:
        details = "\n".join(errors)
        if server is not None:
            details += f"\n--- server log ---\n{server.log()}"
        raise AssertionError(f"{page.url} shows errors:\n{details}")


def offsite_requests(page: Any) -> list[str]:
    """URLs the page requested from anywhere but loopback (data: and blob: URLs excluded)."""
    log = _PAGE_LOGS.get(page)
    urls = log.requests if log else []
    return [
        url
        for url in urls
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
        and urlsplit(url).hostname not in LOOPBACK_HOSTS
    ]


_SLIDER_LABELS_JS = """
(sliders) => sliders.map((s) => {
  const input = s.querySelector('input[type="range"]');
  const label = s.querySelector('[data-testid="stWidgetLabel"]');
  return [input ? input.getAttribute("aria-label") || "" : "", label ? label.textContent : ""];
})
"""


def slider_input(page: Any, label: str, thumb: int = 0) -> Any:
    """The `input[type=range]` of the slider labelled `label` (`thumb` 1 for a range's upper end).

    Matches the label exactly first, then as a substring; fails if that leaves several sliders.
    """
    sliders = page.locator('[data-testid="stSlider"]')
    labels: list[list[str]] = sliders.evaluate_all(_SLIDER_LABELS_JS)
    for matches in (
        lambda names: label in (name.strip() for name in names),
        lambda names: any(label in name for name in names),
    ):
        found = [i for i, names in enumerate(labels) if matches(names)]
        if len(found) == 1:
            return sliders.nth(found[0]).locator('input[type="range"]').nth(thumb)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} sliders match {label!r}: use a longer label")
    raise AssertionError(f"no slider labelled {label!r}; the page has {[n[0] for n in labels]}")


def move_slider(
    page: Any, label: str, presses: int, *, thumb: int = 0, timeout_ms: float = 60_000
) -> str:
    """Focus the slider labelled `label` and press → (`presses` > 0) or ← that many times, waiting
    for each press's rerun. Returns the slider's value text afterwards (e.g. "0.0013").

    Every press that moves the slider sends its value at once, so one press at a time keeps each
    rerun tied to its press. A press at the end of the range moves nothing and reruns nothing:
    the range input's value and bounds say so before it is pressed, and the presses stop there.
    """
    key = "ArrowRight" if presses > 0 else "ArrowLeft"
    for _ in range(abs(presses)):
        slider = slider_input(page, label, thumb)
        now, low, high = slider.evaluate("el => [el.value, el.min, el.max].map(Number)")
        if (now >= high) if presses > 0 else (now <= low):
            break
        slider.focus()
        with expect_rerun(page, timeout_ms=timeout_ms):
            page.keyboard.press(key)
    return str(slider_input(page, label, thumb).get_attribute("aria-valuetext"))


# Plotly keeps user arrays in `gd.data` in its base64 "bdata" form; `_fullData` holds them decoded.
# This turns traces into JSON: typed arrays become lists, bdata objects are decoded, private
# ("_"-prefixed) keys, functions and cycles are dropped.
_PLOTLY_JSON_JS = """
(root) => {
  const types = {f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array,
                 i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array,
                 u1c: Uint8ClampedArray};
  const decode = (o) => {
    const bin = atob(o.bdata), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const flat = Array.from(new types[o.dtype](bytes.buffer));
    if (!o.shape) return flat;
    const dims = String(o.shape).split(",").map(Number);
    if (dims.length !== 2) return flat;
    const rows = [];
    for (let r = 0; r < dims[0]; r++) rows.push(flat.slice(r * dims[1], (r + 1) * dims[1]));
    return rows;
  };
  const seen = new WeakSet();
  const conv = (v, depth) => {
    if (v === null || typeof v !== "object") return typeof v === "function" ? undefined : v;
    if (ArrayBuffer.isView(v)) return Array.from(v);
    if (seen.has(v) || depth > 12) return undefined;
    seen.add(v);
    if (typeof v.bdata === "string" && types[v.dtype]) return decode(v);
    if (Array.isArray(v)) return v.map((x) => conv(x, depth + 1));
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith("_")) continue;
      const c = conv(x, depth + 1);
      if (c !== undefined) out[k] = c;
    }
    return out;
  };
  return conv(root, 0);
}
"""


# Resolves with `read(gd)` once plotly.js has drawn the chart: at once if it has (its `_fullData`
# is filled in), else on its `plotly_afterplot` event; with null if Streamlit replaces the element
# meanwhile (a rerun can), so the caller reads the new one.
_DRAWN_JS = """
(gd, read) => new Promise((resolve) => {
  if (gd._fullData !== undefined) return resolve(read(gd));
  const removed = new MutationObserver(() => {
    if (!gd.isConnected) { removed.disconnect(); resolve(null); }
  });
  removed.observe(document.documentElement, {subtree: true, childList: true});
  gd.once("plotly_afterplot", () => { removed.disconnect(); resolve(read(gd)); });
})
"""


def _evaluate_drawn(page: Any, index: int, expression: str, timeout: float = 30.0) -> Any:
    """`expression(gd)` on the `index`-th Plotly chart once plotly.js has drawn it, in the same
    evaluation as the check, so a rerun cannot swap the chart between the two."""
    graph = page.locator(".js-plotly-plot").nth(index)
    deadline = time.monotonic() + timeout
    while True:
        remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
        graph.wait_for(state="attached", timeout=remaining_ms)
        result = graph.evaluate(
            f"(gd) => ({_DRAWN_JS.strip()})(gd, {expression})", timeout=remaining_ms
        )
        if result is not None:
            return result
        assert time.monotonic() < deadline, f"Plotly chart {index} was never drawn"


def plotly_data(page: Any, index: int = 0) -> list[dict[str, Any]]:
    """The traces of the `index`-th Plotly chart as drawn (`gd._fullData`), arrays decoded."""
    traces: list[dict[str, Any]] = _evaluate_drawn(
        page,
        index,
        f"(gd) => ({_PLOTLY_JSON_JS})(gd._fullData.map((t) => {{"
        " const c = Object.assign({}, t); delete c.uid; return c; }))",
    )
    return traces
