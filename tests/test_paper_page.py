"""The Paper lab page under AppTest (an experiment's setup, its Start / Resume button, its link,
a finished sweep's figure and claims, read from a real store that the real loop trained), and
once in a real Chromium: Fig. 1's quick preset started from the page runs on the app's Ray to
the end and the claims table gets its marks; so do Fig. 2's and Fig. 4's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import StreamlitServer, assert_no_app_errors, expect_rerun, open_app
from paper_support import train_sweep_here
from streamlit.testing.v1 import AppTest

from optviz.paper import FAIL, PAPER_EXPERIMENTS, PASS, PENDING
from optviz.training import cluster
from optviz.training.data import load_mnist
from optviz.training.store import RunStore
from optviz.training.sweeps import sweep_progress

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "paper_lab.py")
FIG1 = PAPER_EXPERIMENTS["fig1"]


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The page's own store for one test; its collector is closed afterwards (no run is ever
    queued here, so it never starts Ray)."""
    path = tmp_path / "runs.db"
    monkeypatch.setenv("OPTVIZ_DB", str(path))
    yield path
    cluster.close_collectors()


def run_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def claims(at: AppTest) -> dict[str, str]:
    """The claims table: claim → its mark."""
    (frame,) = [t.value for t in at.table]
    return dict(zip(frame.index, frame["Reproduced"], strict=True))


def figure(at: AppTest) -> dict:
    (element,) = [c for c in at.get("bidi_component") if c.proto.component_name == "optviz_chart"]
    return json.loads(element.proto.bytes)["figure"]


def test_the_default_is_fig1_quick_with_its_setup_a_start_button_and_a_link(db: Path) -> None:
    at = run_page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Paper lab"
    setup = "\n".join(m.value for m in at.markdown)
    assert "Kingma & Ba 2015, §6.1" in setup and "9 runs in all" in setup
    assert "Adam: 0.01, 0.03, 0.1" in setup
    assert at.button(key="paper_start").label == "Start (9 runs)"
    assert not at.button(key="paper_start").disabled
    assert dict(at.query_params) == {"experiment": "fig1", "preset": "quick"}
    assert set(claims(at).values()) == {PENDING}
    assert "0 of 9 done" in at.get("progress")[0].proto.text
    assert figure(at)["data"] == []  # nothing trained yet: the figure says so


def test_a_link_reopens_an_experiment_and_preset_or_a_sweep_key(db: Path) -> None:
    at = run_page({"experiment": "fig2", "preset": "full"})
    assert not at.exception
    assert at.radio(key="paper_experiment").value == "fig2"
    assert at.button(key="paper_start").label == "Start (50 runs)"
    assert "with dropout; without dropout" in "\n".join(m.value for m in at.markdown)

    key = PAPER_EXPERIMENTS["fig2"].plan("quick").key
    at = run_page({"sweep": key})
    assert (at.radio(key="paper_experiment").value, at.radio(key="paper_preset").value) == (
        "fig2",
        "quick",
    )
    assert dict(at.query_params) == {"experiment": "fig2", "preset": "quick"}


def test_a_bad_link_says_what_is_wrong_and_shows_fig1(db: Path) -> None:
    at = run_page({"experiment": "fig9", "preset": "huge"})
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Unknown experiment 'fig9'; choose one of fig1, fig2, fig3, fig4.",
        "Unknown preset 'huge'; choose quick or full.",
    ]
    assert at.radio(key="paper_experiment").value == "fig1"


def test_a_link_with_data_the_experiment_does_not_offer_says_so_and_keeps_its_own(
    db: Path,
) -> None:
    at = run_page({"experiment": "fig1", "data": "cifar10"})
    assert not at.exception
    assert [w.value for w in at.warning] == ["Data 'cifar10' is not offered for this experiment."]
    assert at.radio(key="paper_experiment").value == "fig1"


def test_a_sweep_with_a_failed_run_offers_its_retry_and_once_finished_shows_its_claims(
    db: Path,
) -> None:
    store = RunStore(db)
    plan = FIG1.plan("quick")
    train_sweep_here(store, load_mnist(), plan, fail=1)  # the real loop, the real store

    at = run_page()
    assert not at.exception and not at.error
    assert at.button(key="paper_start").label == "Resume (8 of 9 finished, 1 to queue)"
    assert at.button(key="paper_retry").label == "Retry failed (1)"
    assert "8 of 9 done · 0 running · 0 queued · 1 failed" in at.get("progress")[0].proto.text
    assert PENDING in claims(at).values()  # the failed run's optimizer has a grid point missing

    (retried,) = train_sweep_here(store, load_mnist(), plan)  # what Retry queues: just that run
    at = run_page()
    assert not at.exception and not at.error
    assert at.button(key="paper_start").label == "All 9 runs finished or under way"
    assert at.button(key="paper_start").disabled
    assert "paper_retry" not in _keys(at)
    marks = claims(at)
    assert len(marks) == len(FIG1.claims) and set(marks.values()) <= {PASS, FAIL}
    names = [trace["name"] for trace in figure(at)["data"]]
    assert [name.split(" (")[0] for name in names] == ["Adam", "Nesterov", "Adagrad"]
    assert any(
        c.value.startswith("Best α (lowest final training cost): Adam α=") for c in at.caption
    )
    assert "9 of 9 done" in at.get("progress")[0].proto.text
    assert sweep_progress(store, plan).done == 9 and store.run(retried).status == "done"  # type: ignore[union-attr]


