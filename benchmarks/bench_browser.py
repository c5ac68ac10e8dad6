"""How the explorer feels in the browser, against an anchor page measured in the same run.

The anchor (``benchmarks/anchor_app.py``) is the smallest Streamlit page with one Plotly contour
(120 × 120), four 300-point lines and a slider that moves one line: what any Streamlit + Plotly
page pays. The benchmark starts both servers on loopback (the tests' ``start_streamlit``, so
optviz gets a temporary ``OPTVIZ_DB``) and drives them from Debian's headless Chromium at
1440 × 900. "The chart" is the first Plotly chart of the page (optviz: the race); "drawn" is
its ``plotly_afterplot`` event (or ``plotly_animated``, when only the race's paths moved), read
by a hook installed before the page's own scripts.

Parts (``--parts``; medians over ``--samples`` each, ratios optviz / anchor with their goals):

``first``  first chart drawn for a new visitor (a new browser context), from navigation start:
           on a warm server (goal ≤ 1.3 ×) and on a cold one, both servers restarted for each
           sample (goal ≤ 1.6 ×).
``slider`` one ArrowRight on a focused slider (optviz: "Steps", every press a new race; anchor:
           "Shift") → the chart's next ``plotly_afterplot`` with different trace data, from the
           key's ``keydown``. Goal ≤ 1.5 ×.
``play``   click the race player's Play; every ``optviz-frame`` event (the step it drew)
           until the player stops at step T (or 15 s): distinct positions (goal ≥ 100), median
           (goal ≤ 50 ms) and worst interval between frames, and the largest step jump between
           consecutive frames (goal ≤ 2 steps: continuous motion).
``ops``    pick another surface, and add an optimizer to the race (a click on its pill) → race
           redrawn with new data, from the click on the option or pill. Each sample opens a new
           visitor on a link with its own step count, so neither the α grid search nor the race
           is a cache hit. Goal ≤ 2 × the anchor's slider time.
``maps``   Landscapes, Maps tab: one start fewer (the "Starts" slider) → the map redrawn, each
           sample a new visitor with its own step count (no cached map). Goal ≤ 2 s, absolute.

Run: ``python benchmarks/bench_browser.py [--samples 5] [--parts first,slider,play,ops,maps]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    StreamlitServer,
    slider_input,
    start_streamlit,
    streamlit_command,
    track_page,
    wait_for_idle,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

VIEWPORT = {"width": 1440, "height": 900}
ANCHOR_SCRIPT = "benchmarks/anchor_app.py"
STEPS_LABEL = "Steps"  # optviz's slider: a press makes a new race (+10 steps)
ANCHOR_LABEL = "Shift"
SURFACE_LABEL = "Test surface"
OPTIMIZERS_LABEL = "Race"
NEW_SURFACE = "Booth"  # picked from the default Rosenbrock
NEW_OPTIMIZER = "Nesterov"  # not in the default race
PLAY_SECONDS = 15.0
# Landscapes: one start fewer per setting (4 → 3; 5 would pass the page's cap on a 32 × 32 map),
# so every map cell is raced again.
MAP_LABEL = "Starts"
MAP_MS = 2000.0  # a map appears this soon after its inputs change

# Installed before the page's scripts. plotly.js gives every graph div its event emitter by
# assigning ``gd.emit``; a setter on the prototype catches that assignment and wraps the emitter,
# so each ``plotly_afterplot`` (a whole plot) and ``plotly_animated`` (new points moved in: the
# race's update when only its paths change, see charts.js) is recorded with its time and a
# signature of the drawn traces even when plotly.js draws before any listener could be attached.
# ``action`` is the time of the last key or pointer press.
_HOOK_JS = """
(() => {
  if (window.__bench) return;
  const b = (window.__bench = {action: null});
  const signature = (gd) => (gd._fullData || []).map((t) => {
    const parts = [t.type];
    for (const a of [t.x, t.y, t.z]) {  // z: a heat map's rows
      if (!a || a.length === undefined) continue;
      let s = 0;
      for (let i = 0; i < a.length; i++) {
        const row = a[i] && a[i].length !== undefined ? a[i] : [a[i]];
        for (let j = 0; j < row.length; j++) {
          const v = +row[j];
          if (Number.isFinite(v)) s += v * (i + 1) * (j + 1);
        }
      }
      parts.push(a.length, s);
    }
    return parts.join(":");
  }).join("|");
  Object.defineProperty(HTMLElement.prototype, "emit", {
    configurable: true,
    set(original) {
      const gd = this;
      gd.__afterplots = gd.__afterplots || [];
      Object.defineProperty(gd, "emit", {
        configurable: true, writable: true,
        value(name, data) {
          const result = original.call(this, name, data);
          // A whole plot, or new points moved in by `Plotly.animate` (charts.js, the player).
          if (name === "plotly_afterplot" || name === "plotly_animated") {
            gd.__afterplots.push({t: performance.now(), sig: signature(gd)});
          }
          return result;
        },
      });
    },
  });
  for (const type of ["keydown", "pointerdown"]) {
    document.addEventListener(type, () => { b.action = performance.now(); }, true);
  }
})();
"""
_CHART_JS = "document.querySelector('.js-plotly-plot')"  # the first in the page: the race
# The first chart's first draw, in ms from navigation start.
_FIRST_DRAWN_JS = f"""
() => {{
  const gd = {_CHART_JS};
  return gd && gd.__afterplots && gd.__afterplots.length ? gd.__afterplots[0].t : null;
}}
"""
_LAST_SIGNATURE_JS = f"""
() => {{
  const gd = {_CHART_JS};
  const drawn = gd && gd.__afterplots;
  return drawn && drawn.length ? drawn[drawn.length - 1].sig : null;
}}
"""
# ms from the last key or pointer press to the first chart's first draw after it with other data.
_REDRAWN_JS = f"""
(before) => {{
  const gd = {_CHART_JS}, b = window.__bench;
  if (!gd || !gd.__afterplots || b.action === null) return null;
  const drawn = gd.__afterplots.find((e) => e.t > b.action && e.sig !== before);
  return drawn ? drawn.t - b.action : null;
}}
"""
_STATE_JS = f"""
() => {{
  const app = document.querySelector('[data-testid="stApp"]');
  const gd = {_CHART_JS};
  return {{
    url: location.href,
    script: app && app.getAttribute("data-test-script-state"),
    connection: app && app.getAttribute("data-test-connection-state"),
    charts: document.querySelectorAll('.js-plotly-plot').length,
    first_chart_draws: gd && gd.__afterplots ? gd.__afterplots.length : 0,
    spinners: [...document.querySelectorAll('[data-testid="stSpinner"]')]
      .map((s) => s.innerText.trim()),
    exceptions: [...document.querySelectorAll('[data-testid="stException"]')]
      .map((e) => e.innerText.slice(0, 300)),
  }};
}}
"""
_PLAY_LISTEN_JS = """
() => {
  const p = (window.__play = {frames: [], done: false});
  // The player tells each step it draws (race_player.js).
  const player = document.querySelector(".optviz-player");
  const record = (e) => p.frames.push([performance.now(), String(e.detail.step)]);
  player.addEventListener("optviz-frame", record);
}
"""


class Unmeasured(Exception):
    """A figure the page did not let us measure; printed as "n/a (reason)"."""


def page_state(page: Any) -> str:
    try:
        return str(page.evaluate(_STATE_JS))
    except Exception as error:  # a closed or crashed page: say so instead
        return f"(page state unreadable: {error})"


def wait_js(page: Any, js: str, arg: Any = None, *, timeout_s: float, what: str) -> Any:
    """Wait for ``js(arg)`` to be truthy and return it; on timeout say what the page showed."""
    try:
        handle = page.wait_for_function(js, arg=arg, polling=10, timeout=timeout_s * 1e3)
    except PlaywrightTimeoutError:
        state = page_state(page)
        raise Unmeasured(f"{what}: not within {timeout_s:.0f} s; page: {state}") from None
    return handle.json_value()


def settle(page: Any, what: str, timeout_s: float = 120) -> None:
    try:
        wait_for_idle(page, timeout_ms=timeout_s * 1e3)
    except AssertionError as error:
        raise Unmeasured(f"{what}: {error}") from None


def new_page(browser: Any) -> tuple[Any, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    track_page(page)  # the tests' script-run tracking, for wait_for_idle
    page.add_init_script(_HOOK_JS)
    return context, page


def first_chart_ms(browser: Any, url: str, timeout_s: float = 180) -> float:
    """A new visitor: ms from navigation start to the first chart's first plotly_afterplot."""
    context, page = new_page(browser)
    try:
        page.goto(url, timeout=timeout_s * 1e3)
        drawn = wait_js(page, _FIRST_DRAWN_JS, timeout_s=timeout_s, what=f"first chart of {url}")
        settle(page, f"{url} after its first chart")  # leave the server idle for the next one
        return float(drawn)
    finally:
        context.close()


