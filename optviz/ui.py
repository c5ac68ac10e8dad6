"""optviz's own Streamlit widgets: hyperparameter inputs built from the ``OPTIMIZERS`` registry
(both pages), and the explorer's charts: the race chart with its player, and the others.

Sliders are ``select_slider``s over each hyperparameter's grid (``HyperParam.options``), so arrow
keys step through values a person would type (1e-3, 2e-3, 5e-3 … for rates; 0.9, 0.99, 0.999 …
for decays) instead of crawling through a linear range.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from optviz import figures
from optviz.optim import HyperParam, OptimizerSpec
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


# plotly.js as Streamlit's own charts load it: their module among Streamlit's static files, named
# relative to Streamlit's entry module (charts.js imports it from there).
(_PLOTLY_MODULE,) = (Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js")
_CHARTS_JS = (Path(figures.__file__).parent / "charts.js").read_text(encoding="utf-8")


def _chart_component(name: str, js: str, build: str) -> Any:
    """A component whose entry point builds its view once per mounted element (``build``, a JS
    expression of ``parentElement``), then hands it each new figure."""
    entry = f"""
export default function ({{ parentElement, data }}) {{
  parentElement.optvizUpdate ??= {build};
  parentElement.optvizUpdate(optvizChartData(data));
}}
"""
    # In the page's DOM (their styles are scoped by class), where tests find them like any chart.
    return st.components.v2.component(name, js=js + entry, isolate_styles=False)


_CHART_VIEW = _chart_component(
    "optviz_chart",
    _CHARTS_JS,
    "optvizChart(parentElement.appendChild(document.createElement('div')))",
)
_RACE_VIEW = _chart_component(
    "optviz_race", figures.race.PLAYER_JS + _CHARTS_JS, "optvizRaceView(parentElement)"
)


def _chart_data(figure_json: str, **fields: Any) -> bytes:
    """One JSON document with ``figure_json`` spliced in as it is (see charts.js)."""
    header = {
        "figure_id": hashlib.blake2b(figure_json.encode(), digest_size=8).hexdigest(),
        "plotly": f"./{_PLOTLY_MODULE.name}",
        **fields,
    }
    return f'{json.dumps(header)[:-1]}, "figure": {figure_json}}}'.encode()


def chart_view(figure_json: str, *, key: str) -> None:
    """A Plotly chart (``figure_json``: a figure as JSON) as wide as its column, drawn again
    only where a new figure differs (``key`` keeps it the same element across reruns)."""
    _CHART_VIEW(key=key, data=_chart_data(figure_json))


def race_view(figure_json: str, result: Trajectories, *, key: str) -> None:
    """The race chart (``figure_json``: ``figures.race_figure`` of ``result``, as JSON) with
    ▶ Play / ❚❚ Pause, the step scrubber and its readout under it; the animation runs in the
    browser."""
    data = _chart_data(
        figure_json,
        id=figures.race.race_id(result),
        steps=result.steps,
        seconds=figures.race.play_seconds(result.steps),
    )
    _RACE_VIEW(key=key, width="content", data=data)