def test_fig3_without_cifar10_says_how_to_get_it_and_offers_fashion_mnist(
    db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPTVIZ_DATA_DIR", str(tmp_path / "no-data"))  # CIFAR-10 is absent
    at = run_page({"experiment": "fig3", "preset": "quick"})
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning]
    assert "CIFAR-10 not found" in warning
    assert "python -m optviz.training.datasets cifar10" in warning  # how to get it
    assert at.button(key="paper_start").disabled  # nothing to train on until a choice is made
    toggle = at.toggle(key="paper_fallback")
    assert toggle.label == "Run this sweep on Fashion-MNIST (clothing) instead" and not toggle.value

    at = toggle.set_value(True).run()
    assert not at.exception and not at.error
    start = at.button(key="paper_start")
    assert start.label == "Start (9 runs)" and not start.disabled
    setup = "\n".join(m.value for m in at.markdown)
    assert "data: Fashion-MNIST (clothing)" in setup and "Kingma & Ba 2015, §6.3" in setup
    assert dict(at.query_params) == {
        "experiment": "fig3",
        "preset": "quick",
        "data": "fashion-mnist",
    }

    at = run_page(dict(at.query_params))  # the link reopens the stand-in sweep
    assert at.toggle(key="paper_fallback").value and not at.button(key="paper_start").disabled
    stand_in = PAPER_EXPERIMENTS["fig3"].on("fashion-mnist")
    at = run_page({"sweep": stand_in.plan("quick").key})
    assert at.toggle(key="paper_fallback").value


def _keys(at: AppTest) -> set[str]:
    return {button.key for button in at.button}


# --- in Chromium ----------------------------------------------------------------------------

# The claims table's marks once none is pending (false until then), read from the page.
_MARKS_JS = """
() => {
  const cells = [...document.querySelectorAll('[data-testid="stTable"] tbody tr td')];
  const marks = cells.map((cell) => cell.innerText.trim()).filter((t) => t === "✔" || t === "✘");
  const pending = cells.some((cell) => cell.innerText.includes("not enough runs yet"));
  return !pending && marks.length ? marks : false;
}
"""


# The suite's 300 s per test is too tight a hang bound for a sweep when the machine's two cores
# are shared (a load of 30 was seen): these wait up to 900 s, as their wait for the claims does.
SWEEP_TIMEOUT_S = 900


@pytest.mark.ray
@pytest.mark.timeout(SWEEP_TIMEOUT_S)
@pytest.mark.parametrize("key", ["fig1", "fig2", "fig4"])
def test_a_quick_preset_runs_from_the_page_to_its_claims_in_chromium(
    key: str, app_server_process: StreamlitServer, page: Any
) -> None:
    """Figs. 1, 2 and 4's quick presets, each started from the page, train on the app's Ray to
    the end and every claim gets ✔ or ✘ (Fig. 4: 36 VAE runs on 2,000 images)."""
    experiment = PAPER_EXPERIMENTS[key]
    plan = experiment.plan("quick")
    total = len(plan.runs)
    open_app(page, app_server_process.url, f"paper_lab?experiment={key}&preset=quick")
    assert_no_app_errors(page, app_server_process)
    with expect_rerun(page):
        page.get_by_role("button", name=f"Start ({total} runs)").click()
    # A bound for a hang, not a speed goal: a cold Ray, its workers and the runs on a busy CPU.
    marks = page.wait_for_function(_MARKS_JS, timeout=900_000).json_value()
    assert len(marks) == len(experiment.claims)
    page.get_by_text(f"{total} of {total} done", exact=False).first.wait_for()
    assert page.get_by_role("button", name=f"All {total} runs finished or under way").is_disabled()
    assert_no_app_errors(page, app_server_process)
    store = RunStore(Path(app_server_process.env["OPTVIZ_DB"]))
    assert sweep_progress(store, plan).done == total
    group = store.sweep_group(plan.key)
    assert group is not None and group.kind == "sweep"
    runs = store.runs(group_ids=[group.id])
    assert len(runs) == total and {r.node_ip for r in runs} == {"127.0.0.1"}
    assert {r.config.model for r in runs} == {experiment.model}


@pytest.mark.ray
@pytest.mark.timeout(SWEEP_TIMEOUT_S)
def test_fig3_quick_on_fashion_mnist_runs_from_the_page_when_cifar10_is_absent(
    app_server_process: StreamlitServer, page: Any
) -> None:
    """CIFAR-10 is not in the app's data directory: the page says so, and its Fashion-MNIST
    stand-in of Fig. 3's sweep, chosen on the page, trains the paper's CNN to its claims."""
    open_app(page, app_server_process.url, "paper_lab?experiment=fig3&preset=quick")
    page.get_by_text("CIFAR-10 not found", exact=False).first.wait_for()
    assert page.get_by_role("button", name="Start (9 runs)").is_disabled()
    with expect_rerun(page):
        page.get_by_text("Run this sweep on Fashion-MNIST (clothing) instead").click()
    with expect_rerun(page):
        page.get_by_role("button", name="Start (9 runs)").click()
    marks = page.wait_for_function(_MARKS_JS, timeout=900_000).json_value()
    assert len(marks) == len(PAPER_EXPERIMENTS["fig3"].claims)
    page.get_by_text("9 of 9 done", exact=False).first.wait_for()
    assert_no_app_errors(page, app_server_process)
    store = RunStore(Path(app_server_process.env["OPTVIZ_DB"]))
    plan = PAPER_EXPERIMENTS["fig3"].on("fashion-mnist").plan("quick")
    assert sweep_progress(store, plan).done == 9
    group = store.sweep_group(plan.key)
    assert group is not None
    assert {(r.config.model, r.config.dataset) for r in store.runs(group_ids=[group.id])} == {
        ("cnn-paper", "fashion-mnist")
    }
