"""The explorer page under Streamlit's AppTest: widgets change the race, bad input gets messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explorer.py")
STREAMLIT_JS = Path(streamlit.__file__).parent / "static" / "static" / "js"


def label(trace: dict) -> str:
    """A trace's optimizer label: its legend name without the "(α = …)" after it."""
    return (trace.get("name") or "").split(" (")[0]


def run_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def chart_elements(at: AppTest, name: str = "optviz_chart") -> list[dict]:
    """What the page sent its chart elements (``optviz.ui.chart_view``, or ``race_view`` with
    ``name="optviz_race"``): each figure, with its id and whatever else the element needs."""
    elements = [c for c in at.get("bidi_component") if c.proto.component_name == name]
    return [json.loads(c.proto.bytes) for c in elements]


def charts(at: AppTest) -> list[dict]:
    """The figures of the page's charts other than the race, in page order."""
    return [element["figure"] for element in chart_elements(at)]


def race_element(at: AppTest) -> dict:
    """What the page sent its race element: the figure and its player's race."""
    (race,) = chart_elements(at, "optviz_race")
    return race


def race_spec(at: AppTest) -> dict:
    """The main figure (the race chart's) as Plotly JSON."""
    return race_element(at)["figure"]


def path_traces(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t.get("type") == "scatter" and t.get("mode") == "lines"]


def adam_path(spec: dict) -> object:
    """The x coordinates of Adam's path trace in a race figure's JSON."""
    return next(t for t in spec["data"] if label(t) == "Adam")["x"]


def assert_healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_default_view_races_four_optimizers_on_the_surface_with_its_player():
    at = run_page()
    assert_healthy(at)
    spec = race_spec(at)
    assert spec["data"][0]["type"] == "heatmap"
    names = {label(t) for t in spec["data"]}
    assert {"SGD", "Momentum", "RMSprop", "Adam"} <= names
    # The player under the chart animates this race (it finds the chart by the race's id).
    element, race = race_element(at), spec["layout"]["meta"]["race"]
    assert (element["id"], element["steps"], element["seconds"]) == (
        race["id"],
        race["steps"],
        race["seconds"],
    )
    # plotly.js comes from Streamlit's own chart module, which this Streamlit serves.
    assert (STREAMLIT_JS / element["plotly"]).is_file()
    assert at.query_params["opt"] == "sgd,momentum,rmsprop,adam"


def test_moving_a_slider_changes_the_race():
    at = run_page()
    before = race_spec(at)
    at.select_slider(key="explorer_adam_lr").set_value(0.001).run()
    assert_healthy(at)
    assert adam_path(before) != adam_path(race_spec(at))
    assert at.query_params["adam.lr"] == "0.001"


def test_adding_an_optimizer_adds_its_path():
    at = run_page()
    at.pills(key="explorer_optimizers").select("adamax").run()
    assert_healthy(at)
    assert "AdaMax" in {label(t) for t in race_spec(at)["data"]}


def test_paper_defaults_button_sets_algorithm_1s_values():
    at = run_page()
    at.button[1].click().run()  # "Paper defaults"
    assert at.select_slider(key="explorer_adam_lr").value == 0.001
    assert at.select_slider(key="explorer_adam_beta2").value == 0.999


def test_a_bad_formula_gets_a_message_and_the_last_good_surface_stays():
    at = run_page({"surface": "custom", "formula": "x**2 + y**2"})
    assert_healthy(at)
    at.text_input(key="explorer_formula").input("__import__('os').system('ls')").run()
    assert_healthy(at)
    assert any("Showing the last formula that worked" in e.value for e in at.error)
    assert race_spec(at)["data"][0]["type"] == "heatmap"
    assert at.query_params["formula"] == "x**2 + y**2"


def test_switching_surface_resets_the_start_to_the_new_surfaces_own():
    at = run_page()
    at.selectbox(key="explorer_surface").set_value("himmelblau").run()
    assert_healthy(at)
    assert (at.number_input(key="explorer_x0").value, at.number_input(key="explorer_y0").value) == (
        -0.3,
        -0.9,
    )


