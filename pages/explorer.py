"""Trajectory explorer: optimizers race on a 2-D surface, with their internals in view."""

import inspect
import textwrap

import streamlit as st

from optviz import export, figures, links, presets
from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.surfaces import Surface
from optviz.ui import (
    chart_view,
    current_schedule,
    forget_hyperparameters,
    has_hyperparameters,
    hyperparameter_inputs,
    linked_surface,
    plain,
    race_view,
    schedule_inputs,
    set_hyperparameters,
    set_schedule,
    surface_inputs,
)
from optviz.views import (
    bias_correction_json,
    figure_json,
    freeze,
    load_surface,
    race,
    tuned_rates,
)

PREFIX = "explorer"  # namespace of this page's session-state keys


# --- state: from the link on first load, presets, surface changes ------------------------------


def key(name: str) -> str:
    return f"{PREFIX}_{name}"


def apply_tuned_preset(only_new: bool = False) -> None:
    """Set the selected optimizers' α to the best of a grid search on the current surface.

    ``only_new``: just the optimizers whose widgets do not exist yet (one was added to the race),
    leaving the α a person chose for the others alone.
    """
    state = st.session_state
    surface_key, formula = state[key("surface")], state[key("good_formula")]
    surface = load_surface(surface_key, formula)
    keys = tuple(state[key("optimizers")]) or links.DEFAULT_OPTIMIZERS
    if only_new:
        keys = tuple(k for k in keys if not has_hyperparameters(OPTIMIZERS[k], key_prefix=PREFIX))
        if not keys:
            return
    start = (state[key("x0")], state[key("y0")])
    sigma = state.get(key("sigma"), surface.noise)
    schedule_key, params = current_schedule(key_prefix=PREFIX)
    schedule = (schedule_key, freeze(params))
    with st.spinner("Tuning α by grid search…"):
        best = tuned_rates(surface_key, formula, sigma, keys, start, state[key("steps")], schedule)
    for opt_key, lr in best.items():
        set_hyperparameters(OPTIMIZERS[opt_key], {"lr": lr}, key_prefix=PREFIX)


def race_changed() -> None:
    """Optimizers left or joined the race: one that left forgets its settings (back in the
    race, it is tuned afresh), one that joined gets its tuned α."""
    chosen = set(st.session_state[key("optimizers")])
    for opt_key, spec in OPTIMIZERS.items():
        if opt_key not in chosen:
            forget_hyperparameters(spec, key_prefix=PREFIX)
    apply_tuned_preset(only_new=True)


def featured(keys: list[str]) -> int:
    """Which of ``keys`` the page opens up first: the first optimizer with a step bound (its
    internals have the most to show: Adam, AdaMax), else the first."""
    bounded = [i for i, k in enumerate(keys) if OPTIMIZERS[k].step_bound is not None]
    return bounded[0] if bounded else 0


def apply_paper_defaults() -> None:
    for opt_key in st.session_state[key("optimizers")]:
        set_hyperparameters(OPTIMIZERS[opt_key], presets.paper_defaults(opt_key), key_prefix=PREFIX)


def reset_for_surface() -> None:
    """A new surface: its own start point and noise, and α re-tuned for it."""
    state = st.session_state
    if state[key("surface")] == links.CUSTOM and not state[key("good_formula")]:
        state[key("good_formula")] = "x**2 + 3*sin(y)**2"
        state[key("formula")] = state[key("good_formula")]
    surface = load_surface(state[key("surface")], state[key("good_formula")])
    state[key("x0")], state[key("y0")] = finite_start(surface, surface.start)
    state[key("sigma")] = surface.noise
    apply_tuned_preset()


def finite_start(surface: Surface, start: tuple[float, float]) -> tuple[float, float]:
    """``start``, or the nearest point where f and ∇f are finite; says which in one note."""
    moved = surface.nearest_finite_start(start)
    st.session_state[key("start_note")] = (
        f"f is not finite at ({start[0]:.3g}, {start[1]:.3g}): the race starts at the nearest "
        f"point where it is, ({moved[0]:.3g}, {moved[1]:.3g})."
        if moved != tuple(start)
        else None
    )
    return moved


def apply_formula() -> None:
    """A new formula that parses: it becomes the surface, the start moves off any point where
    it is not finite, and α is tuned for it (the previous formula's α means nothing here)."""
    state = st.session_state
    try:
        surface = load_surface(links.CUSTOM, state[key("formula")])
    except ValueError:
        return  # the page shows the parser's message under the input
    state[key("good_formula")] = state[key("formula")]
    state[key("x0")], state[key("y0")] = finite_start(surface, (state[key("x0")], state[key("y0")]))
    apply_tuned_preset()


