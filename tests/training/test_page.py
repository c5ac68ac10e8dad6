"""The Live MNIST page under Streamlit's AppTest: it renders, bad input gets a message beside the
widget and disables Start, a link only pre-fills widgets, and Start queues one run per optimizer
that the real collector trains on the session's Ray."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import toy_optimizer
from streamlit.testing.v1 import AppTest

from optviz.training import cluster
from optviz.training.store import RunStore
from training.support import wait_until

PAGE = Path(__file__).resolve().parents[2] / "pages" / "mnist.py"


@pytest.fixture
def db(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small_mnist_dir: Path, ray_session: str
) -> Iterator[Path]:
    """The page's store and data for one test; its collector is closed afterwards."""
    path = tmp_path / "runs.db"
    monkeypatch.setenv("OPTVIZ_DB", str(path))
    monkeypatch.setenv("OPTVIZ_DATA_DIR", str(small_mnist_dir))
    monkeypatch.setenv("OPTVIZ_MAX_CONCURRENT_RUNS", "2")  # two warm workers are enough here
    yield path
    cluster.close_collectors()


def page(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=120)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    return app.run()


def errors(app: AppTest) -> list[str]:
    return [element.value for element in app.error]


def test_the_page_renders_and_names_its_data_source(db: Path) -> None:
    app = page()
    assert not app.exception
    assert app.title[0].value == "Live MNIST"
    assert any("Data: IDX files in" in caption.value for caption in app.caption)
    assert errors(app) == []
    assert not app.button(key="mnist_start").disabled


@pytest.mark.parametrize(
    ("widget", "value", "message"),
    [
        ("mnist_epochs", 1000, "Epochs must be between 1 and 50 (got 1,000)."),
        ("mnist_batch_size", 0, "Batch size must be between 1 and 4,096 (got 0)."),
        ("mnist_subset", 5_000, "Training images must be between 100 and 2,000 (got 5,000)."),
        ("mnist_repeats", 5, "4 optimizer(s) × 5 seed(s) is 20 runs; one click starts 1 to 16."),
    ],
)
def test_an_out_of_range_input_gets_a_message_and_disables_start(
    db: Path, widget: str, value: int, message: str
) -> None:
    app = page()
    app.number_input(key=widget).set_value(value).run()
    assert not app.exception
    assert message in errors(app)
    assert app.button(key="mnist_start").disabled


def test_every_out_of_range_input_gets_its_message_at_once(db: Path) -> None:
    app = page()
    app.number_input(key="mnist_repeats").set_value(5).run()
    app.number_input(key="mnist_epochs").set_value(1000).run()
    app.number_input(key="mnist_batch_size").set_value(0).run()
    assert not app.exception
    assert set(errors(app)) == {
        "4 optimizer(s) × 5 seed(s) is 20 runs; one click starts 1 to 16.",
        "Epochs must be between 1 and 50 (got 1,000).",
        "Batch size must be between 1 and 4,096 (got 0).",
    }
    assert app.button(key="mnist_start").disabled


def test_choosing_no_optimizer_gets_a_message(db: Path) -> None:
    app = page()
    app.multiselect(key="mnist_optimizers").set_value([]).run()
    assert "Choose at least one optimizer." in errors(app)
    assert app.button(key="mnist_start").disabled


def test_a_link_prefills_the_widgets_but_never_starts_a_run(db: Path) -> None:
    app = page({"model": "mlp", "optimizers": "adam,sgd", "start": "1", "mnist_start": "true"})
    assert not app.exception
    assert app.selectbox(key="mnist_model").value == "mlp"
    assert app.multiselect(key="mnist_optimizers").value == ["adam", "sgd"]
    app.run()  # and again, as a reload would
    assert RunStore(db).runs() == []


def test_a_bad_link_falls_back_to_the_defaults_with_a_warning(db: Path) -> None:
    app = page({"model": "resnet", "optimizers": "adam,shampoo"})
    warnings = [element.value for element in app.warning]
    assert any("`model`: unknown model 'resnet'" in w for w in warnings)
    assert any("`optimizers`: unknown optimizer shampoo" in w for w in warnings)
    assert app.selectbox(key="mnist_model").value == "logreg"
    assert RunStore(db).runs() == []


