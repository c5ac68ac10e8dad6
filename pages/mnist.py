"""Live MNIST: the explorer's optimizers train real networks on real MNIST, curves drawn live.

Thin page: widgets → ``optviz.training`` → charts. Start writes a group of queued runs into the
run store; the collector thread hands them to Ray workers and writes their metrics back; the
fragment below redraws from the store every second. This script never trains and never waits
on Ray. The settings live in the URL (``optviz.links``' Live MNIST section), but a URL only
pre-fills widgets: nothing but the Start button starts a run. The runs are drawn above the
settings, so after Start they are in view.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from optviz import links, ui
from optviz.figures import training as figures
from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.training.cluster import get_collector, submit_group
from optviz.training.config import (
    DEVICES,
    MAX_RUNS_PER_CLICK,
    TrainConfig,
)
from optviz.training.data import DataUnavailable, Mnist, load_mnist
from optviz.training.loop import WARMUP_ITERATIONS
from optviz.training.models import MODELS
from optviz.training.points import PointCache
from optviz.training.store import Run, RunStore

REFRESH_S = 1.0  # the live view's timer; a new group from another tab shows on its next run
MAX_DRAWN = 1_000  # points per curve: a long run is drawn as means of consecutive points
MAX_GROUPS = 6
HP_PREFIX = "mnist_hp"  # widget keys: mnist_hp_<optimizer>_<name>
SCHEDULE_PREFIX = "mnist"  # widget keys: mnist_schedule, mnist_schedule_<key>_<parameter>

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


# Widget key ← MnistState field, for what a link fills in and writes back.
LINKED = {
    "mnist_model": "model",
    "mnist_epochs": "epochs",
    "mnist_batch_size": "batch_size",
    "mnist_repeats": "seeds",
    "mnist_device": "device",
    "mnist_dropout": "dropout",
    "mnist_x": "x",
}


def load_link() -> None:
    """The URL's settings (or the defaults) into the widgets: on a session's first run, and on
    coming back from another page (Streamlit forgets the state of widgets not drawn)."""
    state = st.session_state
    link, warnings = links.mnist_from_query(st.query_params.to_dict())
    for widget, name in LINKED.items():
        state[widget] = getattr(link, name)
    state["mnist_optimizers"] = list(link.optimizers)
    if link.train_images is not None:
        state["mnist_subset"] = link.train_images
    for key in link.optimizers:  # paper settings, then what the link changes of them
        spec = OPTIMIZERS[key]
        values = {**spec.paper(), **link.hparams.get(key, {})}
        ui.set_hyperparameters(spec, values, key_prefix=HP_PREFIX)
    ui.set_schedule(link.schedule, key_prefix=SCHEDULE_PREFIX)
    state["mnist_link_warnings"] = warnings


def write_link() -> None:
    """The widgets' settings into the URL, so a copied link reopens them (defaults left out)."""
    state = st.session_state
    chosen = [k for k in state.get("mnist_optimizers", []) if k in OPTIMIZERS]
    changed = {}
    for key in chosen:
        spec = OPTIMIZERS[key]
        paper = spec.paper()
        values = {
            hp.name: state[ui.widget_key(spec, hp, HP_PREFIX)]
            for hp in spec.hyperparams
            if ui.widget_key(spec, hp, HP_PREFIX) in state
        }
        changed[key] = {n: v for n, v in values.items() if n not in paper or paper[n] != v}
    fields = {name: state[widget] for widget, name in LINKED.items() if widget in state}
    subset = state.get("mnist_subset")
    st.query_params.from_dict(
        links.mnist_to_query(
            links.MnistState(
                **fields,
                optimizers=tuple(chosen) or links.MNIST_DEFAULT_OPTIMIZERS,
                hparams={k: v for k, v in changed.items() if v},
                train_images=None if subset == default_subset else subset,
                schedule=ui.current_schedule(key_prefix=SCHEDULE_PREFIX),
            )
        )
    )


default_subset = min(6_000, len(data.train_labels)) if data else 6_000
if "mnist_epochs" not in st.session_state:
    load_link()
for warning in st.session_state.get("mnist_link_warnings", []):
    st.warning(warning)

