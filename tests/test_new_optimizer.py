"""Adding an optimizer is one class and one registry entry. The toy Signum, registered for one
test (``toy_optimizer.py``), appears and works in the race, the internals, the update rules, the
CSV and the explorer page with no other module edited. (The MNIST page and the training loop:
``tests/training/test_page.py`` and ``test_loop.py``.)"""

from __future__ import annotations

import base64
import csv
import inspect
import io
import json
from pathlib import Path

import numpy as np
import pytest
import toy_optimizer
from streamlit.testing.v1 import AppTest
from toy_optimizer import KEY, SPEC

from optviz import analyses, export, figures
from optviz.trajectories import simulate

START = (-1.5, 2.0)
LR = 0.01


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    toy_optimizer.register(monkeypatch)


@pytest.fixture
def result(toy: None):
    return simulate("rosenbrock", [(KEY, {"lr": LR}), ("adam", {"lr": LR})], START, 60)


def test_it_races_by_its_own_update_rule_in_its_own_colour(result) -> None:
    np.testing.assert_allclose(np.abs(result.updates[0, 0]), LR)  # ±α on every coordinate
    fig = figures.race_figure(result)
    (path,) = [
        t for t in fig.data if t.name.startswith(f"{SPEC.label} (α = ") and t.mode == "lines"
    ]
    steps = len(base64.b64decode(path.x["bdata"])) // 4  # float32s
    assert path.line.color == SPEC.color and steps == 61


def test_its_internals_show_its_bias_corrected_state_and_its_step_bound(result) -> None:
    rows = [axis.title.text for axis in figures.moments_figure(result, 0).select_yaxes()]
    assert rows == ["g", "m̂"]
    m = result.state[0]["exp_avg"][0]  # (T, 2)
    t = np.arange(1, 61)[:, None]
    np.testing.assert_allclose(result.moments(0)["m̂"], m / (1 - 0.9**t))
    names = [trace.name for trace in figures.step_size_figure(result, 0).data]
    assert f"sign step bound α = {LR:g}" in names


def test_its_bias_correction_can_be_ablated(toy: None) -> None:
    ablation = analyses.bias_correction_race("rosenbrock", KEY, {"lr": LR}, START)
    fig = figures.bias_correction_figure(ablation)
    assert [trace.name for trace in fig.data[:2]] == [
        "with bias correction",
        "without bias correction",
    ]
    assert "Signum" in fig.layout.title.text


def test_its_update_rule_and_reference_come_from_its_docstring() -> None:
    assert r"\theta_t" in SPEC.latex and "sign" in SPEC.latex
    assert SPEC.reference.startswith("Bernstein")
    assert "m.lerp_(grad, 1 - beta)" in inspect.getsource(SPEC.cls.update)


def test_its_trajectory_downloads_as_csv(result) -> None:
    rows = list(csv.DictReader(io.StringIO(export.trajectories_csv(result, seed=0))))
    mine = [row for row in rows if row["optimizer"] == KEY]
    assert len(mine) == 61 and float(mine[0]["x"]) == START[0]
    assert float(mine[0]["lr"]) == LR


def test_it_is_offered_on_the_explorer_page_and_races_there(toy: None) -> None:
    page = str(Path(__file__).resolve().parents[1] / "pages" / "explorer.py")
    at = AppTest.from_file(page, default_timeout=120)
    at.query_params["opt"] = KEY
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    race_pills = at.pills(key="explorer_optimizers")
    assert SPEC.label in race_pills.options and race_pills.value == [KEY]
    assert at.select_slider(key=f"explorer_{KEY}_lr").value > 0  # its own α slider, tuned
    (race,) = [c for c in at.get("bidi_component") if c.proto.component_name == "optviz_race"]
    spec = json.loads(race.proto.bytes)["figure"]
    assert SPEC.label in [(trace.get("name") or "").split(" (")[0] for trace in spec["data"]]
