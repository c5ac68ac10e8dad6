"""The Experiments page under AppTest (each experiment draws its chart, its setup and its link)
and once in a real Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import StreamlitServer, assert_no_app_errors, open_app, plotly_data
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "experiments.py")


def run_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def chart(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_the_default_experiment_is_reddis_with_its_setup_chart_and_link():
    at = run_page({"steps": "1000"})
    assert not at.exception
    assert at.subheader[0].value == "Adam fails, AMSGrad converges"
    assert any("Reddi, Kale & Kumar" in m.value for m in at.markdown)
    assert len(at.get("latex")) >= 2
    names = {trace["name"].split(" (")[0] for trace in chart(at)["data"]}
    assert names == {"Adam", "AMSGrad", "SGD", "AdaMax"}
    caption = at.caption[0].value  # the outcome, read off the race
    assert caption.startswith("After 1,000 steps: Adam x_T = +0.9")
    assert "AMSGrad x_T = -1.00" in caption
    assert dict(at.query_params) == {
        "experiment": "reddi",
        "setting": "deterministic",
        "steps": "1000",
    }


def test_each_experiment_is_one_click_and_one_url():
    at = run_page({"steps": "1000"})
    at.radio(key="experiments_experiment").set_value("decay").run()
    assert not at.exception and at.subheader[0].value == "Adam + L2 vs AdamW"
    assert {"Adam + L2 fixed point", "AdamW fixed point"} <= {
        trace.get("name") for trace in chart(at)["data"]
    }
    assert dict(at.query_params) == {"experiment": "decay"}
    at.radio(key="experiments_experiment").set_value("rotation").run()
    before = chart(at)
    at.slider(key="experiments_angle").set_value(60).run()
    assert not at.exception and at.query_params["angle"] == "60"
    assert chart(at)["layout"]["meta"]["race"]["id"] != before["layout"]["meta"]["race"]["id"]
    assert "SGD" in at.caption[0].value


def test_a_link_opens_its_experiment_and_a_bad_one_says_what_it_ignored():
    at = run_page({"experiment": "rotation", "angle": "45"})
    assert not at.exception and at.slider(key="experiments_angle").value == 45
    at = run_page({"experiment": "rotation", "angle": "400", "colour": "red"})
    warnings = [w.value for w in at.warning]
    assert any("`angle`: must be between -90 and 90" in w for w in warnings)
    assert any("`colour`: unknown parameter" in w for w in warnings)
    assert at.slider(key="experiments_angle").value == 30


@pytest.mark.browser
def test_the_experiments_page_opens_and_draws_its_chart(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url, "experiments?experiment=reddi&steps=1000")
    traces = plotly_data(page, 0)
    names = {trace["name"].split(" (")[0] for trace in traces}
    assert {"Adam", "AMSGrad", "SGD", "AdaMax"} <= names
    # Each curve runs from t = 1 to T = 1000 (log-spaced samples).
    assert all(trace["x"][0] == 1 and trace["x"][-1] == 1000 for trace in traces)
    assert all(len(trace["x"]) > 100 for trace in traces)
    assert_no_app_errors(page, app_server_process)