def test_start_queues_one_run_per_optimizer_and_they_train_to_done(db: Path) -> None:
    app = page()
    app.multiselect(key="mnist_optimizers").set_value(["adam", "sgd"]).run()
    app.number_input(key="mnist_epochs").set_value(1).run()
    app.number_input(key="mnist_subset").set_value(1_000).run()
    app.button(key="mnist_start").click().run()
    assert not app.exception
    store = RunStore(db)
    runs = store.runs()
    assert [(r.optimizer, r.config.epochs, r.config.train_subset) for r in runs] == [
        ("adam", 1, 1_000),
        ("sgd", 1, 1_000),
    ]
    ended = wait_until(lambda: (now := store.runs()) and not any(r.active for r in now) and now)
    assert {r.status for r in ended} == {"done"}  # type: ignore[attr-defined]

    app.run()
    table = app.dataframe[0].value
    assert list(table["Status"]) == ["done", "done"]
    assert list(table["Progress"]) == [1.0, 1.0]
    app.button(key="mnist_cancel_groups").click().run()
    assert "nothing to cancel" in app.info[0].value


def test_optimizers_start_from_the_paper_settings_and_the_button_restores_them(db: Path) -> None:
    app = page()
    assert app.select_slider(key="mnist_hp_sgd_lr").value == 0.1  # not PyTorch's 1e-3
    assert app.select_slider(key="mnist_hp_adam_lr").value == 0.001
    app.select_slider(key="mnist_hp_adam_lr").set_value(0.01).run()
    app.select_slider(key="mnist_hp_adam_beta2").set_value(0.99).run()
    assert app.select_slider(key="mnist_hp_adam_beta2").value == 0.99
    app.button(key="mnist_paper_settings").click().run()
    assert app.select_slider(key="mnist_hp_adam_lr").value == 0.001
    assert app.select_slider(key="mnist_hp_adam_beta2").value == 0.999
    assert app.select_slider(key="mnist_hp_adam_eps").value == 1e-8