@pytest.mark.parametrize(
    "query",
    [
        {"steps": "abc"},
        {"surface": "nope"},
        {"opt": "sgd,shampoo"},
        {"adam.lr": "nan"},
        {"surface": "custom", "formula": "lambda: 1"},
        {"x0": "1e999", "y0": "0"},
        {"x0": "100", "y0": "0"},
        {"sigma": "-1"},
    ],
)
def test_bad_link_parameters_give_warnings_not_exceptions(query):
    at = run_page(query)
    assert_healthy(at)
    assert at.warning, "expected a warning naming the bad parameter"
    assert race_spec(at)["data"][0]["type"] == "heatmap"


def test_a_link_with_hundreds_of_unknown_parameters_shows_one_warning():
    at = run_page({f"ref{i}": "x" for i in range(300)} | {"steps": "120"})
    assert_healthy(at)
    assert [w.value for w in at.warning] == [
        "Ignored 300 unknown link parameters: `ref0`, `ref1`, `ref2`, `ref3`, `ref4` and 295 more."
    ]
    assert at.slider(key="explorer_steps").value == 120


def test_a_link_reproduces_the_view():
    query = {"surface": "beale", "steps": "120", "opt": "sgd,adam", "adam.lr": "0.05", "seed": "3"}
    at = run_page(query)
    assert_healthy(at)
    assert not at.warning
    assert at.selectbox(key="explorer_surface").value == "beale"
    assert at.slider(key="explorer_steps").value == 120
    assert at.select_slider(key="explorer_adam_lr").value == 0.05
    assert {label(t) for t in path_traces(race_spec(at))} >= {"SGD", "Adam"}


def test_no_optimizer_selected_shows_a_hint_instead_of_a_chart():
    at = run_page()
    at.pills(key="explorer_optimizers").set_value([]).run()
    assert_healthy(at)
    assert any("Choose at least one optimizer" in i.value for i in at.info)


def test_adam_in_the_race_shows_the_bias_correction_ablation():
    at = run_page()
    at.session_state["explorer_tab"] = "Internals"  # tabs are lazy: only the open one runs
    at.run()
    names = {t.get("name") for spec in charts(at) for t in spec["data"]}
    assert {"with bias correction", "without bias correction"} <= names
    at.pills(key="explorer_optimizers").set_value(["sgd", "momentum"]).run()
    assert_healthy(at)
    assert "without bias correction" not in {t.get("name") for s in charts(at) for t in s["data"]}


def test_only_the_open_tab_is_computed():
    at = run_page()
    assert len(charts(at)) == 1  # loss and distance in one chart (the race apart)
    at.session_state["explorer_tab"] = "Update rules"
    at.run()
    assert_healthy(at)
    assert not charts(at) and len(at.code) == 4  # one update() per optimizer


def test_a_formula_shows_as_typed_and_a_new_one_moves_a_non_finite_start_and_retunes_alpha():
    at = run_page({"surface": "custom", "formula": "x**2 + 10*y**2", "x0": "-1", "y0": "0.5"})
    assert_healthy(at)
    assert [h.value for h in at.subheader] == [r"x\*\*2 \+ 10\*y\*\*2"]  # Markdown shows x**2
    alpha_before = at.select_slider(key="explorer_adam_lr").value
    # log(x) is not finite at x₀ = −1: one note under the input, the start moves, α is re-tuned.
    at.text_input(key="explorer_formula").input("x - log(x) + y**2").run()
    assert_healthy(at)
    x0, y0 = at.number_input(key="explorer_x0").value, at.number_input(key="explorer_y0").value
    assert x0 > 0 and (x0, y0) != (-1.0, 0.5)
    (note,) = at.info
    assert note.value.startswith("f is not finite at (-1, 0.5): the race starts at the nearest")
    assert not at.warning  # no "cannot start" banner per optimizer
    assert at.query_params["formula"] == "x - log(x) + y**2"
    assert at.select_slider(key="explorer_adam_lr").value != alpha_before


