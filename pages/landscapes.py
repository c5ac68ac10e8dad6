"""Landscapes: which hyperparameters work on a surface, and how robustly."""

import streamlit as st

from optviz import landscapes, links, presets
from optviz.figures import landscapes as figures
from optviz.optim import OPTIMIZERS
from optviz.ui import (
    hyperparameter_inputs,
    linked_surface,
    set_hyperparameters,
    surface_inputs,
    widget_key,
)
from optviz.views import freeze, landscape, load_surface, tuned_rates

PREFIX = "landscapes"  # namespace of this page's session-state keys
TOLERANCES = [10.0**d for d in range(-8, 1)]
MAPS = [(key, pair) for key, spec in OPTIMIZERS.items() for pair in spec.maps]


def key(name: str) -> str:
    return f"{PREFIX}_{name}"


# --- state: from the link on first load, α tuned for a new surface -------------------------


def tune_alpha(only_new: bool = False) -> None:
    """The chosen optimizers' α: the explorer's tuned preset on this surface (``only_new``:
    only those whose widgets do not exist yet)."""
    state = st.session_state
    keys = tuple(state[key("optimizers")])
    if only_new:
        keys = tuple(
            k
            for k in keys
            if widget_key(OPTIMIZERS[k], OPTIMIZERS[k].hp("lr"), PREFIX) not in state
        )
    if not keys:
        return
    where = (state[key("surface")], state[key("good_formula")], state.get(key("sigma"), 0.0))
    start = (state[key("x0")], state[key("y0")])
    with st.spinner("Tuning α by grid search…"):
        best = tuned_rates(*where, keys, start, state[key("steps")])
    for opt_key, lr in best.items():
        set_hyperparameters(OPTIMIZERS[opt_key], {"lr": lr}, key_prefix=PREFIX)


def reset_for_surface() -> None:
    state = st.session_state
    if state[key("surface")] == links.CUSTOM and not state[key("good_formula")]:
        state[key("good_formula")] = state[key("formula")] = "x**2 + 3*sin(y)**2"
    surface = load_surface(state[key("surface")], state[key("good_formula")])
    state[key("x0")], state[key("y0")] = surface.nearest_finite_start(surface.start)
    state[key("sigma")] = surface.noise
    tune_alpha()


def apply_formula() -> None:
    state = st.session_state
    try:
        surface = load_surface(links.CUSTOM, state[key("formula")])
    except ValueError:
        return  # the page shows the parser's message under the input
    state[key("good_formula")] = state[key("formula")]
    start = (state[key("x0")], state[key("y0")])
    state[key("x0")], state[key("y0")] = surface.nearest_finite_start(start)
    tune_alpha()


def load_link() -> None:
    """First run of a session: the URL's configuration (or the defaults) into the widgets."""
    link, warnings = links.landscapes_from_query(st.query_params.to_dict())
    shared, state = link.explorer, st.session_state
    surface_key, formula, surface, start = linked_surface(shared, warnings)
    state[key("surface")], state[key("formula")] = surface_key, formula
    state[key("good_formula")] = formula
    state[key("x0")], state[key("y0")] = surface.nearest_finite_start(start)
    state[key("steps")], state[key("seed")] = shared.steps, shared.seed
    state[key("sigma")] = surface.noise if shared.sigma is None else shared.sigma
    state[key("optimizers")] = list(shared.optimizers)
    state[key("tab")], state[key("metric")] = link.tab, link.metric
    state[key("map")] = (link.map_key, link.pair)
    state[key("tol")], state[key("starts")], state[key("seeds")] = link.tol, link.starts, link.seeds
    state[key("cells")], state[key("basin_cells")] = link.cells, link.basin_cells
    tune_alpha()
    for opt_key, values in shared.hparams.items():
        set_hyperparameters(OPTIMIZERS[opt_key], values, key_prefix=PREFIX)
    state[key("warnings")] = warnings
    state[key("loaded")] = True


if key("loaded") not in st.session_state:
    load_link()
state = st.session_state

# --- page ---------------------------------------------------------------------------------------

st.title("Landscapes")
st.caption(
    "Which settings work on this surface, and how robustly: every curve, map and basin below "
    "is one vectorized race of all its configurations and starts at once."
)
for warning in state[key("warnings")]:
    st.warning(warning, icon="🔗")