def redraw_ms(page: Any, act: Callable[[], None], what: str, timeout_s: float = 120) -> float:
    """``act()``; ms from its key or pointer press to the chart redrawn with other data."""
    before = page.evaluate(_LAST_SIGNATURE_JS)
    if before is None:
        raise Unmeasured(f"{what}: the chart was never drawn; page: {page_state(page)}")
    page.evaluate("() => { window.__bench.action = null; }")
    act()
    took = wait_js(page, _REDRAWN_JS, before, timeout_s=timeout_s, what=what)
    settle(page, f"{what}, after the redraw")
    return float(took)


def press_slider(page: Any, label: str, key: str = "ArrowRight") -> Callable[[], None]:
    def act() -> None:
        thumb = slider_input(page, label)
        thumb.focus()
        page.keyboard.press(key)

    return act


def pick_pill(page: Any, label: str, option: str) -> Callable[[], None]:
    def act() -> None:
        group = page.locator('[data-testid="stButtonGroup"]').filter(has_text=label).first
        group.get_by_role("button", name=option, exact=True).click()

    return act


def pick_option(page: Any, testid: str, label: str, option: str) -> Callable[[], None]:
    def act() -> None:
        box = page.locator(f'[data-testid="{testid}"]').filter(has_text=label).first
        box.locator('[role="combobox"], input').first.click()
        choice = page.get_by_role("option", name=option, exact=True)
        choice.wait_for(state="visible", timeout=10_000)
        choice.click()

    return act


