"""The app under load, felt in the browser: several users on one server, as ratios and goals.

Every part starts its own ``streamlit run app.py`` on loopback (the tests' ``start_streamlit``)
and drives it from browser contexts of one headless Chromium (Playwright's async API).

1. ``explorer``: slider key press → race redrawn (the tab's script run finished), p50 and p95,
   for one user alone and for 8 users moving sliders at once. Each user has its own start point
   and moves the Steps slider up, so every move is a new race. Goal: 8-user p95 ≤ 3 × 1-user p50.
2. ``live``: Live MNIST, 4 tabs watching the same 4 MLP runs (a small training subset) for
   ``--live-seconds``; each tab moves the loss-smoothing slider now and then, and the time to
   the first script run that started after the key press is recorded. Goal: p95 ≤ 2 s.
3. ``memory``: the server's RSS after 200 and 400 distinct explorer views (each a new browser
   context on a URL with its own start x₀, closed afterwards). Goal: RSS(400) − RSS(200) ≤ 20 MB.
   ``--profile`` runs that server under tracemalloc and prints the allocation sites that grew
   most between the two counts (diagnosis; it slows the server down).

Run: ``python benchmarks/bench_load.py [--parts explorer,live,memory] [--live-seconds 120]``;
about 8 minutes for all three on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import (  # noqa: E402
    _SETTLED_JS,
    _STILL_SETTLED_JS,
    _TAP_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    StreamlitServer,
    start_streamlit,
    streamlit_command,
)
from playwright.async_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

USERS = 8
MOVES = 8  # slider moves per user
STEPS_LABEL = "Steps"
SMOOTHING_LABEL = "Loss smoothing"
LIVE_OPTIMIZERS = "sgd,momentum,adagrad,adam"
# The tests' WebSocket tap (`_TAP_JS`) keeps when each script run, full or fragment, started and
# finished (`starts`, `ends`). The live page's fragments rerun every second on their own, so a key
# press is answered by the first run that started after it, not by the next one to finish.
_ANSWERED_JS = """
(t0) => {
  const s = window.__optviz;
  const start = s.starts.find((t) => t >= t0);
  const end = start === undefined ? undefined : s.ends.find((t) => t >= start);
  return end === undefined ? null : [end - t0, start - t0];
}
"""
# The Live MNIST page's signals: its "Starting …" note is gone (every worker is up), and its loss
# chart has points of at least `runs` runs (traces with points, counted in plotly's `_fullData`).
_WORKERS_UP_JS = """
() => ![...document.querySelectorAll('[data-testid="stAlert"]')].some(
  (alert) => alert.innerText.includes("Starting ")
)
"""
_RUNS_DRAWN_JS = """
(runs) => {
  const gd = document.querySelector(".js-plotly-plot");
  return Boolean(gd && gd._fullData)
    && gd._fullData.filter((trace) => trace.x && trace.x.length > 0).length >= runs;
}
"""
# What a tab shows of the runs, for the message of a wait that timed out.
_LIVE_STATE_JS = """
() => ({
  tap: [window.__optviz.finished, window.__optviz.fragments_finished, window.__optviz.run,
        window.__optviz.fragment],
  traces: [...document.querySelectorAll(".js-plotly-plot")].map((gd) =>
    (gd._fullData || []).map((t) => [t.name, t.x ? t.x.length : null])),
  tags: [...document.querySelectorAll("[data-tag]")].map((t) => t.getAttribute("aria-label")),
  text: document.body.innerText.slice(0, 300),
})
"""
# `_SETTLED_JS`, answering when it holds with the page's clock instead of `true`.
_SETTLED_AT_JS = f"(args) => ({_SETTLED_JS.strip()})(args) && performance.now()"
_TRACED_SERVER = """
import os, sys, threading, time, tracemalloc
from pathlib import Path

def dump():
    folder = Path(os.environ["OPTVIZ_BENCH_TRACE_DIR"])
    while True:
        for request in sorted(folder.glob("*.request")):
            tracemalloc.take_snapshot().dump(str(request.with_suffix(".snapshot")))
            request.unlink()
        time.sleep(0.2)