with st.sidebar:
    surface, start, steps, seed, sigma = surface_inputs(
        PREFIX, on_surface=reset_for_surface, on_formula=apply_formula
    )

    st.header("Robustness")
    tol = st.select_slider(
        "Tolerance on f − f*",
        TOLERANCES,
        key=key("tol"),
        format_func=lambda v: f"{v:g}",
        help="'Steps to tolerance' counts the steps until f − f* first falls below this.",
    )
    starts = st.slider(
        "Starts",
        1,
        len(presets.OFFSETS),
        key=key("starts"),
        help="Each setting runs from the chosen start and up to four nearby ones.",
    )
    seeds = 1
    if sigma > 0:
        seeds = st.slider(
            "Noise seeds per start",
            1,
            landscapes.MAX_REPLICAS,
            key=key("seeds"),
            help="On a noisy surface each start is repeated with fresh gradient noise.",
        )

    st.header("Optimizers")
    chosen = st.pills(
        "Compare",
        list(OPTIMIZERS),
        selection_mode="multi",
        key=key("optimizers"),
        format_func=lambda k: OPTIMIZERS[k].label,
        on_change=tune_alpha,
        kwargs={"only_new": True},
    )
    hparams = {}
    for opt_key in chosen:
        with st.expander(OPTIMIZERS[opt_key].label):
            hparams[opt_key] = hyperparameter_inputs(OPTIMIZERS[opt_key], key_prefix=PREFIX)

where = (state[key("surface")], state[key("good_formula")], sigma)
shared = links.ExplorerState(
    surface=state[key("surface")],
    formula=state[key("good_formula")],
    start=start,
    steps=steps,
    seed=seed,
    sigma=sigma if surface.noise > 0 else None,
    optimizers=tuple(chosen) or links.DEFAULT_OPTIMIZERS,
    hparams=hparams,
)
map_key, pair = state[key("map")]
st.query_params.from_dict(
    links.landscapes_to_query(
        links.LandscapesState(
            explorer=shared,
            tab=state.get(key("tab"), links.LANDSCAPE_TABS[0]),
            map_key=map_key,
            pair=pair,
            metric=state[key("metric")],
            tol=tol,
            starts=starts,
            seeds=seeds,
            cells=state[key("cells")],
            basin_cells=state[key("basin_cells")],
        )
    )
)
frozen = freeze(hparams)
robustness = {"starts": starts, "seeds": seeds, "seed": seed, "tol": tol}


def fixed(opt_key: str) -> dict:
    """An optimizer's sidebar hyperparameters (its defaults if it is not chosen)."""
    return hparams.get(opt_key, OPTIMIZERS[opt_key].defaults())


def explorer_button(label: str, optimizers: tuple, values: dict, *, key_name: str) -> None:
    """A link that opens the explorer's race with these optimizers and hyperparameters."""
    link = links.explorer_link(
        links.ExplorerState(**{**shared.__dict__, "optimizers": optimizers, "hparams": values})
    )
    st.link_button(label, link, key=key(key_name))


def budget() -> str:
    replicas = starts * (seeds if sigma > 0 else 1)
    noise = f" × {seeds} noise seeds" if sigma > 0 else ""
    return f"{steps} steps from {starts} starts{noise} ({replicas} races per setting)"


def sensitivity_panel() -> None:
    if not chosen:
        st.info("Choose at least one optimizer in the sidebar.", icon="👈")
        return
    st.caption(
        f"Each optimizer at {landscapes.ALPHAS} values of α, log-spaced over its slider's range, "
        f"{budget()}; its other hyperparameters as in the sidebar."
    )
    with st.spinner("Racing every α…"):
        result = landscape(
            "sensitivity", where, tuple(chosen), start, steps, hparams=frozen, **robustness
        )
    st.plotly_chart(figures.sensitivity_figure(result))


