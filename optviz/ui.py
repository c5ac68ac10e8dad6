"""optviz's own Streamlit widgets: hyperparameter inputs built from the ``OPTIMIZERS`` registry
(both pages), and the race player under the explorer's race chart.

Sliders are ``select_slider``s over each hyperparameter's grid (``HyperParam.options``), so arrow
keys step through values a person would type (1e-3, 2e-3, 5e-3 … for rates; 0.9, 0.99, 0.999 …
for decays) instead of crawling through a linear range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from optviz import figures
from optviz.optim import HyperParam, OptimizerSpec
from optviz.schedules import SCHEDULES, Schedule
from optviz.trajectories import Trajectories


def plain(text: str) -> str:
    """``text`` escaped for Streamlit's Markdown, so it shows as typed: ``x**2`` stays
    ``x**2`` (not a bold "2"), ``__import__`` keeps its underscores."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", text)


def format_value(value: float) -> str:
    return f"{value:g}"


def widget_key(spec: OptimizerSpec, hp: HyperParam, key_prefix: str) -> str:
    return f"{key_prefix}_{spec.key}_{hp.name}"


def set_hyperparameters(spec: OptimizerSpec, values: Mapping[str, Any], *, key_prefix: str) -> None:
    """Put values into the widgets' session state (presets, links); call before the widgets."""
    for hp in spec.hyperparams:
        if hp.name in values:
            value = values[hp.name]
            st.session_state[widget_key(spec, hp, key_prefix)] = (
                bool(value) if hp.scale == "bool" else hp.snap(float(value))
            )


def hyperparameter_inputs(spec: OptimizerSpec, *, key_prefix: str) -> dict[str, float | bool]:
    """Render one optimizer's hyperparameter widgets and return their values by name."""
    values: dict[str, float | bool] = {}
    for hp in spec.hyperparams:
        key = widget_key(spec, hp, key_prefix)
        label = hp.widget_label  # plain text: screen readers read a label as it is
        if hp.scale == "bool":
            st.session_state.setdefault(key, bool(hp.default))
            values[hp.name] = st.toggle(label, key=key, help=hp.help)
        else:
            st.session_state.setdefault(key, float(hp.default))
            values[hp.name] = st.select_slider(
                label,
                options=hp.options(),
                key=key,
                format_func=format_value,
                help=hp.help,
            )
    return values


def set_schedule(schedule: Schedule, *, key_prefix: str) -> None:
    """Put a schedule into its widgets' session state (links); call before the widgets."""
    key, params = schedule
    st.session_state[f"{key_prefix}_schedule"] = key
    for name, value in params.items():
        st.session_state[f"{key_prefix}_schedule_{key}_{name}"] = value


def current_schedule(*, key_prefix: str) -> Schedule:
    """The schedule the widgets of ``schedule_inputs`` hold (for callbacks that run before
    them); constant if they were never drawn."""
    key = st.session_state.get(f"{key_prefix}_schedule", "constant")
    params = {}
    for param in SCHEDULES[key].params:
        widget = f"{key_prefix}_schedule_{key}_{param.name}"
        if widget in st.session_state:
            params[param.name] = st.session_state[widget]
    return key, params


def schedule_inputs(*, key_prefix: str) -> Schedule:
    """The learning-rate schedule: a select of ``SCHEDULES``, its α_t in LaTeX and a number
    input per parameter (bounded by its range, so every value it returns is valid)."""
    key = st.selectbox(
        "Learning-rate schedule",
        list(SCHEDULES),
        format_func=lambda k: SCHEDULES[k].label,
        key=f"{key_prefix}_schedule",
        help="α_t = α · s(t) for every optimizer, t counted from 1; built on "
        "torch.optim.lr_scheduler.",
    )
    spec = SCHEDULES[key]
    st.latex(spec.latex)
    params: dict[str, float] = {}
    for param in spec.params:
        widget = f"{key_prefix}_schedule_{key}_{param.name}"
        kind = int if param.integer else float
        st.session_state.setdefault(widget, kind(param.default))
        params[param.name] = st.number_input(
            param.label,
            min_value=kind(param.low),
            max_value=kind(param.high),
            step=kind(1) if param.integer else 0.05,
            key=widget,
            help=param.help,
        )
    return key, params


# The race player (optviz/figures/race_player.js) as a component: the script defines the player,
# and the component's entry point builds it once per mounted element, then hands it each race.
_RACE_PLAYER = st.components.v2.component(
    "optviz_race_player",
    js=figures.race.PLAYER_JS
    + """
export default function ({ parentElement, data }) {
  parentElement.optvizLoad ??= optvizRacePlayer(parentElement, optvizRaceChart);
  parentElement.optvizLoad(data.id, data.steps, data.seconds);
}
""",
    # In the page's DOM (its styles are scoped by class), where tests find it like the chart.
    isolate_styles=False,
)


def race_player(result: Trajectories, *, key: str) -> None:
    """▶ Play / ❚❚ Pause, the step scrubber and its readout, under the race chart of ``result``
    (drawn by ``figures.race_figure``); the animation runs in the browser."""
    _RACE_PLAYER(
        key=key,
        data={
            "id": figures.race.race_id(result),
            "steps": result.steps,
            "seconds": figures.race.play_seconds(result.steps),
        },
    )
