"""Paper lab: re-run the Adam paper's figures as sweeps on Ray and watch them fill in.

Thin page: an experiment of ``optviz.paper.PAPER_EXPERIMENTS`` and a preset make a sweep plan;
Start (or Resume) queues what the run store does not have yet (``optviz.training.sweeps``); the
collector trains the runs on Ray workers; the fragment below redraws progress, the figure (the
experiment's own, ``optviz.figures.paper.paper_figure``) and the claims from the store every
second while runs are active.
The URL names the sweep (``?experiment=fig1&preset=quick``; ``?sweep=KEY`` works too), so a link
reopens it; nothing but the Start, Resume and Retry buttons queues a run.
"""

from __future__ import annotations

import functools
import sqlite3

import pandas as pd
import plotly.io
import streamlit as st

from optviz import ui
from optviz.figures.paper import paper_figure
from optviz.optim import OPTIMIZERS
from optviz.paper import (
    DEFAULT_EXPERIMENT,
    PAPER_EXPERIMENTS,
    PRESETS,
    PaperExperiment,
    sweep_dataset,
)
from optviz.training.cluster import get_collector
from optviz.training.data import Dataset, DataUnavailable
from optviz.training.datasets import DATASETS, load_dataset
from optviz.training.store import RunStore
from optviz.training.sweeps import (
    SweepPlan,
    SweepProgress,
    start_sweep,
    started_message,
    sweep_csv,
    sweep_curves,
    sweep_progress,
)

REFRESH_S = 1.0

st.title("Paper lab")
st.markdown(
    "Re-run the Adam paper's experiments: every optimizer trained over a grid of step sizes α, "
    "each shown at its best α as the paper does (§6), or, for Fig. 4's bias correction, every α "
    "with and without it; and the paper's claims checked on what your runs produce. The runs go "
    "to Ray workers (a local Ray here; a cluster with `RAY_ADDRESS`), and a sweep can be stopped "
    "and resumed: finished runs are kept."
)

try:
    collector = get_collector()
except (OSError, sqlite3.Error) as error:
    st.error(f"The run history cannot be opened ({error}); check OPTVIZ_DB.")
    st.stop()
store: RunStore = collector.store


def plans_by_key() -> dict[str, tuple[str, str, bool]]:
    """Sweep key → (experiment, preset, on its fallback dataset)."""
    out = {}
    for key, experiment in PAPER_EXPERIMENTS.items():
        for preset in experiment.presets:
            out[experiment.plan(preset).key] = (key, preset, False)
            if experiment.fallback:
                out[experiment.on(experiment.fallback).plan(preset).key] = (key, preset, True)
    return out


def load_link() -> None:
    """The URL's sweep into the widgets, on a session's first run; a bad value gets a warning."""
    query = st.query_params.to_dict()
    warnings = []
    experiment, preset, fallback = DEFAULT_EXPERIMENT, "quick", False
    if "sweep" in query:
        found = plans_by_key().get(query["sweep"])
        if found:
            experiment, preset, fallback = found
        else:
            warnings.append(f"No paper sweep has the key {query['sweep']!r}; showing Fig. 1.")
    if query.get("experiment"):
        if query["experiment"] in PAPER_EXPERIMENTS:
            experiment = query["experiment"]
        else:
            warnings.append(
                f"Unknown experiment {query['experiment']!r}; choose one of "
                f"{', '.join(PAPER_EXPERIMENTS)}."
            )
    if query.get("preset"):
        if query["preset"] in PRESETS:
            preset = query["preset"]
        else:
            warnings.append(f"Unknown preset {query['preset']!r}; choose quick or full.")
    if query.get("data"):
        stand_in = PAPER_EXPERIMENTS[experiment].fallback
        if query["data"] == stand_in:
            fallback = True
        elif query["data"] != PAPER_EXPERIMENTS[experiment].dataset:
            warnings.append(f"Data {query['data']!r} is not offered for this experiment.")
    st.session_state["paper_experiment"] = experiment
    st.session_state["paper_preset"] = preset
    st.session_state["paper_fallback"] = fallback
    st.session_state["paper_link_warnings"] = warnings


if "paper_experiment" not in st.session_state:
    load_link()
for warning in st.session_state.get("paper_link_warnings", []):
    st.warning(warning)

left, right = st.columns([3, 2])
key = left.radio(
    "Experiment",
    list(PAPER_EXPERIMENTS),
    format_func=lambda k: PAPER_EXPERIMENTS[k].title,
    key="paper_experiment",
)
preset = right.radio(
    "Preset",
    PRESETS,
    format_func=lambda p: PAPER_EXPERIMENTS[key].presets[p].label,
    key="paper_preset",
    help="Quick: a few minutes on a laptop's CPU. Full: the paper's settings, for a cluster.",
)
chosen: PaperExperiment = PAPER_EXPERIMENTS[key]
data: Dataset | None = None
missing: str | None = None
try:
    data = load_dataset(chosen.dataset)