# ------------------------------------------------------------------------------- reporting


def ms(value: float) -> str:
    return f"{value:.0f} ms"


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def compare(name: str, optviz: list[float], anchor: list[float], goal: float) -> None:
    a, o = statistics.median(anchor), statistics.median(optviz)
    print(
        f"{name}: anchor {ms(a)}, optviz {ms(o)} (medians of {len(anchor)} / {len(optviz)}; "
        f"optviz all: {', '.join(f'{v:.0f}' for v in optviz)})\n"
        f"  optviz / anchor = {o / a:.2f} × (goal ≤ {goal} ×): {verdict(o / a <= goal)}",
        flush=True,
    )


def not_measured(name: str, error: Unmeasured) -> None:
    print(f"{name}: n/a ({error})", flush=True)


# ------------------------------------------------------------------------------------ parts


class Servers:
    """optviz and the anchor, each a ``streamlit run`` on a free loopback port."""

    def __init__(self) -> None:
        self.anchor: StreamlitServer = start_streamlit(
            command=lambda port: streamlit_command(port, ANCHOR_SCRIPT)
        )
        self.optviz: StreamlitServer = start_streamlit()

    def stop(self) -> None:
        self.optviz.stop()
        self.anchor.stop()


def first_warm(browser: Any, servers: Servers, samples: int) -> None:
    urls = {"anchor": servers.anchor.url, "optviz": servers.optviz.url}
    for url in urls.values():
        first_chart_ms(browser, url)  # the warm-up visit
    times: dict[str, list[float]] = {"anchor": [], "optviz": []}
    for _ in range(samples):
        for name, url in urls.items():
            times[name].append(first_chart_ms(browser, url))
    compare("first chart, new visitor, warm server", times["optviz"], times["anchor"], 1.3)


def first_cold(browser: Any, samples: int) -> None:
    times: dict[str, list[float]] = {"anchor": [], "optviz": []}
    for _ in range(samples):
        servers = Servers()
        try:
            times["anchor"].append(first_chart_ms(browser, servers.anchor.url))
            times["optviz"].append(first_chart_ms(browser, servers.optviz.url))
        finally:
            servers.stop()
    compare("first chart, first visitor, cold server", times["optviz"], times["anchor"], 1.6)


def slider_times(browser: Any, url: str, label: str, samples: int) -> list[float]:
    context, page = new_page(browser)
    try:
        page.goto(url)
        settle(page, f"{url} on opening")
        redraw_ms(page, press_slider(page, label), f"warm-up press on {label!r}")
        return [
            redraw_ms(page, press_slider(page, label), f"{label!r} press → chart redrawn")
            for _ in range(samples)
        ]
    finally:
        context.close()


def slider_part(browser: Any, servers: Servers, samples: int, results: dict) -> None:
    results["anchor slider"] = slider_times(browser, servers.anchor.url, ANCHOR_LABEL, samples)
    optviz = slider_times(browser, servers.optviz.url, STEPS_LABEL, samples)
    compare("slider key press → chart redrawn", optviz, results["anchor slider"], 1.5)