def test_an_over_long_formula_gets_the_parsers_message_not_a_silent_cut():
    at = run_page({"surface": "custom", "formula": "x**2 + y**2"})
    at.text_input(key="explorer_formula").input("x + " * 100 + "y").run()
    assert_healthy(at)
    (error,) = at.error  # Markdown-escaped: the page shows the message as the parser wrote it
    assert error.value.startswith(r"formula is too long \(401 characters; the limit is 300\)")


@pytest.mark.parametrize(
    ("typed", "escaped"),
    [("x**2 + 10*y**2", r"x\*\*2 \+ 10\*y\*\*2"), ("__import__", r"\_\_import\_\_")],
)
def test_plain_text_escapes_markdown_so_it_shows_as_typed(typed: str, escaped: str) -> None:
    from optviz.ui import plain

    assert plain(typed) == escaped


def test_a_surface_without_a_minimum_says_so_in_a_line_instead_of_an_empty_distance_chart():
    at = run_page({"surface": "saddle"})
    assert_healthy(at)
    (progress,) = charts(at)
    assert "xaxis2" not in progress["layout"]  # the loss alone, no empty distance panel
    assert any("no minimum to measure distance to" in c.value for c in at.caption)


def test_the_link_carries_the_3d_view_and_the_open_tab():
    at = run_page({"3d": "true", "tab": "Update rules"})
    assert_healthy(at)
    assert at.toggle(key="explorer_show_3d").value is True
    (surface_3d,) = charts(at)  # the 3-D surface; no Loss tab charts
    assert surface_3d["layout"]["meta"]["race3d"]
    assert at.query_params["3d"] == "true" and at.query_params["tab"] == "Update rules"
    at.toggle(key="explorer_show_3d").set_value(False).run()
    assert "3d" not in at.query_params


def test_a_schedule_changes_the_race_goes_into_the_link_and_is_named_in_the_caption():
    at = run_page()
    before = race_spec(at)
    at.selectbox(key="explorer_schedule").set_value("step").run()
    at.number_input(key="explorer_schedule_step_gamma").set_value(0.1).run()
    assert_healthy(at)
    assert adam_path(before) != adam_path(race_spec(at))
    assert at.query_params["schedule"] == "step" and at.query_params["schedule.gamma"] == "0.1"
    captions = [caption.value for caption in at.caption]
    assert "Learning-rate schedule: step (step_size = 100, gamma = 0.1)." in captions


def test_a_linked_schedule_fills_its_widgets():
    at = run_page({"schedule": "cosine", "schedule.T_max": "120"})
    assert_healthy(at)
    assert at.selectbox(key="explorer_schedule").value == "cosine"
    assert at.number_input(key="explorer_schedule_cosine_T_max").value == 120


def test_a_rerun_that_changes_nothing_races_nothing_again(monkeypatch):
    """The page's caches live in ``optviz.views``: a cache defined in the page itself would be
    new on every rerun, since Streamlit executes the page's script anew each time."""
    from optviz import views

    calls = []
    real = views.simulate
    monkeypatch.setattr(views, "simulate", lambda *a, **k: calls.append(a) or real(*a, **k))
    at = run_page({"seed": "4242"})  # a race no other test has run
    assert_healthy(at)
    raced = len(calls)
    at.run()
    at.session_state["explorer_tab"] = "Internals"  # another view of the same race
    at.run()
    assert_healthy(at)
    assert raced == 1 and len(calls) == raced