# After Start the runs are what the user looks at: they are drawn here, above the settings.
runs_area = st.container()

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
epochs = c1.number_input("Epochs", step=1, key="mnist_epochs")
batch_size = c2.number_input("Batch size", step=16, key="mnist_batch_size")
st.session_state.setdefault("mnist_subset", default_subset)
subset = c3.number_input(
    "Training images",
    step=1_000,
    key="mnist_subset",
    help="The first N of the 60 000 training images: small is quick on a CPU.",
)
repeats = c4.number_input(
    "Seeds per optimizer", step=1, key="mnist_repeats", help="Seeds 0, 1, … per run."
)
device = c5.selectbox("Device", DEVICES, key="mnist_device", help="auto: CUDA when present.")
left, right = st.columns(2)
with left:
    dropout = st.slider("Dropout", 0.0, links.MAX_DROPOUT, step=0.05, key="mnist_dropout")
with right:
    schedule = ui.schedule_inputs(key_prefix=SCHEDULE_PREFIX)

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
            schedule=schedule[0],
            schedule_params=dict(schedule[1]),
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
    if schedule[0] != "constant":
        description += f", α schedule {SCHEDULES[schedule[0]].describe(schedule[1])}"
    try:
        group_id, _ = submit_group(store, data, configs, description)
    except ValueError as error:
        st.error(str(error))
    except sqlite3.Error as error:  # e.g. another program holds the history file's lock
        st.error(f"The runs could not be queued ({error}); try again in a moment.")
    else:
        st.session_state["mnist_groups_set"] = [group_id]  # the picker shows it (below)
        st.toast(f"Group #{group_id} queued: {len(configs)} run(s).")


@st.cache_resource(show_spinner=False)
def point_cache(path: str) -> PointCache:
    """The points read so far, shared by every tab of this app process (one per store file)."""
    return PointCache(store)


def clock(seconds: float | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on); empty for no time."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def elapsed_s(run: Run, now: float) -> float | None:
    """Wall time since the run started on its worker (to its end, once it ended)."""
    if run.started_at is None:
        return None
    return (run.finished_at or now) - run.started_at


def eta(run: Run, now: float, waiting: str) -> str:
    """Time left at the pace so far (evaluations included), or why there is none."""
    if run.status == "queued":
        return waiting
    if not run.active:
        return ""
    spent = elapsed_s(run, now)
    if not run.iteration or spent is None:
        return "…"
    return clock(spent * (run.total_iterations - run.iteration) / run.iteration)


def run_table(runs: list[Run], now: float, waiting: str = "waiting for a worker") -> pd.DataFrame:
    """One row per run: what the page shows about it, straight from the store."""
    return pd.DataFrame(
        {
            "Run": [f"#{r.id}" for r in runs],
            "Optimizer": [r.label for r in runs],
            "Status": [r.status for r in runs],
            "Progress": [r.progress for r in runs],
            "Elapsed": [clock(elapsed_s(r, now)) for r in runs],
            "ETA": [eta(r, now, waiting) for r in runs],
            "Samples/s": [r.samples_per_s for r in runs],
            "Best accuracy": [
                None if r.best_accuracy is None else 100 * r.best_accuracy for r in runs
            ],
            "Device": [r.device or "" for r in runs],
            "Node": [r.node_ip or "" for r in runs],
            "Note": [r.error or "" for r in runs],
        }
    )


def has_accuracy(run: Run) -> bool:
    spec = MODELS.get(run.config.model)
    return spec is None or spec.has_accuracy


X_LABELS = {"iteration": "iterations", "epoch": "epochs", "seconds": "seconds (wall clock)"}


@st.cache_resource(show_spinner=False, ttl=REFRESH_S, max_entries=32)
def live_charts(
    path: str, group_ids: tuple[int, ...], smoothing: float, x: str, _runs: list[Run]
) -> tuple[go.Figure, go.Figure | None]:
    """The loss and accuracy figures (no accuracy figure for models without one, a VAE's), built
    at most once a refresh for all the tabs that show the same groups the same way: building a
    Plotly figure (it checks every property) was most of a redraw's server time, and every tab
    redraws every second. Only the points written since the last read are read, and each curve
    is drawn with at most MAX_DRAWN points, so a redraw costs the same at the first minute and
    the hundredth."""
    points = point_cache(path).read([r.id for r in _runs])
    loss_curves = figures.curves_from_series(
        _runs, {i: p.loss(x) for i, p in points.items()}, max_points=MAX_DRAWN
    )
    loss = figures.loss_figure(loss_curves, smoothing=smoothing, x_title=X_LABELS[x])
    if not any(has_accuracy(r) for r in _runs):
        return loss, None
    accuracy_curves = figures.curves_from_series(
        _runs, {i: p.accuracy(x) for i, p in points.items()}, max_points=MAX_DRAWN
    )
    return loss, figures.accuracy_figure(accuracy_curves, x_title=X_LABELS[x])