tracemalloc.start(12)
threading.Thread(target=dump, daemon=True).start()
from streamlit.web import cli
sys.argv = ["streamlit", *sys.argv[1:]]
sys.exit(cli.main())
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    print(
        f"{name}: p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, max {max(samples) * 1e3:.0f} ms"
        f" ({len(samples)} moves)"
    )
    return p50, p95


def verdict(met: bool) -> str:
    return "goal met" if met else "goal NOT met"


def rss_mb(server: StreamlitServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# ------------------------------------------------------------------------------- browser helpers


async def open_tab(browser: Any, url: str, timeout_ms: float = 120_000) -> tuple[Any, Any]:
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    await page.add_init_script(_TAP_JS)
    await page.goto(url)
    await page.wait_for_selector('[data-testid="stApp"]')
    await wait_idle(page)
    return context, page


async def wait_idle(page: Any, after: list | None = None) -> float:
    """The tests' `wait_for_idle` (conftest) in Playwright's async API: wait until the page's
    last full script run (newer than `after`, a `marker`) finished with no rerun to follow and is
    shown. Returns the page's clock (ms) when it was first seen so."""
    args = after or [-1.0, -1]
    while True:
        handle = await page.wait_for_function(_SETTLED_AT_JS, arg=args, polling=20)
        settled_at = float(await handle.json_value())
        if await page.evaluate(_STILL_SETTLED_JS, args):
            return settled_at


async def marker(page: Any) -> list:
    return await page.evaluate("() => [window.__optviz.doc, window.__optviz.finished]")


async def slider(page: Any, label: str) -> Any:
    boxes = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    return boxes.first.locator('input[type="range"]').first


async def press_and_time(page: Any, label: str, key: str) -> float:
    """Press ``key`` on the slider labelled ``label`` (on a page without fragment runs); seconds
    until the full script run it caused has finished and is shown."""
    thumb = await slider(page, label)
    await thumb.focus()
    mark = await marker(page)
    t0 = await page.evaluate("() => performance.now()")
    await page.keyboard.press(key)
    return (await wait_idle(page, mark) - t0) / 1e3


async def press_and_time_fragment(page: Any, label: str, key: str) -> tuple[float, float]:
    """Press ``key`` on the slider labelled ``label``; seconds until the first script run (full
    or fragment) that started after the press has finished, and until its start message came
    (the rest is the run on the server plus the delivery of its messages)."""
    thumb = await slider(page, label)
    await thumb.focus()
    t0 = await page.evaluate("() => performance.now()")
    await page.keyboard.press(key)
    handle = await page.wait_for_function(_ANSWERED_JS, arg=t0, polling=20, timeout=120_000)
    answered, started = await handle.json_value()
    return float(answered) / 1e3, float(started) / 1e3


# ----------------------------------------------------------------------------------- the parts


async def explorer_users(browser: Any, url: str, users: int, offset: int) -> list[float]:
    tabs = await asyncio.gather(
        *(
            open_tab(browser, f"{url}/?x0={-1.9 + 0.01 * (offset + i):.3f}&y0=2&sgd.lr=0.001")
            for i in range(users)
        )
    )

    async def user(page: Any) -> list[float]:
        times = []
        for _ in range(MOVES):
            times.append(await press_and_time(page, STEPS_LABEL, "ArrowRight"))
        return times

    try:
        results = await asyncio.gather(*(user(page) for _, page in tabs))
    finally:
        await asyncio.gather(*(context.close() for context, _ in tabs))
    return [t for times in results for t in times]


async def explorer_part(browser: Any) -> None:
    server = start_streamlit()
    try:
        await explorer_users(browser, server.url, 1, 100)  # warm: imports, surface layers
        alone = await explorer_users(browser, server.url, 1, 0)
        crowd = await explorer_users(browser, server.url, USERS, 1)
    finally:
        server.stop()
    p50_alone, _ = figures("explorer slider → race, 1 user", alone)
    _, p95_crowd = figures(f"explorer slider → race, {USERS} users at once", crowd)
    ratio = p95_crowd / p50_alone
    print(
        f"  {USERS}-user p95 / 1-user p50 = {ratio:.2f} (goal ≤ 3): {verdict(ratio <= 3)}",
        flush=True,
    )


async def live_part(browser: Any, seconds: float) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from training.support import write_mnist_dir

    from optviz.training.data import Mnist, load_mnist
    from optviz.training.store import RunStore

    scratch = Path(tempfile.mkdtemp(prefix="optviz-bench-load-"))
    full = load_mnist(scratch / "none", download=False)
    small = Mnist(
        full.train_images[:2000],
        full.train_labels[:2000],
        full.test_images[:500],
        full.test_labels[:500],
        source="first digits of MNIST",
    )
    data_dir = write_mnist_dir(scratch / "data", small)
    env = {
        "OPTVIZ_DB": str(scratch / "runs.db"),
        "OPTVIZ_DATA_DIR": str(data_dir),
        "OPTVIZ_MAX_CONCURRENT_RUNS": "4",
    }
    began = time.monotonic()
    server = start_streamlit(env)
    store = RunStore(scratch / "runs.db")
    tabs: list[tuple[Any, Any]] = []
    try:
        # 50 epochs (the most a link sets) of 2 000 images in batches of 32 (3 100 steps) outlast
        # the benchmark: the runs stay live throughout.
        path = (
            f"{server.url}/mnist?model=mlp&optimizers={LIVE_OPTIMIZERS}"
            "&epochs=50&images=2000&batch=32"
        )
        for _ in range(4):  # one at a time: the first load starts Ray and the workers
            tabs.append(await open_tab(browser, path, timeout_ms=600_000))
            print(f"(live: tab {len(tabs)} open at {time.monotonic() - began:.0f} s)", flush=True)
        # The signals (their timeouts only bound a hang): every tab says its workers are up...
        for _, page in tabs:
            await page.wait_for_function(_WORKERS_UP_JS, timeout=600_000)
        print(f"(live: workers up at {time.monotonic() - began:.0f} s)", flush=True)
        first = tabs[0][1]
        await wait_idle(first)
        # ... Start's click reached the server (the store has the group) ...
        await first.get_by_role("button", name="Start", exact=True).click()
        for _ in range(600):
            if store.groups(kind="live"):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("Start's click made no group within 60 s (issue 15)")
        print(f"(live: group stored at {time.monotonic() - began:.0f} s)", flush=True)
        # ... and every tab draws points of all four runs.
        for index, (_, page) in enumerate(tabs):
            try:
                await page.wait_for_function(_RUNS_DRAWN_JS, arg=4, timeout=300_000, polling=200)
            except PlaywrightTimeoutError:
                state = await page.evaluate(_LIVE_STATE_JS)
                raise RuntimeError(f"tab {index + 1} drew no points of the runs: {state}") from None
        print(f"(live: runs drawn in every tab at {time.monotonic() - began:.0f} s)", flush=True)
        began = time.monotonic()
        deadline = time.monotonic() + seconds

        async def watcher(page: Any, index: int) -> list[tuple[float, float]]:
            times = []
            key = "ArrowRight"
            await asyncio.sleep(0.7 * index)
            while time.monotonic() < deadline:
                times.append(await press_and_time_fragment(page, SMOOTHING_LABEL, key))
                key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"
                await asyncio.sleep(2.0)
            return times

        results = await asyncio.gather(*(watcher(page, i) for i, (_, page) in enumerate(tabs)))
        points = await first.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')].map((gd) =>"
            " (gd._fullData || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0))"
        )
        print(
            f"(live: {time.monotonic() - began:.0f} s watched; points drawn in the first tab's "
            f"charts at the end: {points})"
        )
        for group in store.groups(kind="live"):
            store.cancel_group(group.id)
    finally:
        for context, _ in tabs:
            await context.close()
        server.stop()
    moves = [move for moves in results for move in moves]
    _, p95 = figures("Live MNIST, 4 tabs × 4 MLP runs, smoothing slider", [t for t, _ in moves])
    figures("  of which press → the answering run's first message", [s for _, s in moves])
    figures("  of which that run's first → last message", [t - s for t, s in moves])
    print(f"  p95 = {p95:.2f} s (goal ≤ 2 s): {verdict(p95 <= 2.0)}", flush=True)


