"""The explorer in a real Chromium against `streamlit run app.py`: an animated contour with the
optimizers' paths loads, Play animates it in the browser, and moving a slider changes the race."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    move_slider,
    open_app,
    plotly_data,
    plotly_frames,
)


def path_names(traces: list[dict[str, Any]]) -> set[str]:
    return {
        t["name"] for t in traces if t.get("type") == "scatter" and "lines" in t.get("mode", "")
    }


def path_lengths(traces: list[dict[str, Any]]) -> dict[str, int]:
    """Points in each optimizer's path trace (the heads, named alike, are markers only)."""
    return {
        t["name"]: len(t["x"])
        for t in traces
        if t.get("type") == "scatter" and "lines" in t.get("mode", "")
    }


def slider_step(page: Any) -> int:
    """The race figure's animation slider position (a frame index)."""
    return int(
        page.locator(".js-plotly-plot").first.evaluate("gd => gd._fullLayout.sliders[0].active")
    )


@pytest.mark.browser
def test_explorer_loads_an_animated_contour_with_the_optimizers_paths(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    traces = plotly_data(page, 0)
    assert traces[0]["type"] == "contour"
    assert len(path_names(traces)) >= 3
    frames = plotly_frames(page, 0)
    assert len(frames) > 10
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_play_animates_the_race_in_the_browser(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    start = slider_step(page)
    page.locator(".updatemenu-button", has_text="Play").first.click()
    # The static view shows the finished race (slider at the end); Play replays it from step 0.
    page.wait_for_function(
        "s => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].active !== s",
        arg=start,
        timeout=10_000,
    )
    assert slider_step(page) != start
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_moving_a_slider_changes_the_chart(app_server_process: StreamlitServer, page: Any) -> None:
    open_app(page, app_server_process.url)
    before = path_lengths(plotly_data(page, 0))
    value = move_slider(page, "Steps", 2)
    assert value != "300"
    after = path_lengths(plotly_data(page, 0))
    assert after != before and len(after) >= 3
    assert "steps=" in page.url  # the link follows the view
    assert_no_app_errors(page, app_server_process)
