"""Links: the configuration survives a round trip through the URL; bad parts are dropped."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from optviz.links import (
    ExplorerState,
    LandscapesState,
    MnistState,
    explorer_link,
    from_query,
    landscapes_from_query,
    landscapes_to_query,
    mnist_from_query,
    mnist_to_query,
    to_query,
)
from optviz.optim import OPTIMIZERS


def test_a_full_configuration_round_trips_through_the_query():
    state = ExplorerState(
        surface="noisy_quadratic",
        start=(-2.5, 1.25),
        steps=500,
        seed=7,
        sigma=2.5,
        optimizers=("sgd", "adam"),
        hparams={
            "sgd": {"lr": 0.01},
            "adam": {"lr": 0.05, "beta2": 0.99, "bias_correction": False},
        },
        view="side",
        show_3d=True,
        tab="Internals",
    )
    parsed, warnings = from_query(to_query(state))
    assert warnings == []
    assert parsed == state


def test_a_custom_formula_round_trips():
    state = ExplorerState(surface="custom", formula="x^2 + 3*sin(y)")
    parsed, warnings = from_query(to_query(state))
    assert warnings == [] and parsed.formula == "x^2 + 3*sin(y)"


def test_an_empty_query_gives_the_defaults():
    assert from_query({}) == (ExplorerState(), [])


BAD = [
    ("surface", "mordor"),
    ("steps", "1e9"),
    ("steps", "5"),
    ("steps", "-3"),
    ("seed", "abc"),
    ("sigma", "nan"),
    ("sigma", "1000"),
    ("opt", "sgd,shampoo"),
    ("opt", ""),
    ("view", "sideways"),
    ("3d", "yes"),
    ("tab", "Secrets"),
    ("adam.lr", "nan"),
    ("adam.lr", "inf"),
    ("adam.lr", "-1"),
    ("adam.lr", "100"),
    ("adam.momentum", "0.9"),
    ("shampoo.lr", "0.1"),
    ("adam.bias_correction", "maybe"),
    ("x0", "1e400"),
    ("formula", "x" * 1000),
    ("__class__", "1"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_parameter_falls_back_to_its_default_with_a_warning(name, value):
    parsed, warnings = from_query(
        {name: value, "steps": "400"} if name != "steps" else {name: value}
    )
    assert len(warnings) == 1 and f"`{name}`" in warnings[0]
    default = ExplorerState()
    assert parsed.surface == default.surface
    assert parsed.optimizers == default.optimizers
    assert parsed.hparams == default.hparams


def test_good_parameters_survive_next_to_bad_ones():
    parsed, warnings = from_query({"steps": "400", "adam.lr": "nan", "adam.beta1": "0.5"})
    assert parsed.steps == 400 and parsed.hparams == {"adam": {"beta1": 0.5}}
    assert len(warnings) == 1


def test_a_start_needs_both_coordinates():
    parsed, warnings = from_query({"x0": "1.0"})
    assert parsed.start is None and "x0 and y0 go together" in warnings[0]


def test_a_custom_surface_needs_a_formula():
    parsed, warnings = from_query({"surface": "custom"})
    assert parsed.surface == "rosenbrock" and "needs a formula" in warnings[0]


def test_many_unknown_parameters_share_one_warning_that_counts_them():
    query = {f"utm_{i}": "x" for i in range(300)} | {"adam.foo": "1", "steps": "400"}
    parsed, warnings = from_query(query)
    assert parsed.steps == 400
    assert warnings == [
        "Ignored 301 unknown link parameters: `utm_0`, `utm_1`, `utm_2`, `utm_3`, `utm_4` "
        "and 296 more."
    ]


def test_a_bad_value_keeps_its_own_warning_beside_the_unknown_parameters():
    _, warnings = from_query({"seed": "abc", "a": "1", "b": "2"})
    assert warnings == [
        "Ignored link parameter `seed`: 'abc' is not a whole number",
        "Ignored 2 unknown link parameters: `a`, `b`.",
    ]


# --- Live MNIST ---------------------------------------------------------------------------


def test_a_full_mnist_configuration_round_trips_through_the_query():
    state = MnistState(
        model="cnn",
        optimizers=("sgd", "adam"),
        hparams={"adam": {"lr": 0.01, "bias_correction": False}, "sgd": {"lr": 0.05}},
        epochs=5,
        batch_size=64,
        train_images=12_000,
        seeds=2,
        device="cpu",
        dropout=0.2,
        x="seconds",
    )
    query = mnist_to_query(state)
    assert query["model"] == "cnn" and query["optimizers"] == "sgd,adam"
    assert query["adam.bias_correction"] == "false" and query["x"] == "seconds"
    parsed, warnings = mnist_from_query(query)
    assert warnings == []
    assert parsed == state


def test_the_default_mnist_link_is_short_and_an_empty_query_gives_the_defaults():
    assert mnist_to_query(MnistState()) == {
        "model": "logreg",
        "optimizers": "sgd,momentum,adagrad,adam",
    }
    assert mnist_from_query({}) == (MnistState(), [])


MNIST_BAD = [
    ("model", "resnet"),
    ("optimizers", "adam,shampoo"),
    ("optimizers", ""),
    ("epochs", "0"),
    ("epochs", "51"),
    ("batch", "abc"),
    ("batch", "5000"),
    ("images", "50"),
    ("images", "70000"),
    ("seeds", "0"),
    ("seeds", "17"),
    ("device", "tpu"),
    ("dropout", "0.9"),
    ("dropout", "nan"),
    ("x", "wallclock"),
    ("adam.lr", "nan"),
    ("adam.lr", "100"),
    ("adam.momentum", "0.9"),
    ("start", "1"),
]


@pytest.mark.parametrize(("name", "value"), MNIST_BAD)
def test_a_bad_mnist_parameter_falls_back_to_its_default_with_a_warning(name, value):
    good = {} if name == "epochs" else {"epochs": "4"}  # a good one beside it survives
    parsed, warnings = mnist_from_query({name: value} | good)
    assert len(warnings) == 1 and f"`{name}`" in warnings[0], warnings
    default = MnistState()
    assert parsed.model == default.model and parsed.optimizers == default.optimizers
    assert parsed.hparams == default.hparams and parsed.x == default.x
    assert parsed.epochs == (default.epochs if name == "epochs" else 4)


def test_mnist_links_name_the_bad_value():
    _, warnings = mnist_from_query({"model": "resnet", "optimizers": "adam,shampoo"})
    assert warnings == [
        "Ignored link parameter `model`: unknown model 'resnet'; "
        "choose one of logreg, mlp, cnn, cnn-paper, vae",
        "Ignored link parameter `optimizers`: unknown optimizer shampoo",
    ]


def test_the_explorer_and_mnist_links_keep_their_own_formats():
    # The explorer's optimizers are `opt`; Live MNIST's are `optimizers`: each page ignores the
    # other's, with a warning.
    _, warnings = mnist_from_query({"opt": "adam"})
    assert warnings == ["Ignored link parameter `opt`: unknown parameter"]
    _, warnings = from_query({"optimizers": "adam"})
    assert warnings == ["Ignored link parameter `optimizers`: unknown parameter"]


# --- Landscapes ----------------------------------------------------------------------------


def test_a_landscapes_configuration_round_trips_with_the_explorers_shared_parameters():
    state = LandscapesState(
        explorer=ExplorerState(
            surface="himmelblau",
            start=(1.5, -2.0),
            steps=400,
            seed=3,
            optimizers=("sgd", "rmsprop"),
            hparams={"rmsprop": {"lr": 0.02, "alpha": 0.9}},
        ),
        tab="Maps",
        map_key="rmsprop",
        pair=("lr", "alpha"),
        metric="steps",
        tol=1e-5,
        starts=2,
        seeds=3,
        cells=48,
        basin_cells=16,
    )
    query = landscapes_to_query(state)
    assert query["surface"] == "himmelblau" and query["rmsprop.alpha"] == "0.9"
    assert "view" not in query and "3d" not in query  # the explorer's own are not shared
    parsed, warnings = landscapes_from_query(query)
    assert warnings == []
    assert parsed == state


@pytest.mark.parametrize(
    ("query", "warning"),
    [
        ({"map": "sgd"}, "`map`: choose an optimizer with maps: momentum, nesterov, adadelta"),
        ({"pair": "beta1,lr"}, "`pair`: Adam maps beta1,beta2; lr,beta1"),
        ({"map": "rmsprop", "pair": "beta1,beta2"}, "`pair`: RMSprop maps lr,alpha"),
        ({"metric": "speed"}, "`metric`: must be one of gap, steps"),
        ({"tol": "0"}, "`tol`: must be between 1e-12 and 1000"),
        ({"tol": "inf"}, "`tol`: 'inf' is not a finite number"),
        ({"starts": "6"}, "`starts`: must be between 1 and 5"),
        ({"seeds": "9"}, "`seeds`: must be between 1 and 8"),
        ({"cells": "65"}, "`cells`: must be between 8 and 64"),
        ({"basin_cells": "x"}, "`basin_cells`: 'x' is not a whole number"),
        ({"tab": "Explorer"}, "`tab`: must be one of α sensitivity, Maps, Basins, Tune all"),
        ({"steps": "5"}, "`steps`: must be between 10 and 2000"),  # the explorer's check
        ({"view": "side"}, "`view`: unknown parameter"),
    ],
)
def test_bad_landscapes_parameters_are_dropped_with_a_warning_naming_them(query, warning):
    state, warnings = landscapes_from_query(query)
    assert len(warnings) == 1 and warning in warnings[0]
    default = LandscapesState()
    assert (state.tab, state.metric, state.tol, state.cells) == (
        default.tab,
        default.metric,
        default.tol,
        default.cells,
    )
    if "map" in query:  # a map's pair follows its optimizer
        assert state.pair in OPTIMIZERS[state.map_key].maps


def test_a_map_without_a_pair_takes_its_first_pair():
    state, warnings = landscapes_from_query({"map": "adadelta"})
    assert warnings == [] and state.pair == ("lr", "rho")


def test_the_explorer_link_carries_the_configuration_relative_to_the_app():
    state = ExplorerState(
        surface="booth",
        start=(1.0, 2.0),
        optimizers=("adam",),
        hparams={"adam": {"lr": 0.05, "beta1": 0.48751941342056}},  # a map cell's value
    )
    link = explorer_link(state)
    assert "adam.lr=0.05&" in link and "adam.beta1=0.48751941342056" in link
    assert link.startswith("./?")
    parsed, warnings = from_query(dict(parse_qsl(urlsplit(link).query)))
    assert warnings == [] and parsed == state  # exactly: the explorer races the cell's values


@pytest.mark.parametrize(
    ("state_type", "write", "read"),
    [(ExplorerState, to_query, from_query), (MnistState, mnist_to_query, mnist_from_query)],
)
def test_a_schedule_round_trips_on_both_pages_with_its_changed_parameters_only(
    state_type, write, read
):
    state = state_type(schedule=("step", {"step_size": 250, "gamma": 0.1}))
    query = write(state)
    assert query["schedule"] == "step" and query["schedule.step_size"] == "250"
    assert read(query) == (state, [])
    default_gamma = state_type(schedule=("step", {"gamma": 0.5}))  # the default: left out
    assert "schedule.gamma" not in write(default_gamma)
    assert "schedule" not in write(state_type())  # constant: the link stays short


@pytest.mark.parametrize("read", [from_query, mnist_from_query])
@pytest.mark.parametrize(
    ("query", "kept", "message"),
    [
        ({"schedule": "cyclic"}, ("constant", {}), "`schedule`: must be one of constant"),
        (
            {"schedule": "step", "schedule.step_size": "0"},
            ("step", {}),
            "`schedule.step_size`: step_size must be between 1",
        ),
        (
            {"schedule": "cosine", "schedule.T_max": "2.5"},
            ("cosine", {}),
            "`schedule.T_max`: T_max must be a whole number",
        ),
        (
            {"schedule": "cosine", "schedule.gamma": "0.5"},
            ("cosine", {}),
            "`schedule.gamma`: the cosine schedule has no parameter 'gamma'",
        ),
        ({"schedule.T_max": "nan"}, ("constant", {}), "`schedule.T_max`: 'nan' is not a finite"),
    ],
)
def test_a_bad_schedule_in_a_link_is_dropped_with_a_warning_that_names_it(
    read, query, kept, message
):
    state, warnings = read(query)
    assert state.schedule == kept
    assert len(warnings) == 1 and message in warnings[0], warnings


def test_an_experiment_link_round_trips_with_its_own_settings_only():
    from optviz.links import ExperimentState, experiment_from_query, experiment_to_query

    reddi = ExperimentState(experiment="reddi", setting="stochastic", steps=100_000)
    query = experiment_to_query(reddi)
    assert query == {"experiment": "reddi", "setting": "stochastic", "steps": "100000"}
    assert experiment_from_query(query) == (reddi, [])
    rotation = ExperimentState(experiment="rotation", angle=-45)
    assert experiment_to_query(rotation) == {"experiment": "rotation", "angle": "-45"}
    assert experiment_from_query(experiment_to_query(rotation)) == (rotation, [])
    assert experiment_from_query({}) == (ExperimentState(), [])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("experiment", "adam-beats-sgd", "must be one of reddi, decay, rotation"),
        ("setting", "adversarial", "must be one of deterministic, stochastic"),
        ("steps", "5000", "must be one of 1000, 10000, 100000"),
        ("angle", "91", "must be between -90 and 90"),
        ("angle", "thirty", "'thirty' is not a whole number"),
    ],
)
def test_a_bad_experiment_parameter_falls_back_to_its_default_with_a_warning(name, value, message):
    from optviz.links import ExperimentState, experiment_from_query

    state, warnings = experiment_from_query({name: value})
    assert state == ExperimentState()
    assert warnings == [f"Ignored link parameter `{name}`: {message}"]