def play_part(browser: Any, servers: Servers) -> None:
    name = "Play"
    context, page = new_page(browser)
    try:
        page.goto(servers.optviz.url)
        settle(page, "optviz on opening")
        page.evaluate(_PLAY_LISTEN_JS)
        page.get_by_role("button", name="Play").click()
        # The player says it stopped (data-playing) once its last frame, step T, is drawn.
        try:
            page.wait_for_function(
                """() => {
                  const el = document.querySelector(".optviz-player");
                  const frames = window.__play.frames;
                  return frames.length && frames.at(-1)[1] === el.dataset.step
                    && el.dataset.playing === "false";
                }""",
                timeout=PLAY_SECONDS * 1e3,
            )
            ended = "the player stopped at step T"
        except PlaywrightTimeoutError:
            ended = f"cut off after {PLAY_SECONDS:.0f} s"
        frames = page.evaluate("() => window.__play.frames")
    except Unmeasured as error:
        not_measured(name, error)
        return
    finally:
        context.close()
    if len(frames) < 2:
        not_measured(name, Unmeasured(f"{len(frames)} animation frame(s) seen; {ended}"))
        return
    times = [t for t, _ in frames]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    positions = len({n for _, n in frames})
    try:
        steps = [int(n) for _, n in frames]
        jump = max(abs(b - a) for a, b in itertools.pairwise(steps))
        jump_text = f"{jump} steps (goal ≤ 2): {verdict(jump <= 2)}"
    except ValueError:
        jump_text = "n/a (frame names are not step numbers)"
    median_gap = statistics.median(gaps)
    print(
        f"Play: {len(frames)} frames in {(times[-1] - times[0]) / 1e3:.1f} s, {ended}\n"
        f"  distinct positions {positions} (goal ≥ 100): {verdict(positions >= 100)}\n"
        f"  interval between frames: median {ms(median_gap)} (goal ≤ 50 ms): "
        f"{verdict(median_gap <= 50)}; worst {ms(max(gaps))}\n"
        f"  largest jump between consecutive frames: {jump_text}",
        flush=True,
    )


def op_times(
    browser: Any, url: str, act_of: Callable, what: str, samples: int, page_path: str = "/?"
) -> list[float]:
    times = []
    for i in range(samples):
        # Each visitor its own step count: a new race and a new α grid search for the change.
        context, page = new_page(browser)
        try:
            page.goto(f"{url}{page_path}steps={310 + 10 * i}")
            settle(page, f"optviz on opening ({what})")
            times.append(redraw_ms(page, act_of(page), what))
        finally:
            context.close()
    return times


def ops_part(browser: Any, servers: Servers, samples: int, results: dict) -> None:
    if "anchor slider" not in results:
        results["anchor slider"] = slider_times(browser, servers.anchor.url, ANCHOR_LABEL, samples)
    anchor = results["anchor slider"]
    ops = {
        f"surface switch (→ {NEW_SURFACE}) → race redrawn": lambda page: pick_option(
            page, "stSelectbox", SURFACE_LABEL, NEW_SURFACE
        ),
        f"add an optimizer ({NEW_OPTIMIZER}) → race redrawn": lambda page: pick_pill(
            page, OPTIMIZERS_LABEL, NEW_OPTIMIZER
        ),
    }
    for name, act_of in ops.items():
        try:
            times = op_times(browser, servers.optviz.url, act_of, name, samples)
        except Unmeasured as error:
            not_measured(name, error)
            continue
        compare(f"{name} (vs the anchor's slider)", times, anchor, 2.0)


def maps_part(browser: Any, servers: Servers, samples: int) -> None:
    name = f"Landscapes map redrawn after an input changes ({MAP_LABEL} − 1)"
    try:
        times = op_times(
            browser,
            servers.optviz.url,
            lambda page: press_slider(page, MAP_LABEL, "ArrowLeft"),
            name,
            samples,
            page_path="/landscapes?tab=Maps&",
        )
    except Unmeasured as error:
        not_measured(name, error)
        return
    median = statistics.median(times)
    print(
        f"{name}: {ms(median)} (median of {len(times)}; all: "
        f"{', '.join(f'{v:.0f}' for v in times)})\n"
        f"  goal ≤ {ms(MAP_MS)}: {verdict(median <= MAP_MS)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="samples per figure (≥ 1)")
    parser.add_argument("--parts", default="first,slider,play,ops,maps")
    args = parser.parse_args()
    parts = args.parts.split(",")
    unknown = set(parts) - {"first", "slider", "play", "ops", "maps"}
    if unknown or args.samples < 1:
        parser.error(f"unknown parts {sorted(unknown)} or --samples < 1")
    os.environ.pop("RAY_ADDRESS", None)
    began = time.monotonic()
    results: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            if "first" in parts:
                try:
                    first_cold(browser, args.samples)
                except Unmeasured as error:
                    not_measured("first chart, cold server", error)
            servers = Servers()
            try:
                jobs: dict[str, Callable[[], None]] = {
                    "first": lambda: first_warm(browser, servers, args.samples),
                    "slider": lambda: slider_part(browser, servers, args.samples, results),
                    "play": lambda: play_part(browser, servers),
                    "ops": lambda: ops_part(browser, servers, args.samples, results),
                    "maps": lambda: maps_part(browser, servers, args.samples),
                }
                for name, job in jobs.items():
                    if name in parts:
                        try:
                            job()
                        except Unmeasured as error:
                            not_measured(name, error)
            finally:
                servers.stop()
        finally:
            browser.close()
    print(f"(bench_browser: {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
