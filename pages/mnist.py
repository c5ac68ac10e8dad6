"""Live MNIST: the explorer's optimizers train real networks on real MNIST, curves drawn live.

Thin page: widgets → ``optviz.training`` → charts. Start writes a group of queued runs into the
run store; the collector thread hands them to Ray workers and writes their metrics back; the
fragment below redraws from the store every second. This script never trains and never waits
on Ray, and a URL only pre-fills widgets: nothing but the Start button starts a run.
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import datetime

import pandas as pd
import streamlit as st

from optviz import ui
from optviz.figures import training as figures
from optviz.optim import OPTIMIZERS
from optviz.training.cluster import get_collector, submit_group
from optviz.training.config import (
    DEVICES,
    MAX_RUNS_PER_CLICK,
    TrainConfig,
)
from optviz.training.data import DataUnavailable, Mnist, load_mnist
from optviz.training.models import MODELS
from optviz.training.points import PointCache
from optviz.training.store import Run, RunStore

DEFAULT_OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]
REFRESH_S = 1.0
MAX_DRAWN = 1_000  # points per curve: a long run is drawn as means of consecutive points
MAX_GROUPS = 6
GROUP_POLL_S = 0.5  # a new group from another tab shows here within this plus one rerun
HP_PREFIX = "mnist_hp"  # widget keys: mnist_hp_<optimizer>_<name>

st.title("Live MNIST")
st.markdown(
    "The same optimizer classes as the explorer train real networks on the real MNIST digits: "
    "the paper's logistic regression (§6.1), its 784-1000-1000-10 MLP (§6.2) or a small CNN. "
    "Each optimizer gets its own run on a Ray worker (a GPU when the cluster has one), and the "
    "loss and accuracy curves stream in while they train."
)

try:
    collector = get_collector()
except (OSError, sqlite3.Error) as error:  # e.g. OPTVIZ_DB in a folder the app cannot write
    st.error(f"The run history cannot be opened ({error}); check OPTVIZ_DB.")
    st.stop()
collector.warm_up()  # start Ray and warm workers in the background, so Start does not wait
store: RunStore = collector.store

data: Mnist | None
try:
    data = load_mnist()
except DataUnavailable as error:
    data = None
    st.error(str(error))
else:
    st.caption(f"Data: {data.source} · {data.summary}. {collector.state.ray}.")
for warning in collector.state.warnings:
    st.warning(warning)
if collector.state.error:
    st.warning(f"Training backend: {collector.state.error}")


def apply_query_params() -> None:
    """Pre-fill model and optimizers from the URL once per session, strictly validated."""
    if st.session_state.get("mnist_query_applied"):
        return
    st.session_state["mnist_query_applied"] = True
    params = st.query_params
    model = params.get("model")
    if model is not None:
        if model in MODELS:
            st.session_state["mnist_model"] = model
        else:
            st.warning(f"Unknown model {model!r} in the link; using the default.")
    chosen = params.get("optimizers")
    if chosen is not None:
        keys = [k.strip() for k in chosen.split(",") if k.strip()]
        unknown = [k for k in keys if k not in OPTIMIZERS]
        if unknown or not keys:
            st.warning(f"Unknown optimizers {unknown or chosen!r} in the link; using the default.")
        else:
            st.session_state["mnist_optimizers"] = list(dict.fromkeys(keys))


apply_query_params()

# --- what to train ------------------------------------------------------------------------
left, right = st.columns(2)
model = left.selectbox(
    "Model",
    list(MODELS),
    format_func=lambda key: MODELS[key].label,
    key="mnist_model",
    help="; ".join(f"{spec.label}: {spec.reference}" for spec in MODELS.values()),
)
left.caption(MODELS[model].description)
st.session_state.setdefault("mnist_optimizers", DEFAULT_OPTIMIZERS)
chosen = right.multiselect(
    "Optimizers to race",
    list(OPTIMIZERS),
    format_func=lambda key: OPTIMIZERS[key].label,
    key="mnist_optimizers",
)
if not chosen:
    right.error("Choose at least one optimizer.")


def apply_paper_settings() -> None:
    """Button callback (runs before the widgets exist in the rerun): the paper's values."""
    for key in st.session_state.get("mnist_optimizers", []):
        ui.set_hyperparameters(OPTIMIZERS[key], OPTIMIZERS[key].paper(), key_prefix=HP_PREFIX)