async def memory_part(browser: Any, counts: list[int], profile: bool) -> None:
    trace_dir = Path(tempfile.mkdtemp(prefix="optviz-bench-trace-"))
    env: dict[str, str] = {}
    command = streamlit_command
    if profile:
        env["OPTVIZ_BENCH_TRACE_DIR"] = str(trace_dir)

        def command(port: int) -> list[str]:
            return [sys.executable, "-c", _TRACED_SERVER, *streamlit_command(port)[3:]]

    server = start_streamlit(env, command=command)
    snapshots: dict[int, Path] = {}
    rss: dict[int, float] = {}
    try:

        async def view(i: int) -> None:
            x0 = -1.95 + 3.9 * ((i * 0.618034) % 1.0)  # spread over the window, never repeated
            context, _ = await open_tab(browser, f"{server.url}/?x0={x0:.6f}&y0=2.5&sgd.lr=0.001")
            await context.close()

        async def views(begin: int, end: int, parallel: int = 3) -> None:
            for first in range(begin, end, parallel):
                await asyncio.gather(*(view(i) for i in range(first, min(end, first + parallel))))

        done = 0
        for count in [0, *counts]:
            await views(done, count)
            done = count
            await asyncio.sleep(2.0)
            rss[count] = rss_mb(server)
            print(f"server RSS after {count} distinct explorer views: {rss[count]:.0f} MB")
            if profile:
                request = trace_dir / f"{count:05d}.request"
                request.touch()
                while request.exists():
                    await asyncio.sleep(0.2)
                snapshots[count] = request.with_suffix(".snapshot")
    finally:
        server.stop()
    low, high = counts[-2], counts[-1]
    growth = rss[high] - rss[low]
    per_view = growth / (high - low) * 1024
    print(
        f"  RSS({high}) − RSS({low}) = {growth:.1f} MB ({per_view:.0f} kB a view; "
        f"goal ≤ 20 MB): {verdict(growth <= 20)}",
        flush=True,
    )
    if profile:
        import tracemalloc

        before = tracemalloc.Snapshot.load(str(snapshots[low]))
        after = tracemalloc.Snapshot.load(str(snapshots[high]))
        print(f"allocation sites that grew most between {low} and {high} views:")
        for stat in after.compare_to(before, "traceback")[:12]:
            print(f"  {stat.size_diff / 1e6:+.2f} MB in {stat.count_diff:+d} blocks")
            for line in stat.traceback.format()[-8:]:
                print("     ", line)


async def main_async(parts: set[str], live_seconds: float, counts: list[int], profile: bool):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("explorer", lambda: explorer_part(browser)),
                ("live", lambda: live_part(browser, live_seconds)),
                ("memory", lambda: memory_part(browser, counts, profile)),
            ]
            for name, job in jobs:
                if name in parts:
                    began = time.monotonic()
                    await job()
                    print(f"({name}: {time.monotonic() - began:.0f} s)", flush=True)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="explorer,live,memory")
    parser.add_argument("--live-seconds", type=float, default=120.0)
    parser.add_argument("--views", default="200,400", help="view counts to measure RSS after")
    parser.add_argument("--profile", action="store_true", help="tracemalloc the memory server")
    args = parser.parse_args()
    os.environ.pop("RAY_ADDRESS", None)
    counts = [int(n) for n in args.views.split(",")]
    asyncio.run(main_async(set(args.parts.split(",")), args.live_seconds, counts, args.profile))


if __name__ == "__main__":
    main()