def group_picker() -> tuple[int, ...]:
    """The "Groups to show" picker. Start shows its new group; groups started since this tab
    last looked (by another tab) join the selection first; so a new group shows on the
    fragment's next run, without a full rerun of the page.

    A selection the script sets is kept in ``mnist_groups_set`` until the browser sends it
    back: the live view's timer sends the browser's widget values with every rerun request,
    and a request sent before the browser had drawn the new selection would otherwise put the
    old one back (measured: Start's group vanished from the tab that pressed it)."""
    st.subheader("Runs")
    state = st.session_state
    groups = {group.id: group for group in store.groups(kind="live")}  # sweeps: Paper lab
    newest = max(groups, default=0)
    wanted = state.get("mnist_groups_set")
    if "mnist_groups" not in state:
        wanted = list(groups)[:1]
    elif newest > state.get("mnist_newest_group", newest):
        started = [g for g in groups if g > state["mnist_newest_group"]]
        shown = wanted if wanted is not None else state["mnist_groups"]
        wanted = list(dict.fromkeys([*started, *shown]))[:MAX_GROUPS]
    elif wanted is not None and state["mnist_groups"] == wanted:
        wanted = None  # the browser shows it: from now on the user's picks stand
    if wanted is not None:
        state["mnist_groups"] = wanted
    state["mnist_groups_set"] = wanted
    state["mnist_newest_group"] = newest
    state["mnist_groups"] = [g for g in state["mnist_groups"] if g in groups]
    selected = st.multiselect(
        "Groups to show (pick several to compare)",
        list(groups),
        format_func=lambda g: (
            f"#{g} · {datetime.fromtimestamp(groups[g].created_at):%H:%M:%S} · "
            f"{groups[g].description}"
        ),
        key="mnist_groups",
        max_selections=MAX_GROUPS,
    )
    return tuple(selected)


def live_view() -> None:
    """The group picker, then progress, table, controls and charts of the selected groups,
    read from the store. One fragment on one timer draws it all, so neither a new group (from
    this tab or another) nor the end of a run needs a full rerun of the page."""
    group_ids = group_picker()
    starting = collector.state.progress  # e.g. "Starting workers… 1 of 4 ready"
    if starting:
        st.info(starting, icon="⏳")
    runs = store.runs(group_ids=list(group_ids))
    smoothing_column, x_column = st.columns(2)
    smoothing = smoothing_column.slider(
        "Loss smoothing", 0.0, 0.95, 0.6, 0.05, key="mnist_smoothing"
    )
    x = x_column.radio(
        "Curves against",
        links.MNIST_X_AXES,
        format_func=X_LABELS.get,
        horizontal=True,
        key="mnist_x",
        on_change=write_link,
    )
    if not runs:
        st.info("No runs yet: choose optimizers below and press Start.")
    else:
        loss, accuracy = live_charts(str(store.path), group_ids, smoothing, x, runs)
        left, right = st.columns(2)
        left.plotly_chart(loss, key="mnist_loss")
        if accuracy is not None:
            right.plotly_chart(accuracy, key="mnist_accuracy")
        else:
            right.info(
                "These models have no accuracy: a VAE's loss is its negative ELBO per image, in "
                "nats (lower is better).",
                icon="ℹ️",
            )
        run_controls(runs, group_ids, starting)


def run_controls(runs: list[Run], group_ids: tuple[int, ...], starting: str | None) -> None:
    """The runs' table (elapsed time, ETA, throughput), cancel buttons and the CSV."""
    st.dataframe(
        run_table(runs, time.time(), waiting=starting or "waiting for a worker"),
        hide_index=True,
        column_config={
            "Progress": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent"
            ),
            "Samples/s": st.column_config.NumberColumn(
                format="%.0f",
                help=f"Training throughput after the first {WARMUP_ITERATIONS} iterations",
            ),
            "Best accuracy": st.column_config.NumberColumn(format="%.2f %%"),
            "ETA": st.column_config.TextColumn(help="Time left at the pace so far"),
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


with runs_area:
    st.fragment(run_every=REFRESH_S)(live_view)()
write_link()