def start_at(point: tuple[float, float]) -> None:
    """A click on the race: it starts there (the α chosen stay, as for a typed start)."""
    state = st.session_state
    surface = load_surface(state[key("surface")], state[key("good_formula")])
    x_min, x_max, y_min, y_max = surface.bounds
    clicked = (  # to the three decimals the start inputs show, inside the window
        min(max(round(point[0], 3), x_min), x_max),
        min(max(round(point[1], 3), y_min), y_max),
    )
    state[key("x0")], state[key("y0")] = finite_start(surface, clicked)


def load_link() -> None:
    """First run of a session: the URL's configuration (or the defaults) into the widgets."""
    link, warnings = links.from_query(st.query_params.to_dict())
    state = st.session_state
    surface_key, good_formula, surface, start = linked_surface(link, warnings)
    state[key("surface")] = surface_key
    state[key("formula")] = state[key("good_formula")] = good_formula
    state[key("x0")], state[key("y0")] = finite_start(surface, start)
    state[key("steps")] = link.steps
    state[key("seed")] = link.seed
    state[key("sigma")] = surface.noise if link.sigma is None else link.sigma
    state[key("optimizers")] = list(link.optimizers)
    state[key("side_by_side")] = link.view == "side"
    state[key("show_3d")] = link.show_3d
    state[key("tab")] = link.tab
    set_schedule(link.schedule, key_prefix=PREFIX)
    if not link.hparams:
        apply_tuned_preset()
    for opt_key, values in link.hparams.items():
        set_hyperparameters(OPTIMIZERS[opt_key], values, key_prefix=PREFIX)
    state[key("warnings")] = warnings
    state[key("loaded")] = True


if key("loaded") not in st.session_state:
    load_link()
state = st.session_state

# --- page ---------------------------------------------------------------------------------------

st.title("Trajectory explorer")
for warning in state[key("warnings")]:
    st.warning(warning, icon="🔗")

with st.sidebar:
    surface, (x0, y0), steps, seed, sigma = surface_inputs(
        PREFIX,
        on_surface=reset_for_surface,
        on_formula=apply_formula,
        note=state.get(key("start_note")),
    )

    st.header("Optimizers")
    chosen = st.pills(
        "Race",
        list(OPTIMIZERS),
        selection_mode="multi",
        key=key("optimizers"),
        format_func=lambda k: OPTIMIZERS[k].label,
        on_change=race_changed,
    )
    col_tune, col_paper = st.columns(2)
    col_tune.button(
        "Tune α",
        on_click=apply_tuned_preset,
        help="Grid-search each optimizer's α on this surface, as the paper's §6 did.",
        width="stretch",
    )
    col_paper.button(
        "Paper defaults",
        on_click=apply_paper_defaults,
        help="PyTorch's defaults; Adam's are Algorithm 1's: α=0.001, β1=0.9, β2=0.999, ε=1e-8.",
        width="stretch",
    )
    hparams = {}
    for opt_key in chosen:
        # Lazy: a closed expander draws no sliders (the page's heaviest widgets); its values
        # still count, kept in the session (``hyperparameter_inputs``).
        box = st.expander(
            OPTIMIZERS[opt_key].label,
            expanded=opt_key == chosen[featured(chosen)],
            key=key(f"open_{opt_key}"),
            on_change="rerun",
        )
        with box:
            hparams[opt_key] = hyperparameter_inputs(
                OPTIMIZERS[opt_key], key_prefix=PREFIX, drawn=box.open
            )
    schedule = schedule_inputs(key_prefix=PREFIX)

    st.header("View")
    side_by_side = st.toggle("Side by side", key=key("side_by_side"))
    show_3d = st.toggle("3-D surface", key=key("show_3d"))

st.query_params.from_dict(
    links.to_query(
        links.ExplorerState(
            surface=state[key("surface")],
            formula=state[key("good_formula")],
            start=(x0, y0),
            steps=steps,
            seed=seed,
            sigma=sigma if surface.noise > 0 else None,
            optimizers=tuple(chosen),
            hparams=hparams,
            view="side" if side_by_side else "overlay",
            show_3d=show_3d,
            tab=state.get(key("tab"), links.TABS[0]),
            schedule=schedule,
        )
    )
)

if not chosen:
    st.info("Choose at least one optimizer in the sidebar to start the race.", icon="👈")
    st.stop()

runs = tuple((k, freeze(hparams[k])) for k in chosen)
race_args = (
    *(state[key("surface")], state[key("good_formula")], sigma, runs, (x0, y0), steps, seed),
    (schedule[0], freeze(schedule[1])),
)
with st.spinner("Racing the optimizers…"):
    result = race(*race_args)

