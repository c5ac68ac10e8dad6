"""Live MNIST in a real Chromium against `streamlit run app.py`: the page says while its workers
start and stops saying it once they are up; press Start and the loss curve appears and grows
while the runs train. (How soon the worker's first point is stored is timed in
`test_cluster.py`; how soon the page draws it depends on the machine's load: see the docs.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    open_app,
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