def test_a_newly_registered_optimizer_is_offered_with_its_paper_settings(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy_optimizer.register(monkeypatch)
    app = page({"optimizers": f"adam,{toy_optimizer.KEY}"})
    assert not app.exception
    assert toy_optimizer.SPEC.label in app.multiselect(key="mnist_optimizers").options
    assert app.select_slider(key=f"mnist_hp_{toy_optimizer.KEY}_lr").value == 1e-4


def test_every_setting_comes_from_the_link_and_goes_back_into_it(db: Path) -> None:
    query = {
        "model": "cnn",
        "optimizers": "sgd,adam",
        "adam.lr": "0.01",
        "epochs": "2",
        "batch": "64",
        "images": "1000",
        "seeds": "2",
        "device": "cpu",
        "dropout": "0.2",
        "x": "seconds",
    }
    app = page(query)
    assert not app.exception and list(app.warning) == []
    assert app.selectbox(key="mnist_model").value == "cnn"
    assert app.multiselect(key="mnist_optimizers").value == ["sgd", "adam"]
    assert app.select_slider(key="mnist_hp_adam_lr").value == 0.01
    assert app.select_slider(key="mnist_hp_sgd_lr").value == 0.1  # the paper's, not in the link
    assert [app.number_input(key=k).value for k in ("mnist_epochs", "mnist_batch_size")] == [2, 64]
    assert app.number_input(key="mnist_subset").value == 1000
    assert app.number_input(key="mnist_repeats").value == 2
    assert app.selectbox(key="mnist_device").value == "cpu"
    assert app.slider(key="mnist_dropout").value == 0.2
    assert app.radio(key="mnist_x").value == "seconds"
    assert dict(app.query_params) == query  # written back as it came

    app.number_input(key="mnist_epochs").set_value(4).run()
    app.select_slider(key="mnist_hp_adam_lr").set_value(0.001).run()  # back to the paper's
    assert app.query_params["epochs"] == "4"
    assert "adam.lr" not in app.query_params
    assert RunStore(db).runs() == []


def test_the_runs_are_drawn_above_the_settings_with_elapsed_time_and_eta(db: Path) -> None:
    app = page({"optimizers": "adam", "epochs": "1", "images": "1000"})
    app.button(key="mnist_start").click().run()
    store = RunStore(db)
    wait_until(lambda: not any(r.active for r in store.runs()), timeout=120)
    app.run()
    assert not app.exception
    # The runs (their heading, charts and table) come before the settings' first widget.
    in_order = list(app.main)  # every element, depth first, as the page shows them
    (heading,) = app.subheader
    assert heading.value == "Runs"

    def at(element: object) -> int:
        return next(i for i, node in enumerate(in_order) if node is element)

    settings_at = at(app.selectbox(key="mnist_model"))
    assert at(heading) < at(app.dataframe[0]) < settings_at
    assert at(app.get("plotly_chart")[0]) < settings_at
    table = app.dataframe[0].value
    assert list(table["Status"]) == ["done"]
    (run,) = store.runs()
    assert run.started_at is not None and run.finished_at is not None
    minutes, seconds = divmod(round(run.finished_at - run.started_at), 60)
    assert list(table["Elapsed"]) == [f"{minutes}:{seconds:02d}"]
    assert list(table["ETA"]) == [""]  # nothing left
    assert table["Samples/s"][0] > 0


def test_while_workers_start_the_page_says_so(db: Path) -> None:
    app = page()
    collector = cluster.get_collector()
    # A fresh collector: its workers take seconds to start, and the page says how far they got.
    infos = [element.value for element in app.info]
    assert collector.state.progress is None or any(
        info.startswith(("Starting Ray…", "Starting workers…")) for info in infos
    ), infos
    wait_until(lambda: collector.state.progress is None, timeout=120)
    app.run()
    assert not any(info.startswith("Starting") for info in (e.value for e in app.info))


def test_the_schedule_select_goes_into_each_runs_config_and_the_link(db: Path) -> None:
    app = page({"schedule": "cosine", "schedule.T_max": "40"})
    assert not app.exception and list(app.warning) == []
    assert app.selectbox(key="mnist_schedule").value == "cosine"
    assert app.number_input(key="mnist_schedule_cosine_T_max").value == 40
    app.selectbox(key="mnist_schedule").set_value("warmup").run()
    app.number_input(key="mnist_schedule_warmup_total_iters").set_value(20).run()
    assert app.query_params["schedule"] == "warmup"
    assert app.query_params["schedule.total_iters"] == "20"
    app.multiselect(key="mnist_optimizers").set_value(["adam"]).run()
    app.number_input(key="mnist_epochs").set_value(1).run()
    app.number_input(key="mnist_subset").set_value(1_000).run()
    app.button(key="mnist_start").click().run()
    assert not app.exception
    (run,) = RunStore(db).runs()
    assert (run.config.schedule, run.config.schedule_params) == (
        "warmup",
        {"start_factor": 0.1, "total_iters": 20},
    )
    ended = wait_until(lambda: (now := RunStore(db).runs()) and not now[0].active and now)
    assert ended[0].status == "done"  # type: ignore[index]


def test_a_vae_run_draws_its_loss_and_says_it_has_no_accuracy(db: Path) -> None:
    """The VAE's curve is its −ELBO; no accuracy chart with nothing in it, no 0 % in the table."""
    app = page({"optimizers": "adam", "epochs": "1", "images": "1000"})
    app.selectbox(key="mnist_model").set_value("vae").run()
    app.button(key="mnist_start").click().run()
    assert not app.exception
    store = RunStore(db)
    ended = wait_until(lambda: (now := store.runs()) and not any(r.active for r in now) and now)
    (run,) = ended  # type: ignore[misc]
    assert (run.config.model, run.status, run.best_accuracy) == ("vae", "done", None)
    app.run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1  # the loss chart alone
    assert any("negative ELBO" in info.value for info in app.info)
    table = app.dataframe[0].value
    assert table["Best accuracy"].isna().all()