def maps_panel() -> None:
    left, middle, right = st.columns([2, 1, 1])
    left.selectbox(
        "Map",
        MAPS,
        key=key("map"),
        format_func=lambda m: (
            f"{OPTIMIZERS[m[0]].label}: "
            + " × ".join(OPTIMIZERS[m[0]].hp(n).plain_symbol for n in m[1])
        ),
    )
    metric = middle.radio(
        "Colour by",
        links.LANDSCAPE_METRICS,
        key=key("metric"),
        format_func=lambda m: figures.METRICS[m].replace("tol", f"{tol:g}"),
        horizontal=True,
    )
    cells = right.slider("Cells per side", links.MIN_CELLS, landscapes.MAX_CELLS, key=key("cells"))
    opt_key, names = state[key("map")]
    others = {k: v for k, v in fixed(opt_key).items() if k not in names}
    st.caption(
        f"{OPTIMIZERS[opt_key].label} over a {cells} × {cells} grid, {budget()}; "
        + ", ".join(
            f"{OPTIMIZERS[opt_key].hp(k).plain_symbol} = {v:g}"
            for k, v in others.items()
            if not isinstance(v, bool)
        )
        + ". Click a cell to open that race in the explorer."
    )
    try:
        with st.spinner(f"Racing {cells * cells} settings…"):
            result = landscape(
                "map",
                where,
                opt_key,
                names,
                start,
                steps,
                hparams=freeze(others),
                cells=cells,
                **robustness,
            )
    except ValueError as error:
        right.error(str(error), icon="⚠️")
        return
    event = st.plotly_chart(
        figures.map_figure(result, metric),
        on_select="rerun",
        selection_mode="points",
        key=key("map_chart"),
    )
    picked = [p for p in event.selection.points if p.get("curve_number") == 2]
    if picked:
        i, j = figures.map_cell(result, picked[0]["point_index"])
        values = result.cell(i, j)
        shown = ", ".join(
            f"{OPTIMIZERS[opt_key].hp(n).plain_symbol} = {values[n]:.4g}" for n in names
        )
        explorer_button(
            f"Open {OPTIMIZERS[opt_key].label} with {shown} in the explorer",
            (opt_key,),
            {opt_key: values},
            key_name="open_cell",
        )


def basins_panel() -> None:
    if not chosen:
        st.info("Choose at least one optimizer in the sidebar.", icon="👈")
        return
    cells = st.slider(
        "Starts per side", links.MIN_CELLS, landscapes.MAX_CELLS, key=key("basin_cells"), step=8
    )
    st.caption(
        f"Every optimizer from each of {cells} × {cells} starts over the window, {steps} steps, "
        "hyperparameters as in the sidebar. On a surface with several minima each start takes "
        "the colour of the minimum its path ends in (gold stars: the known minima; others are "
        "where paths settled); else its steps to the tolerance."
    )
    try:
        with st.spinner(f"Racing from {cells * cells} starts…"):
            result = landscape(
                "basins",
                where,
                tuple(chosen),
                steps,
                hparams=frozen,
                cells=cells,
                seed=seed,
                tol=tol,
            )
    except ValueError as error:
        st.error(str(error), icon="⚠️")
        return
    st.plotly_chart(figures.basins_figure(result))


def tune_panel() -> None:
    if not chosen:
        st.info("Choose at least one optimizer in the sidebar.", icon="👈")
        return
    st.caption(
        "A fair comparison: every optimizer searches α on its slider's grid and its other "
        "mapped hyperparameters (β1, β2, μ, ρ) on a coarse grid "
        f"({', '.join(f'{v:g}' for v in OPTIMIZERS['adam'].hp('beta1').coarse())}), "
        f"{budget()}. Score: the mean over those races of log10(f − f*) after {steps} steps, "
        "lower is better; a setting that diverges or leaves the plot from any start is out. "
        f"Robustness: the share of its grid within {landscapes.WITHIN:g}× of its best loss."
    )
    try:
        with st.spinner("Searching every optimizer's grid…"):
            ranked = landscape(
                "tune",
                where,
                tuple(chosen),
                start,
                steps,
                hparams=frozen,
                starts=starts,
                seeds=seeds,
                seed=seed,
            )
    except ValueError as error:
        st.error(str(error), icon="⚠️")
        return
    st.dataframe(figures.tuning_rows(ranked), hide_index=True)
    winners = {t.key: t.configs[t.best] for t in ranked if t.best >= 0}
    if winners:
        explorer_button(
            "Apply: race the winners in the explorer",
            tuple(winners),
            {k: {**fixed(k), **v} for k, v in winners.items()},
            key_name="apply",
        )


PANELS = dict(
    zip(
        links.LANDSCAPE_TABS, (sensitivity_panel, maps_panel, basins_panel, tune_panel), strict=True
    )
)
# Lazy tabs: only the open one runs.
for tab, panel in zip(
    st.tabs(list(PANELS), key=key("tab"), on_change="rerun"), PANELS.values(), strict=True
):
    if tab.open:
        with tab:
            panel()
