"""Live MNIST in a real Chromium against `streamlit run app.py`: press Start and the loss curve
appears and grows while the runs train."""

from __future__ import annotations

import time
from typing import Any

from conftest import StreamlitServer, assert_no_app_errors, expect_rerun, open_app, plotly_data


def loss_points(page: Any) -> int:
    """Points drawn in the first chart (the training loss), counted in ``gd._fullData``."""
    if page.locator(".js-plotly-plot").count() == 0:
        return 0
    return sum(len(trace.get("x") or []) for trace in plotly_data(page, 0))


def wait_for_points(page: Any, more_than: int, timeout: float = 180.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := loss_points(page)) <= more_than:
        assert time.monotonic() < deadline, f"the loss curve stayed at {count} points"
        page.wait_for_timeout(250)
    return count


def test_pressing_start_draws_a_loss_curve_that_grows_while_training(
    app_server_process: StreamlitServer, page: Any
) -> None:
    # The MLP keeps a run busy for a while on a CPU; the link only pre-fills the widgets.
    open_app(page, app_server_process.url, "mnist?model=mlp&optimizers=adam")
    assert_no_app_errors(page, app_server_process)
    assert loss_points(page) == 0

    with expect_rerun(page):
        page.get_by_role("button", name="Start", exact=True).click()
    first = wait_for_points(page, 0)
    second = wait_for_points(page, first)
    assert second > first > 0
    assert_no_app_errors(page, app_server_process)

    with expect_rerun(page):  # leave the session's server idle for the other tests
        page.get_by_role("button", name="Cancel groups").click()