except DataUnavailable as error:
    missing = str(error)
use_fallback = False
if missing:
    st.warning(missing, icon="📂")
    if chosen.fallback:
        use_fallback = st.toggle(
            f"Run this sweep on {DATASETS[chosen.fallback].label} instead",
            key="paper_fallback",
            help="The same network, optimizers and α grids on a set that is installed here; "
            "not the paper's data, so its numbers are not the paper's.",
        )
dataset = sweep_dataset(chosen, missing is not None, use_fallback)
experiment = chosen.on(dataset) if dataset else chosen
if dataset and dataset != chosen.dataset:
    try:
        data = load_dataset(dataset)
    except DataUnavailable as error:
        st.error(str(error))
plan: SweepPlan = experiment.plan(preset)
link = {"experiment": key, "preset": preset}
if dataset and dataset != chosen.dataset:
    link["data"] = dataset
st.query_params.from_dict(link)

with st.expander("Setup", expanded=True):
    st.markdown(experiment.setup(preset))
    query = "&".join(f"{name}={value}" for name, value in link.items())
    st.caption(
        f"Sweep key `{plan.key}`. Link to reopen it: [?{query}](?{query}) "
        f"(or `?sweep={plan.key}`). {collector.state.ray}."
    )
for warning in collector.state.warnings:
    st.warning(warning)
if collector.state.error:
    st.warning(f"Training backend: {collector.state.error}")


def start() -> None:
    """Start or Resume / Retry failed (a button callback): queue what the store lacks."""
    assert data is not None
    try:
        opened = start_sweep(store, data, plan)
    except ValueError as error:  # a bad plan or a full queue: nothing was written
        st.session_state["paper_message"] = ("error", str(error))
    except sqlite3.Error as error:
        st.session_state["paper_message"] = (
            "error",
            f"The sweep could not be queued ({error}); try again in a moment.",
        )
    else:
        st.session_state["paper_message"] = ("info", started_message(plan, opened))


def start_label(done: int, total: int, to_queue: int) -> str:
    if to_queue == total:
        return f"Start ({total} runs)"
    if to_queue:
        return f"Resume ({done} of {total} finished, {to_queue} to queue)"
    return f"All {total} runs finished or under way"


def cancel() -> None:
    group = store.sweep_group(plan.key)
    if group is not None:
        st.session_state["paper_message"] = ("info", store.cancel_group(group.id))


def controls(now: SweepProgress) -> tuple[int, int, bool]:
    """What the buttons above the live view depend on: a change reruns the whole page."""
    return now.to_queue, now.failed, now.active


now = sweep_progress(store, plan)
st.session_state["paper_controls"] = controls(now)
a, b, c = st.columns([3, 1, 1], vertical_alignment="bottom")
a.button(
    start_label(now.done, now.total, now.to_queue),
    type="primary",
    key="paper_start",
    disabled=not (data and now.to_queue),
    on_click=start,
)
if now.failed:
    b.button(f"Retry failed ({now.failed})", key="paper_retry", on_click=start)
if now.active:
    c.button("Cancel sweep", key="paper_cancel", on_click=cancel)
kind, text = st.session_state.get("paper_message", ("", ""))
if text:
    (st.error if kind == "error" else st.info)(text)


def live_view() -> None:
    """Progress, figure, claims and export of the sweep, read from the store."""
    now = sweep_progress(store, plan)
    if controls(now) != st.session_state.get("paper_controls"):
        st.rerun()  # the buttons change (the sweep settled, a run failed): redraw the page
    st.progress(now.fraction, text=now.summary())
    starting = collector.state.progress if now.active else None
    if starting:
        st.info(starting, icon="⏳")

    curves = sweep_curves(store, plan)
    figure = paper_figure(experiment, preset, curves)
    ui.chart_view(plotly.io.to_json(figure, validate=False), key="paper_figure")

    results = experiment.results(preset, curves)
    st.subheader("The paper's claims, on these runs")
    st.table(
        pd.DataFrame(
            [
                {"Claim": text, "Reproduced": verdict.mark, "Numbers": verdict.detail}
                for text, verdict in experiment.verdicts(results)
            ]
        ).set_index("Claim")
    )
    if results.best and experiment.figure == "curves":
        st.caption(
            "Best α (lowest final training cost): "
            + "; ".join(
                f"{OPTIMIZERS[b.optimizer].label}"
                + (f" ({v})" if len(experiment.variants) > 1 else "")
                + f" α={b.lr:g}, cost {b.final_cost:.4f}"
                for (v, _), b in results.best.items()
            )
        )
    st.download_button(
        "Download every run (CSV)",
        functools.partial(sweep_csv, store, plan),  # built only when clicked
        file_name=f"optviz-{key}-{preset}-{plan.key}.csv",
        mime="text/csv",
        on_click="ignore",
        key="paper_download",
    )


st.fragment(run_every=REFRESH_S if now.active else None)(live_view)()
