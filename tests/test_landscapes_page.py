"""The Landscapes page under Streamlit's AppTest: inputs change the maps, bad input gets
messages, the winners and a picked cell become explorer links."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from optviz import links

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "landscapes.py")
FAST = {"steps": "100", "starts": "2"}  # a short race from two starts keeps each run quick


def run_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for name, value in (FAST | (query or {})).items():
        at.query_params[name] = value
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def assert_healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["landscapes_tab"] = tab  # tabs are lazy: only the open one runs
    return at.run()


def test_the_page_opens_on_the_alpha_sensitivity_of_the_chosen_optimizers():
    at = run_page()
    assert_healthy(at)
    (spec,) = charts(at)
    legend = [t["name"] for t in spec["data"] if t.get("showlegend") is not False]
    assert legend == ["SGD", "Momentum", "RMSprop", "Adam"]
    assert "tab" not in at.query_params  # the default view: links stay short
    at.pills(key="landscapes_optimizers").set_value(["adam", "adamax"]).run()
    assert_healthy(at)
    (spec,) = charts(at)
    assert [t["name"] for t in spec["data"] if t.get("showlegend") is not False] == [
        "Adam",
        "AdaMax",
    ]
    assert at.query_params["opt"] == "adam,adamax"


def test_the_tolerance_changes_the_steps_panel():
    at = run_page({"surface": "booth"})
    steps_before = [t["y"] for t in charts(at)[0]["data"] if t.get("xaxis") == "x2"]
    at.select_slider(key="landscapes_tol").set_value(1e-8).run()
    assert_healthy(at)
    spec = charts(at)[0]
    assert [t["y"] for t in spec["data"] if t.get("xaxis") == "x2"] != steps_before
    assert at.query_params["tol"] == "1e-08"


def test_the_map_follows_its_inputs_and_a_picked_cell_is_not_yet_a_link():
    at = open_tab(run_page(), "Maps")
    assert_healthy(at)
    (spec,) = charts(at)
    assert [t["type"] for t in spec["data"]] == ["heatmap", "heatmap", "scatter"]
    assert len(spec["data"][1]["z"]) == 32 and "β1" in spec["layout"]["title"]["text"]
    at.selectbox(key="landscapes_map").set_value(("rmsprop", ("lr", "alpha"))).run()
    at.slider(key="landscapes_cells").set_value(16).run()
    assert_healthy(at)
    (spec,) = charts(at)
    assert len(spec["data"][1]["z"]) == 16 and "RMSprop" in spec["layout"]["title"]["text"]
    assert (at.query_params["map"], at.query_params["pair"]) == ("rmsprop", "lr,alpha")
    at.radio(key="landscapes_metric").set_value("steps").run()
    assert charts(at)[0]["data"][1]["colorbar"]["title"]["text"] == "steps"
    assert not at.get("link_button")  # until a cell is picked (the browser test picks one)


def test_a_map_too_large_for_one_pass_says_so_next_to_its_input():
    at = open_tab(run_page({"starts": "4", "cells": "64"}), "Maps")
    assert_healthy(at)
    assert any("runs at most 4,096 at once" in e.value for e in at.error)
    assert not charts(at)


def test_basins_show_a_panel_per_optimizer():
    at = open_tab(run_page({"surface": "himmelblau", "basin_cells": "16"}), "Basins")
    assert_healthy(at)
    (spec,) = charts(at)
    heatmaps = [t for t in spec["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 4 and len(heatmaps[0]["z"]) == 16
    assert spec["layout"]["title"]["text"].startswith("Basins")


def test_tune_all_ranks_every_optimizer_and_applies_the_winners_in_the_explorer():
    at = open_tab(run_page({"opt": "sgd,adam"}), "Tune all")
    assert_healthy(at)
    (table,) = at.dataframe
    assert list(table.value["optimizer"]) in (["SGD", "Adam"], ["Adam", "SGD"])
    assert any(
        "Score: the mean over those races of log10(f − f*) after 100 steps" in c.value
        for c in at.caption
    )
    (button,) = at.get("link_button")
    state, warnings = links.from_query(dict(parse_qsl(urlsplit(button.proto.url).query)))
    assert warnings == [] and set(state.optimizers) == {"sgd", "adam"}
    best = table.value["best configuration"][list(table.value["optimizer"]).index("Adam")]
    assert best.startswith(f"α = {state.hparams['adam']['lr']:g}")
    assert state.surface == "rosenbrock" and state.steps == 100


@pytest.mark.parametrize(
    "query",
    [
        {"cells": "1000"},
        {"map": "sgd"},
        {"tol": "-1"},
        {"surface": "nope"},
        {"x0": "99", "y0": "0"},
    ],
)
def test_bad_link_parameters_give_warnings_not_exceptions(query):
    at = run_page(query)
    assert_healthy(at)
    assert at.warning and charts(at)


def test_a_bad_formula_gets_a_message_and_the_last_good_surface_stays():
    at = run_page({"surface": "custom", "formula": "x**2 + y**2"})
    at.text_input(key="landscapes_formula").input("x +* y").run()
    assert_healthy(at)
    assert any("Showing the last formula that worked" in e.value for e in at.error)
    assert at.query_params["formula"] == "x**2 + y**2" and charts(at)