def test_a_new_optimizer_or_a_slider_move_races_only_the_run_it_changes(monkeypatch):
    from optviz import views
    from optviz.optim import OPTIMIZERS
    from optviz.ui import widget_key

    raced = []
    real = views.simulate
    monkeypatch.setattr(
        views,
        "simulate",
        lambda surface, runs, *a, **k: (
            raced.append([key for key, _ in runs]) or real(surface, runs, *a, **k)
        ),
    )
    at = run_page({"seed": "4243"})  # a race no other test has run
    chosen = at.pills(key="explorer_optimizers").value
    assert raced == [chosen]
    raced.clear()
    at.pills(key="explorer_optimizers").set_value([*chosen, "lion"]).run()
    assert_healthy(at)
    assert raced == [["lion"]]
    raced.clear()
    adam_lr = widget_key(OPTIMIZERS["adam"], OPTIMIZERS["adam"].hp("lr"), "explorer")
    at.select_slider(key=adam_lr).set_value(0.05).run()
    assert_healthy(at)
    assert raced == [["adam"]]


def test_a_race_put_together_from_runs_raced_apart_is_the_race_of_them_all_at_once():
    from optviz import views
    from optviz.trajectories import simulate

    runs = (("adam", (("lr", 0.1),)), ("momentum", (("lr", 0.002),)), ("rmsprop", ()))
    schedule = ("step", (("gamma", 0.5), ("step_size", 40)))
    setting = ("noisy_quadratic", "", 0.5)
    views.race(*setting, runs[:1], (1.0, -1.5), 120, 7, schedule)
    views.race(*setting, runs[1:2], (1.0, -1.5), 120, 7, schedule)
    joined = views.race(*setting, runs, (1.0, -1.5), 120, 7, schedule)  # only rmsprop is new
    surface = views.load_surface(*setting[:2]).with_noise(0.5)
    schedules = [("step", {"gamma": 0.5, "step_size": 40})] * 3
    runs_ = [(k, dict(h)) for k, h in runs]
    at_once = simulate(surface, runs_, (1.0, -1.5), 120, seed=7, schedules=schedules)
    np.testing.assert_array_equal(joined.paths, at_once.paths)
    np.testing.assert_array_equal(joined.diverged_at, at_once.diverged_at)
    np.testing.assert_array_equal(joined.losses, at_once.losses)
    for mine, theirs in zip(joined.state, at_once.state, strict=True):
        for name in theirs:
            np.testing.assert_array_equal(mine[name], theirs[name])
    assert joined.runs == at_once.runs and joined.schedules == at_once.schedules


def test_after_the_warm_up_a_first_visit_a_new_optimizer_or_a_surface_switch_tunes_nothing(
    monkeypatch,
):
    from optviz import presets, views

    views.warm_up()  # what the app starts beside the server
    tuned = []
    real = presets.tune_learning_rates
    monkeypatch.setattr(
        presets, "tune_learning_rates", lambda *a, **k: tuned.append(a[1]) or real(*a, **k)
    )
    at = run_page()
    chosen = at.pills(key="explorer_optimizers").value
    at.pills(key="explorer_optimizers").set_value([*chosen, "lion"]).run()
    at.pills(key="explorer_optimizers").set_value(chosen).run()
    at.selectbox(key="explorer_surface").set_value("himmelblau").run()
    assert_healthy(at)
    assert tuned == []
    # Elsewhere the warm-up tuned the default race only: a new optimizer there tunes itself.
    at.pills(key="explorer_optimizers").set_value([*chosen, "lion"]).run()
    assert tuned == [["lion"]]


def test_a_closed_optimizer_draws_no_sliders_yet_its_values_race_and_stay_in_the_link():
    at = run_page({"opt": "momentum,adam", "momentum.lr": "0.002", "momentum.momentum": "0.5"})
    assert_healthy(at)
    drawn = {slider.key for slider in at.select_slider}
    assert drawn and all(k.startswith("explorer_adam_") for k in drawn)  # Adam's is open
    for _ in range(2):  # and again on a rerun, when SGD's widgets have long been forgotten
        assert at.query_params["momentum.lr"] == "0.002"
        assert at.query_params["momentum.momentum"] == "0.5"
        race = race_spec(at)
        paths = [t for t in race["data"] if label(t) == "Momentum" and "lines" in t["mode"]]
        assert paths and "0.002" in paths[0]["name"]
        at.run()
