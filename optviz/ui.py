"""optviz's own Streamlit widgets: hyperparameter inputs built from the ``OPTIMIZERS`` registry
(every page), the surface section of the sidebar and the surface a link names (the explorer and
Landscapes), and the explorer's charts: the race chart with its player, and the others.

Sliders are ``select_slider``s over each hyperparameter's grid (``HyperParam.options``), so arrow
keys step through values a person would type (1e-3, 2e-3, 5e-3 … for rates; 0.9, 0.99, 0.999 …
for decays) instead of crawling through a linear range.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from optviz import figures, links
from optviz.optim import HyperParam, OptimizerSpec
from optviz.schedules import SCHEDULES, Schedule
from optviz.surfaces import MAX_FORMULA_LENGTH, MAX_NOISE, SURFACES, Surface
from optviz.trajectories import Trajectories
from optviz.views import load_surface

SURFACE_CHOICES = [*SURFACES, links.CUSTOM]


def linked_surface(
    link: links.ExplorerState, warnings: list[str]
) -> tuple[str, str, Surface, tuple[float, float]]:
    """The surface key, formula, surface and start a link names, with what cannot be used
    replaced by the defaults and said in ``warnings``: a formula that does not parse, a start
    outside the plot."""
    formula = ""
    if link.surface == links.CUSTOM:
        try:
            load_surface(links.CUSTOM, link.formula)
            formula = link.formula
        except ValueError as error:
            warnings.append(f"Ignored the link's formula: {error}")
    surface_key = "rosenbrock" if link.surface == links.CUSTOM and not formula else link.surface
    surface = load_surface(surface_key, formula)
    start = link.start or surface.start
    x_min, x_max, y_min, y_max = surface.bounds
    if not (x_min <= start[0] <= x_max and y_min <= start[1] <= y_max):
        warnings.append(f"Ignored the link's start point {start}: it lies outside the plot.")
        start = surface.start
    return surface_key, formula, surface, start


def surface_inputs(
    key_prefix: str, *, on_surface: Any, on_formula: Any, note: str | None = None
) -> tuple[Surface, tuple[float, float], int, int, float]:
    """The sidebar's surface section: surface (a formula, with the parser's message under it,
    and ``note``), start, steps, seed, and σ on a noisy surface. The widgets' keys are
    ``f"{key_prefix}_surface"`` …; ``f"{key_prefix}_good_formula"`` holds the last formula that
    parsed. Returns the surface, the start, steps, seed and σ."""

    def key(name: str) -> str:
        return f"{key_prefix}_{name}"

    state = st.session_state
    st.header("Surface")
    st.selectbox(
        "Test surface",
        SURFACE_CHOICES,
        key=key("surface"),
        format_func=lambda k: "Custom formula…" if k == links.CUSTOM else SURFACES[k].label,
        on_change=on_surface,
    )
    if state[key("surface")] == links.CUSTOM:
        formula = st.text_input(
            "f(x, y) =",
            key=key("formula"),
            # Well above the parser's limit: a long paste gets its "too long" message, not a cut.
            max_chars=10 * MAX_FORMULA_LENGTH,
            on_change=on_formula,
            help="x and y, numbers, + − * / ** ^, sin cos tan exp log sqrt abs tanh …, pi, e.",
        )
        try:
            load_surface(links.CUSTOM, formula)
        except ValueError as error:
            st.error(f"{plain(str(error))}. Showing the last formula that worked.", icon="⚠️")
        if note:
            st.info(note, icon="📍")
    surface = load_surface(state[key("surface")], state[key("good_formula")])

    x_min, x_max, y_min, y_max = surface.bounds
    col_x, col_y = st.columns(2)
    x0 = col_x.number_input("Start x₀", x_min, x_max, key=key("x0"), step=0.1, format="%.3f")
    y0 = col_y.number_input("Start y₀", y_min, y_max, key=key("y0"), step=0.1, format="%.3f")
    steps = st.slider("Steps", links.MIN_STEPS, links.MAX_STEPS, key=key("steps"), step=10)
    seed = st.number_input("Seed", 0, links.MAX_SEED, key=key("seed"), step=1)
    sigma = surface.noise
    if surface.noise > 0:
        sigma = st.slider(
            "Gradient noise σ",
            0.0,
            min(MAX_NOISE, 10.0),
            key=key("sigma"),
            step=0.1,
            help="Standard deviation of the Gaussian noise added to every gradient, as a "
            "minibatch would. Every optimizer sees the same noise at the same step.",
        )
    return surface, (x0, y0), steps, seed, sigma


def plain(text: str) -> str:
    """``text`` escaped for Streamlit's Markdown, so it shows as typed: ``x**2`` stays
    ``x**2`` (not a bold "2"), ``__import__`` keeps its underscores."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", text)


def format_value(value: float) -> str:
    return f"{value:g}"


def widget_key(spec: OptimizerSpec, hp: HyperParam, key_prefix: str) -> str:
    return f"{key_prefix}_{spec.key}_{hp.name}"


def _kept(widget: str) -> str:
    """Where a hyperparameter's value lives while its widget is not drawn: Streamlit forgets a
    widget's state after a run that does not draw it (a closed expander's)."""
    return f"{widget}_kept"


