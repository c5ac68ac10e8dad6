"""Two tabs on Live MNIST in one Chromium: a tab opened before another presses Start shows the
new group within seconds, without anyone touching it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conftest import VIEWPORT, StreamlitServer, expect_rerun, open_app, track_page

NEW_GROUP_WITHIN_S = 3.0


def group_tags(page: Any, number: str = "#") -> Any:
    """The tags of the groups a tab shows (each titled "#<id> · <time> · <description>")."""
    groups = page.get_by_test_id("stMultiSelect").filter(has_text="Groups to show")
    return groups.locator(f'[data-tag][aria-label^="{number}"]')


def test_a_tab_open_before_another_presses_start_shows_the_new_group(
    streamlit_server: Callable[..., StreamlitServer], page: Any, browser: Any
) -> None:
    # One warm Ray worker, not four: workers starting up would compete with the page for CPU.
    server = streamlit_server({"OPTVIZ_MAX_CONCURRENT_RUNS": "1"})
    other = browser.new_context(viewport=VIEWPORT)
    try:
        tab_b = other.new_page()
        tab_b.set_default_timeout(30_000)
        track_page(tab_b)
        open_app(tab_b, server.url, "mnist?model=logreg&optimizers=adam")
        open_app(page, server.url, "mnist?model=logreg&optimizers=adam")

        with expect_rerun(page):
            page.get_by_role("button", name="Start", exact=True).click()
        started = time.monotonic()
        label = group_tags(page).first.get_attribute("aria-label") or ""  # "#7 · 12:00:01 · …"
        assert label.startswith("#"), label
        number = label.split(" ")[0]

        tag = group_tags(tab_b, number)
        # The signal: the group's tag in tab B's selection of groups to show.
        tag.wait_for(state="visible", timeout=(NEW_GROUP_WITHIN_S + 2) * 1000)
        seen_after = time.monotonic() - started
        assert seen_after <= NEW_GROUP_WITHIN_S, f"tab B showed {number} after {seen_after:.1f} s"
        # And its run: the "Run" picker under the table offers it ("#12 Adam").
        runs = tab_b.get_by_test_id("stSelectbox").filter(has=tab_b.get_by_text("Run", exact=True))
        runs.filter(has_text="Adam").wait_for(state="visible", timeout=10_000)
    finally:
        cancel = page.get_by_role("button", name="Cancel groups")
        if cancel.count():  # leave no run training behind
            with expect_rerun(page):
                cancel.click()
        other.close()
