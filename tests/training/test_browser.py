"""Live MNIST in a real Chromium against `streamlit run app.py`: the page says while its workers
start and stops saying it once they are up; press Start and the loss curve appears and grows
while the runs train; Start clicked while the live view ticks makes its group every time; a tab
open before another presses Start shows the new group within 3 s. (How soon the worker's first
point is stored is timed in `test_cluster.py`; how soon the page draws it depends on the
machine's load: see the docs.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    VIEWPORT,
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    open_app,
    track_page,
    wait_for_idle,
)

from optviz.training.store import RunStore
from training.support import wait_until

pytestmark = pytest.mark.ray

# Points drawn in the first chart (the training loss), counted in plotly.js's `_fullData`, as
# [n, when] when n is above `moreThan` (no chart, or one not drawn yet, counts 0; `when` is the
# page's wall clock in ms); else false, to wait on (polled every animation frame).
_LOSS_POINTS_JS = """
(moreThan) => {
  const now = performance.timeOrigin + performance.now();
  const gd = document.querySelector(".js-plotly-plot");
  if (!gd || gd._fullData === undefined) return moreThan < 0 ? [0, now] : false;
  const count = gd._fullData.reduce((sum, trace) => sum + (trace.x ? trace.x.length : 0), 0);
  return count > moreThan ? [count, now] : false;
}
"""
# True once the page shows no "Starting Ray…" / "Starting workers…" note: every worker is up.
_WORKERS_UP_JS = """
() => ![...document.querySelectorAll('[data-testid="stAlert"]')].some(
  (alert) => alert.innerText.includes("Starting ")
)
"""


def loss_points(page: Any, more_than: int = -1, timeout: float = 180.0) -> tuple[int, float]:
    """Wait until the loss chart has more than `more_than` points; return how many it has and
    when (page clock, ms) it was seen (with the default, at once: 0 when no chart is drawn)."""
    handle = page.wait_for_function(_LOSS_POINTS_JS, arg=more_than, timeout=timeout * 1000)
    count, when = handle.json_value()
    return int(count), float(when)


def test_pressing_start_on_warm_workers_draws_a_loss_curve_that_grows(
    app_server_process: StreamlitServer, page: Any
) -> None:
    # The MLP keeps a run busy for a while on a CPU; the link only pre-fills the widgets.
    open_app(page, app_server_process.url, "mnist?model=mlp&optimizers=adam")
    assert_no_app_errors(page, app_server_process)
    assert loss_points(page)[0] == 0
    # The signal that the workers are warm: the page's "Starting …" note is gone (a bound for a
    # hang: a cold Ray and four workers take a while on a busy machine).
    page.wait_for_function(_WORKERS_UP_JS, timeout=300_000)

    with expect_rerun(page):
        page.get_by_role("button", name="Start", exact=True).click()
    first, _ = loss_points(page, more_than=0)
    second, _ = loss_points(page, more_than=first)
    assert second > first > 0
    assert_no_app_errors(page, app_server_process)

    # Leave the session's server idle for the other tests: cancel, and wait until the store says
    # the run stopped (the live view's timer reruns the page until then).
    page.get_by_role("button", name="Cancel groups").click()
    store = RunStore(Path(app_server_process.env["OPTVIZ_DB"]))
    wait_until(lambda: not any(run.active for run in store.runs()), timeout=60)


NEW_GROUP_WITHIN_S = 3.0


def group_tags(page: Any, number: str = "#") -> Any:
    """The tags in a tab's "Groups to show" (each titled "#<id> · <time> · <description>"), or
    the tag of group `number` ("#7") alone."""
    prefix = number if number == "#" else f"{number} "
    groups = page.get_by_test_id("stMultiSelect").filter(has_text="Groups to show")
    return groups.locator(f'[data-tag][aria-label^="{prefix}"]')


# Records, on the page's wall clock in ms (`timeOrigin` puts two tabs on one clock), the moment a
# group's tag first shows in the tab, as `window.__optviz_group_shown`: a mutation observer looks
# at every change of the document, so the time does not depend on how often anyone polls.
_RECORD_GROUP_SHOWN_JS = """
() => {
  const selector = '[data-testid="stMultiSelect"] [data-tag][aria-label^="#"]';
  const look = () => {
    if (window.__optviz_group_shown) return;
    const tag = [...document.querySelectorAll(selector)].find((t) => t.checkVisibility());
    if (!tag) return;
    window.__optviz_group_shown = [
      performance.timeOrigin + performance.now(), tag.getAttribute("aria-label"),
    ];
    observer.disconnect();
  };
  const observer = new MutationObserver(look);
  observer.observe(document.documentElement, {subtree: true, childList: true, attributes: true});
  look();
}
"""
_GROUP_SHOWN_JS = "() => window.__optviz_group_shown || false"


def test_a_tab_open_before_another_presses_start_shows_the_new_group_within_3_s(
    streamlit_server: Callable[..., StreamlitServer], page: Any, browser: Any
) -> None:
    # One warm Ray worker, not four: workers starting up would compete with the page for CPU.
    server = streamlit_server({"OPTVIZ_MAX_CONCURRENT_RUNS": "1"})
    other = browser.new_context(viewport=VIEWPORT)  # tab B: another browser, as it were
    try:
        tab_b = other.new_page()
        track_page(tab_b)
        for tab in (tab_b, page):  # a bound for a hang: the first load starts Ray meanwhile
            tab.set_default_timeout(120_000)
            open_app(tab, server.url, "mnist?model=logreg&optimizers=adam", timeout_ms=120_000)
            assert_no_app_errors(tab, server)
            assert group_tags(tab).count() == 0, "a fresh store shows no group"
        for tab in (tab_b, page):
            # Warm workers: the page's "Starting …" note is gone, and the full rerun that
            # followed (which moved the Start button up as the note went) is shown.
            tab.wait_for_function(_WORKERS_UP_JS, timeout=300_000)
            wait_for_idle(tab, timeout_ms=120_000)
            tab.evaluate(_RECORD_GROUP_SHOWN_JS)

        # Tab A presses Start from the keyboard, which does not depend on where the button is.
        page.get_by_role("button", name="Start", exact=True).press("Enter")
        # The signals: the new group's tag in tab A (its Start run shows it), then in tab B.
        started_ms, label = page.wait_for_function(_GROUP_SHOWN_JS).json_value()
        number = label.split(" ")[0]  # "#1 · 12:00:01 · …" → "#1"
        shown = tab_b.wait_for_function(_GROUP_SHOWN_JS, timeout=60_000).json_value()
        seen_after_s = (shown[0] - started_ms) / 1000
        print(f"tab B showed group {number} {seen_after_s:.2f} s after tab A")  # for -s
        assert shown[1].startswith(f"{number} "), (label, shown[1])
        assert seen_after_s <= NEW_GROUP_WITHIN_S, (
            f"tab B showed group {number} {seen_after_s:.1f} s after tab A did"
        )
        assert_no_app_errors(tab_b, server)
    finally:
        other.close()


def fragment_runs_finished(page: Any) -> int:
    """How many fragment runs (the live view's timer) the tab has seen finish."""
    return int(page.evaluate("() => window.__optviz.fragments_finished"))


def test_start_pressed_while_the_live_view_ticks_makes_a_group(
    streamlit_server: Callable[..., StreamlitServer], page: Any
) -> None:
    """Issue 15: Start pressed while the live view's fragment reruns every second (runs live)
    must make its group; each press is a real mouse click on the button."""
    server = streamlit_server({"OPTVIZ_MAX_CONCURRENT_RUNS": "1"})
    page.set_default_timeout(120_000)
    # An MLP for many epochs stays live for the whole test; the later groups queue behind it.
    open_app(page, server.url, "mnist?model=mlp&optimizers=adam&epochs=20", timeout_ms=120_000)
    page.wait_for_function(_WORKERS_UP_JS, timeout=300_000)
    wait_for_idle(page, timeout_ms=120_000)
    store = RunStore(Path(server.env["OPTVIZ_DB"]))
    start = page.get_by_role("button", name="Start", exact=True)
    for number in (1, 2, 3):
        if number > 1:  # the live view is ticking: wait for two of its runs to finish
            ticks = fragment_runs_finished(page)
            page.wait_for_function("(n) => window.__optviz.fragments_finished >= n", arg=ticks + 2)
            assert any(run.active for run in store.runs()), "runs are live while Start is pressed"
        start.click()
        group_tags(page, f"#{number}").wait_for(state="visible", timeout=60_000)
        assert len(store.groups(kind="live")) == number, "one press, one group"
    assert_no_app_errors(page, server)
    for group in store.groups(kind="live"):
        store.cancel_group(group.id)
    wait_until(lambda: not any(run.active for run in store.runs()), timeout=60)
