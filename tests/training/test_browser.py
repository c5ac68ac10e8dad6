"""Live MNIST in a real Chromium against `streamlit run app.py`: press Start and the loss curve
appears and grows while the runs train; a tab open before another tab presses Start shows the new
group within seconds, without anyone touching it."""

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
)

from optviz.training.store import RunStore
from training.support import wait_until

pytestmark = pytest.mark.ray

# Points drawn in the first chart (the training loss), counted in plotly.js's `_fullData`, as [n]
# when n is above `moreThan` (no chart, or one not drawn yet, counts 0); else false, to wait on.
_LOSS_POINTS_JS = """
(moreThan) => {
  const gd = document.querySelector(".js-plotly-plot");
  if (!gd || gd._fullData === undefined) return moreThan < 0 ? [0] : false;
  const count = gd._fullData.reduce((sum, trace) => sum + (trace.x ? trace.x.length : 0), 0);
  return count > moreThan ? [count] : false;
}
"""


def loss_points(page: Any, more_than: int = -1, timeout: float = 180.0) -> int:
    """Wait until the loss chart has more than `more_than` points and return how many it has
    (with the default, return at once: 0 when no chart is drawn)."""
    handle = page.wait_for_function(_LOSS_POINTS_JS, arg=more_than, timeout=timeout * 1000)
    return int(handle.json_value()[0])


def test_pressing_start_draws_a_loss_curve_that_grows_while_training(
    app_server_process: StreamlitServer, page: Any
) -> None:
    # The MLP keeps a run busy for a while on a CPU; the link only pre-fills the widgets.
    open_app(page, app_server_process.url, "mnist?model=mlp&optimizers=adam")
    assert_no_app_errors(page, app_server_process)
    assert loss_points(page) == 0

    with expect_rerun(page):
        page.get_by_role("button", name="Start", exact=True).click()
    first = loss_points(page, more_than=0)
    second = loss_points(page, more_than=first)
    assert second > first > 0
    assert_no_app_errors(page, app_server_process)

    # Leave the session's server idle for the other tests: cancel, and wait until the store says
    # the run stopped (the live view's timer reruns the page until then).
    page.get_by_role("button", name="Cancel groups").click()
    store = RunStore(Path(app_server_process.env["OPTVIZ_DB"]))
    wait_until(lambda: not any(run.active for run in store.runs()), timeout=60)


NEW_GROUP_WITHIN_S = 3.0


def group_tag(number: str = "#") -> str:
    """CSS for a tag of a group (each titled "#<id> · <time> · <description>"), or of group
    `number` ("#7") alone."""
    prefix = number if number == "#" else f"{number} "
    return f'[data-tag][aria-label^="{prefix}"]'


def group_tags(page: Any, number: str = "#") -> Any:
    """The tags of the groups a tab shows in its "Groups to show", or of group `number`."""
    groups = page.get_by_test_id("stMultiSelect").filter(has_text="Groups to show")
    return groups.locator(group_tag(number))


# Wall-clock milliseconds by the page's own clock (two tabs' `performance.now()` start apart).
_NOW_MS_JS = "performance.timeOrigin + performance.now()"
# When the tab's last full script run finished, on the same clock.
_LAST_RUN_FINISHED_MS_JS = "() => performance.timeOrigin + window.__optviz.finished_at"
# The moment the tab shows the group's tag (polled every animation frame), on the same clock.
_SHOWN_MS_JS = f"""
(selector) => {{
  const tags = document.querySelectorAll(selector);
  return [...tags].some((tag) => tag.checkVisibility()) && {_NOW_MS_JS};
}}
"""


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
        open_app(tab_b, server.url, "mnist?model=logreg&optimizers=adam")
        open_app(page, server.url, "mnist?model=logreg&optimizers=adam")
        assert group_tags(tab_b).count() == 0, "a fresh store shows no group"

        with expect_rerun(page):  # tab A's Start run, until it finished and is shown
            page.get_by_role("button", name="Start", exact=True).click()
        finished_ms = float(page.evaluate(_LAST_RUN_FINISHED_MS_JS))
        label = group_tags(page).first.get_attribute("aria-label") or ""  # "#1 · 12:00:01 · …"
        assert label.startswith("#"), label
        number = label.split(" ")[0]

        # The signal: the group's tag in tab B's selection of groups to show.
        selector = f'[data-testid="stMultiSelect"] [data-tag][aria-label^="{number} "]'
        shown = tab_b.wait_for_function(
            _SHOWN_MS_JS, arg=selector, timeout=(NEW_GROUP_WITHIN_S + 10) * 1000
        )
        seen_after_s = (float(shown.json_value()) - finished_ms) / 1000
        assert seen_after_s <= NEW_GROUP_WITHIN_S, (
            f"tab B showed group {number} {seen_after_s:.1f} s after tab A's Start run finished"
        )
        assert group_tags(tab_b, number).count() == 1
        assert_no_app_errors(tab_b, server)
    finally:
        other.close()