# The race and its player above the fold; one panel sits beside what the surface teaches, side by
# side panels take the width with the text under them.
if side_by_side:
    race_column, about_column = st.container(), st.container()
else:
    race_column, about_column = st.columns([2.6, 1], gap="medium")
with race_column:
    race_view(
        figure_json(figures.race_spec, race_args, side_by_side=side_by_side),
        result,
        key=key("race"),
        on_start=start_at,
    )
with about_column:
    st.subheader(plain(surface.label))  # a custom formula's label is the formula as typed
    st.markdown(f"${surface.latex}$")  # inline: a long formula wraps at its operators
    st.caption(surface.teaches)
    st.caption(f"Learning-rate schedule: {SCHEDULES[schedule[0]].describe(schedule[1])}.")
    st.markdown(
        "Press **▶ Play** under the plot to watch the optimizers race from the same start; "
        "click the plot to start them somewhere else. "
        "Each is the from-scratch `torch.optim` class that also trains MNIST on the next page; "
        "the panels below open up their internals, from Adam's bias-corrected moments to its "
        "step-size bound (Kingma & Ba, §2.1)."
    )
    for k in range(len(chosen)):
        note = figures.divergence_note(result, k)
        if note and result.diverged_at[k, 0] == 0:
            st.warning(f"{note}. Move the start point.", icon="💥")
        elif note:
            st.warning(f"{note}: its path stops at the last finite point (✕).", icon="💥")
if show_3d:
    chart_view(figure_json(figures.surface_3d_figure, race_args), key=key("surface_3d"))


def loss_panel() -> None:
    chart_view(figure_json(figures.progress_figure, race_args), key=key("progress"))
    if not surface.minima:  # a line, not an empty panel
        st.caption(f"No distance to the minimum: {figures.curves.NO_MINIMUM_MESSAGE}.")


def internals_panel() -> None:
    k = st.selectbox(
        "Optimizer",
        range(len(chosen)),
        index=featured(chosen),
        format_func=lambda i: OPTIMIZERS[chosen[i]].label,
        key=key("inspect"),
    )
    st.caption(
        "The effective step |Δ_t| per coordinate against α and the optimizer's step bound if it "
        "has one; Adam's (§2.1): |Δ_t| ≤ α(1 − β₁)/√(1 − β₂) when (1 − β₁) > √(1 − β₂), else ≤ α."
    )
    left, right = st.columns(2)
    with left:
        chart_view(figure_json(figures.step_size_figure, race_args, k), key=key("step_size"))
    with right:
        chart_view(figure_json(figures.moments_figure, race_args, k), key=key("moments"))
    switchable = [k for k in chosen if isinstance(OPTIMIZERS[k].bias_correction, str)]
    if switchable:
        opt_key = switchable[0]
        st.markdown(
            "**Bias correction (§3).** m and v start at 0, so early on they underestimate the "
            "gradient's moments; dividing by (1 − βᵗ) corrects that. Without it the first steps "
            "are (1 − β₁)/√(1 − β₂) times too large; move β₂ towards 1 to see them blow up."
        )
        ablation_json = bias_correction_json(
            *race_args[:3], opt_key, freeze(hparams[opt_key]), (x0, y0)
        )
        chart_view(ablation_json, key=key("bias_correction"))


def rules_panel() -> None:
    for opt_key in chosen:
        spec = OPTIMIZERS[opt_key]
        with st.expander(f"{spec.label}: update rule and source", expanded=len(chosen) == 1):
            st.latex(spec.latex)
            st.caption(spec.reference)
            st.code(textwrap.dedent(inspect.getsource(spec.cls.update)), language="python")


def export_panel() -> None:
    st.markdown(
        "The page's address holds the whole configuration: copy it from the browser's address "
        "bar to share exactly this view."
    )
    left, right = st.columns(2)
    # Callables: the files are built only when a button is pressed, not on every rerun.
    left.download_button(
        "Trajectories (CSV)",
        lambda: export.trajectories_csv(result, seed),
        file_name=f"optviz-{state[key('surface')]}.csv",
        mime="text/csv",
        on_click="ignore",
        width="stretch",
    )
    right.download_button(
        "Figure (HTML)",
        lambda: export.standalone_html(result, side_by_side),
        file_name=f"optviz-{state[key('surface')]}.html",
        mime="text/html",
        on_click="ignore",
        width="stretch",
    )


PANELS = dict(
    zip(links.TABS, (loss_panel, internals_panel, rules_panel, export_panel), strict=True)
)
# Lazy tabs: only the open one runs, so a slider move redraws the race and one panel.
for tab, panel in zip(
    st.tabs(list(PANELS), key=key("tab"), on_change="rerun"), PANELS.values(), strict=True
):
    if tab.open:
        with tab:
            panel()