st.button(
    "Paper settings",
    key="mnist_paper_settings",
    on_click=apply_paper_settings,
    help="α=0.001, β1=0.9, β2=0.999, ε=1e-8 for Adam (AdaMax: α=0.002, Algorithm 2), and the "
    "usual good MNIST values for the others. New optimizers start from these values.",
)
hyperparams: dict[str, dict[str, float | bool]] = {}
for key in chosen:
    spec = OPTIMIZERS[key]
    if ui.widget_key(spec, spec.hp("lr"), HP_PREFIX) not in st.session_state:
        ui.set_hyperparameters(spec, OPTIMIZERS[key].paper(), key_prefix=HP_PREFIX)
    with st.expander(f"{spec.label} hyperparameters"):
        hyperparams[key] = ui.hyperparameter_inputs(spec, key_prefix=HP_PREFIX)

c1, c2, c3, c4, c5 = st.columns(5)
epochs = c1.number_input("Epochs", value=3, step=1, key="mnist_epochs")
batch_size = c2.number_input("Batch size", value=128, step=16, key="mnist_batch_size")
subset = c3.number_input(
    "Training images",
    value=min(6_000, len(data.train_labels)) if data else 6_000,
    step=1_000,
    key="mnist_subset",
    help="The first N of the 60 000 training images: small is quick on a CPU.",
)
repeats = c4.number_input(
    "Seeds per optimizer", value=1, step=1, key="mnist_repeats", help="Seeds 0, 1, … per run."
)
device = c5.selectbox("Device", DEVICES, key="mnist_device", help="auto: CUDA when present.")
dropout = st.slider("Dropout", 0.0, 0.5, 0.0, 0.05, key="mnist_dropout")

configs: list[tuple[str, TrainConfig]] = []
problems: dict[str, str] = {}  # field → message, shown beside its widget
n_train = len(data.train_labels) if data else None
runs_per_click = len(chosen) * int(repeats)
seeds_ok = 1 <= repeats and runs_per_click <= MAX_RUNS_PER_CLICK
if not seeds_ok:
    problems["repeats"] = (
        f"{len(chosen)} optimizer(s) × {repeats} seed(s) is {runs_per_click} runs; "
        f"one click starts 1 to {MAX_RUNS_PER_CLICK}."
    )
# Every field is checked even when the seed count is wrong, so all problems show at once (with
# one seed each meanwhile: Start is disabled while any problem stands).
for key in chosen:
    for seed in range(int(repeats) if seeds_ok else 1):
        config = TrainConfig(
            model=model,
            optimizer=key,
            hyperparams=hyperparams[key],
            epochs=int(epochs),
            batch_size=int(batch_size),
            train_subset=int(subset),
            dropout=float(dropout),
            seed=seed,
            device=device,
        )
        problems |= config.problems(n_train)
        label = OPTIMIZERS[key].label + (f" (seed {seed})" if repeats > 1 else "")
        configs.append((label, config))
beside = {"epochs": c1, "batch_size": c2, "train_subset": c3, "repeats": c4}
for field, message in problems.items():
    (beside.get(field) or st).error(message)

if st.button(
    "Start", type="primary", key="mnist_start", disabled=bool(problems or not configs or not data)
):
    assert data is not None
    description = f"{MODELS[model].label}, {epochs} epoch(s), {subset:,} images"
    try:
        group_id, _ = submit_group(store, data, configs, description)
    except ValueError as error:
        st.error(str(error))
    except sqlite3.Error as error:  # e.g. another program holds the history file's lock
        st.error(f"The runs could not be queued ({error}); try again in a moment.")
    else:
        st.session_state["mnist_groups"] = [group_id]
        st.toast(f"Group #{group_id} queued: {len(configs)} run(s).")

# --- what is running and what ran -----------------------------------------------------------
st.subheader("Runs")
groups = {group.id: group for group in store.groups()}
newest = max(groups, default=0)
if "mnist_groups" not in st.session_state:
    st.session_state["mnist_groups"] = list(groups)[:1]
elif newest > st.session_state.get("mnist_newest_group", newest):
    # Groups started since this tab last looked (by this tab or another one) join the view.
    started = [g for g in groups if g > st.session_state["mnist_newest_group"]]
    shown = list(dict.fromkeys([*started, *st.session_state["mnist_groups"]]))
    st.session_state["mnist_groups"] = shown[:MAX_GROUPS]
st.session_state["mnist_newest_group"] = newest
st.session_state["mnist_groups"] = [g for g in st.session_state["mnist_groups"] if g in groups]
selected = st.multiselect(
    "Groups to show (pick several to compare)",
    list(groups),
    format_func=lambda g: (
        f"#{g} · {datetime.fromtimestamp(groups[g].created_at):%H:%M:%S} · {groups[g].description}"
    ),
    key="mnist_groups",
    max_selections=MAX_GROUPS,
)


