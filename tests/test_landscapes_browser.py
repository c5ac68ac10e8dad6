"""The Landscapes page in a real Chromium against `streamlit run app.py`: a map is drawn, and
clicking one of its cells opens the explorer's race with that cell's configuration."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    open_app,
    plotly_data,
    slider_input,
)

from optviz import links
from optviz.optim import OPTIMIZERS

# Adam over α × β1 on a 16 × 16 grid from one start, 100 steps: a map that draws quickly.
MAP = "landscapes?tab=Maps&map=adam&pair=lr,beta1&cells=16&starts=1&steps=100&opt=adam"

# The viewport position of cell (row, column) of the map's chart: its axes run over indices.
CELL_XY = """([row, column]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')][0];
  const {xaxis, yaxis} = gd._fullLayout, box = gd.getBoundingClientRect();
  return [box.left + xaxis._offset + xaxis.l2p(column), box.top + yaxis._offset + yaxis.l2p(row)];
}"""


@pytest.mark.browser
def test_a_picked_map_cell_opens_the_explorer_with_that_configuration(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url, MAP)
    traces = plotly_data(page, 0)
    assert [t["type"] for t in traces] == ["heatmap", "heatmap", "scatter"]
    assert len(traces[2]["x"]) == 16 * 16  # a selectable marker on every cell
    row, column = 9, 6
    x, y = page.evaluate(CELL_XY, [row, column])
    with expect_rerun(page):
        page.mouse.click(x, y)
    button = page.get_by_role("link", name="in the explorer")
    label = button.inner_text()
    assert label.startswith("Open Adam with α = ") and ", β1 = " in label
    alpha, beta1 = (float(part.split("= ")[1]) for part in label.split(" in the ")[0].split(", "))
    # The cell's values, as its hover names them, are the link's.
    hover = traces[2]["customdata"][row * 16 + column]
    assert hover == f"α = {alpha:.4g}, β1 = {beta1:.4g}"
    with page.context.expect_page() as opened:
        button.click()
    explorer = opened.value
    explorer.wait_for_load_state()
    query = dict(parse_qsl(urlsplit(explorer.url).query))
    state, warnings = links.from_query(query)
    assert warnings == [] and state.optimizers == ("adam",) and state.steps == 100
    assert state.hparams["adam"]["lr"] == pytest.approx(alpha, rel=1e-3)
    assert state.hparams["adam"]["beta1"] == pytest.approx(beta1, rel=1e-3)
    # Exactly the cell's values: column 6 of the α grid, row 9 of the β1 grid.
    adam = OPTIMIZERS["adam"]
    assert state.hparams["adam"]["lr"] == adam.hp("lr").dense(16)[column]
    assert state.hparams["adam"]["beta1"] == adam.hp("beta1").dense(16)[row]
    # The explorer races it: Adam's path is drawn, its sliders hold the cell's values exactly.
    race = plotly_data(explorer, 0)
    assert any(t.get("name", "").startswith("Adam") for t in race)
    for name, value in (("α · lr", "lr"), ("β1 · beta1", "beta1")):
        shown = slider_input(explorer, name).get_attribute("aria-valuetext")
        assert shown == f"{state.hparams['adam'][value]:g}"
    assert_no_app_errors(page, app_server_process)