def has_hyperparameters(spec: OptimizerSpec, *, key_prefix: str) -> bool:
    """Whether this session set the optimizer's hyperparameters yet (a link, a preset, its
    widgets): an optimizer just added to the race has none."""
    return _kept(widget_key(spec, spec.hp("lr"), key_prefix)) in st.session_state


def forget_hyperparameters(spec: OptimizerSpec, *, key_prefix: str) -> None:
    """Drop what the session holds of the optimizer's hyperparameters (it left the race: added
    back, it starts afresh, as Streamlit would have forgotten its widgets)."""
    for hp in spec.hyperparams:
        widget = widget_key(spec, hp, key_prefix)
        st.session_state.pop(widget, None)
        st.session_state.pop(_kept(widget), None)


def set_hyperparameters(spec: OptimizerSpec, values: Mapping[str, Any], *, key_prefix: str) -> None:
    """Put values into the widgets' session state (presets, links); call before the widgets.
    A value off the slider's grid (a cell of a Landscapes map) is kept as it is: its slider
    offers it too (``hyperparameter_inputs``)."""
    for hp in spec.hyperparams:
        if hp.name in values:
            value = bool(values[hp.name]) if hp.scale == "bool" else float(values[hp.name])
            widget = widget_key(spec, hp, key_prefix)
            st.session_state[widget] = st.session_state[_kept(widget)] = value


def hyperparameter_inputs(
    spec: OptimizerSpec, *, key_prefix: str, drawn: bool = True
) -> dict[str, float | bool]:
    """Render one optimizer's hyperparameter widgets and return their values by name; with
    ``drawn=False`` (its expander is closed) return the values they hold, drawing nothing."""
    values: dict[str, float | bool] = {}
    for hp in spec.hyperparams:
        key = widget_key(spec, hp, key_prefix)
        default = bool(hp.default) if hp.scale == "bool" else float(hp.default)
        kept = st.session_state.get(_kept(key), default)
        if not drawn:
            values[hp.name] = kept
            continue
        current = st.session_state.setdefault(key, kept)  # drawn again after a closed spell
        label = hp.widget_label  # plain text: screen readers read a label as it is
        if hp.scale == "bool":
            values[hp.name] = st.toggle(label, key=key, help=hp.help)
        else:
            values[hp.name] = st.select_slider(
                label,
                options=sorted({*hp.options(), current}),
                key=key,
                format_func=format_value,
                help=hp.help,
            )
        st.session_state[_kept(key)] = values[hp.name]
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


# plotly.js as Streamlit's own charts load it: their module among Streamlit's static files, named
# relative to Streamlit's entry module (plotly_loader.js imports it from there).
(_PLOTLY_MODULE,) = (Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js")
_PLOTLY = f"./{_PLOTLY_MODULE.name}"
_LOADER_JS = (Path(figures.__file__).parent / "plotly_loader.js").read_text(encoding="utf-8")
_CHARTS_JS = _LOADER_JS + (Path(figures.__file__).parent / "charts.js").read_text(encoding="utf-8")


def preload_charts() -> None:
    """Start loading plotly.js as a page opens, before its first chart element arrives.

    plotly.js is megabytes of JavaScript that every page's charts need; loaded by the first chart
    element, its download and compilation came after the page's whole script run and sidebar.
    From here (the app's script, before the page runs) the browser compiles it meanwhile. An
    element at the top of the sidebar whose one script is ours (constant text), so allowing
    JavaScript in it lets no user input run."""
    st.sidebar.html(
        f'<script type="module">{_LOADER_JS}optvizPlotly("{_PLOTLY}");</script>',
        unsafe_allow_javascript=True,
    )


def _chart_component(name: str, js: str, build: str) -> Any:
    """A component whose entry point builds its view once per mounted element (``build``, a JS
    expression of ``parentElement``), then hands it each new figure."""
    entry = f"""
export default function ({{ parentElement, data, setTriggerValue }}) {{
  parentElement.optvizSetTrigger = setTriggerValue;
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
        "plotly": _PLOTLY,
        **fields,
    }
    return f'{json.dumps(header)[:-1]}, "figure": {figure_json}}}'.encode()


def chart_view(figure_json: str, *, key: str) -> None:
    """A Plotly chart (``figure_json``: a figure as JSON) as wide as its column, drawn again
    only where a new figure differs (``key`` keeps it the same element across reruns)."""
    _CHART_VIEW(key=key, data=_chart_data(figure_json))


def race_view(
    figure_json: str,
    result: Trajectories,
    *,
    key: str,
    on_start: Callable[[tuple[float, float]], None] | None = None,
) -> None:
    """The race chart (``figure_json``: ``figures.race_figure`` of ``result``, as JSON) with
    ▶ Play / ❚❚ Pause, the step scrubber and its readout under it; the animation runs in the
    browser. A click on the chart calls ``on_start((x, y))`` with the point clicked, before
    the rerun it starts (a callback, as a widget's)."""
    data = _chart_data(
        figure_json,
        id=figures.race.race_id(result),
        steps=result.steps,
        seconds=figures.race.play_seconds(result.steps),
    )

    def clicked() -> None:
        point = st.session_state[key].get("start")
        if on_start is not None and isinstance(point, dict):
            on_start((float(point["x"]), float(point["y"])))

    _RACE_VIEW(key=key, width="content", data=data, on_start_change=clicked)