@st.cache_resource(show_spinner=False)
def point_cache(path: str) -> PointCache:
    """The points read so far, shared by every tab of this app process (one per store file)."""
    return PointCache(store)


@st.fragment(run_every=GROUP_POLL_S)
def watch_for_new_groups() -> None:
    """Always on, whether or not this tab has runs in training: another tab's Start makes a new
    group, and this tab reruns to show it (its selection and timer live in this session)."""
    latest = store.groups(limit=1)
    if latest and latest[0].id > st.session_state.get("mnist_newest_group", 0):
        st.rerun()


def run_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: what the page shows about it, straight from the store."""
    return pd.DataFrame(
        {
            "Run": [f"#{r.id}" for r in runs],
            "Optimizer": [r.label for r in runs],
            "Status": [r.status for r in runs],
            "Device": [r.device or "" for r in runs],
            "Node": [r.node_ip or "" for r in runs],
            "Progress": [r.progress for r in runs],
            "Samples/s": [r.samples_per_s for r in runs],
            "Best accuracy": [
                None if r.best_accuracy is None else 100 * r.best_accuracy for r in runs
            ],
            "Note": [r.error or "" for r in runs],
        }
    )


def live_view(group_ids: tuple[int, ...]) -> None:
    """Table, controls and charts of the selected groups, read from the store."""
    runs = store.runs(group_ids=list(group_ids))
    if not runs:
        st.info("No runs yet: choose optimizers and press Start.")
        return
    st.dataframe(
        run_table(runs),
        hide_index=True,
        column_config={
            "Progress": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent"
            ),
            "Samples/s": st.column_config.NumberColumn(format="%.0f"),
            "Best accuracy": st.column_config.NumberColumn(format="%.2f %%"),
        },
    )
    labels = {r.id: f"#{r.id} {r.label}" for r in runs}
    a, b, c, d = st.columns([3, 1, 1, 2], vertical_alignment="bottom")
    target = a.selectbox("Run", list(labels), format_func=labels.get, key="mnist_cancel_run")
    if b.button("Cancel run", key="mnist_cancel_one"):
        st.session_state["mnist_message"] = store.request_cancel(int(target))
    if c.button("Cancel groups", key="mnist_cancel_groups"):
        st.session_state["mnist_message"] = " ".join(store.cancel_group(g) for g in group_ids)
    d.download_button(
        "Download metrics (CSV)",
        functools.partial(store.metrics_csv, list(group_ids)),  # built only when clicked
        file_name=f"optviz-mnist-groups-{'-'.join(map(str, group_ids))}.csv",
        mime="text/csv",
        on_click="ignore",
        key="mnist_download",
    )
    if st.session_state.get("mnist_message"):
        st.info(st.session_state["mnist_message"])

    smoothing = st.slider("Loss smoothing", 0.0, 0.95, 0.6, 0.05, key="mnist_smoothing")
    accuracy_x = st.radio(
        "Accuracy against", ["epoch", "iteration"], horizontal=True, key="mnist_accuracy_x"
    )
    # Only the points written since the last redraw are read, and each curve is drawn with at
    # most MAX_DRAWN points, so a redraw costs the same at the first minute and the hundredth.
    points = point_cache(str(store.path)).read([r.id for r in runs])
    loss_curves = figures.curves_from_series(
        runs, {i: p.loss() for i, p in points.items()}, max_points=MAX_DRAWN
    )
    accuracy_curves = figures.curves_from_series(
        runs, {i: p.accuracy(accuracy_x) for i, p in points.items()}, max_points=MAX_DRAWN
    )
    left, right = st.columns(2)
    left.plotly_chart(figures.loss_figure(loss_curves, smoothing=smoothing), key="mnist_loss")
    right.plotly_chart(
        figures.accuracy_figure(accuracy_curves, x_title=accuracy_x), key="mnist_accuracy"
    )

    live = any(r.active for r in runs)
    if st.session_state.get("mnist_live") and not live:
        st.session_state["mnist_live"] = False
        st.rerun()  # everything finished: one full rerun turns the timer off
    st.session_state["mnist_live"] = live


is_live = bool(selected) and any(r.active for r in store.runs(group_ids=selected))
st.session_state["mnist_live"] = is_live
st.fragment(run_every=REFRESH_S if is_live else None)(live_view)(tuple(selected))
watch_for_new_groups()
