"""An optimizer's internals: its effective step against its bound, its state over time, and
the §3 bias-correction ablation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.labels import (
    DASHES,
    check_run_index,
    first_value,
    hparam,
    last_good,
    run_color,
    run_names,
)
from optviz.figures.layout import (
    FIGURE_HEIGHT,
    axis_keys,
    base_layout,
    hline,
    log_axis,
    message,
    panel_axes,
    subplots_layout,
)
from optviz.figures.transport import f32
from optviz.optim import OPTIMIZERS

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories


def step_size_figure(result: Trajectories, k: int) -> go.Figure:
    """Run k's effective step |Δ_t| per coordinate against α and the optimizer's step bound.

    The bound is the spec's (Adam's §2.1 bound, AdaMax's α); an optimizer without one is drawn
    against α alone. Log y; steps that are exactly 0 (the run stood still) cannot be drawn on
    it and are left out.
    """
    check_run_index(result, k)
    spec = OPTIMIZERS[result.runs[k][0]]
    name = run_names(result)[k]
    last = last_good(result, k)
    updates = np.abs(result.updates[k, 0, :last])  # (last, 2): Δ_1 … Δ_last
    steps = np.arange(1, last + 1)
    traces, title = [], f"{name}: effective step |Δ_t| per coordinate"
    for axis, (coordinate, dash) in enumerate((("x", "solid"), ("y", "dot"))):
        keep = updates[:, axis] > 0
        traces.append(
            go.Scatter(
                x=steps[keep].astype(np.int32),
                y=f32(updates[keep, axis]),
                mode="lines",
                line={"color": run_color(result, k), "width": 1.8, "dash": dash},
                name=f"|Δ{coordinate}|",
                hovertemplate=f"step %{{x}}: |Δ{coordinate}| = %{{y:.3g}}<extra></extra>",
            )
        )
    span = [1, max(last, 1)]
    lr = hparam(result, k, "lr")
    hparams = {n: first_value(v) for n, v in result.hyperparameters(k).items()}
    bound = spec.step_bound(hparams) if spec.step_bound else None
    if bound is None or bound.formula != "α":
        traces.append(hline(span, lr, f"α = {lr:g}", "dot"))
    if bound is not None:
        value = f"{bound.value:g}" if bound.formula == "α" else f"{bound.value:.3g}"
        label = f"{bound.source} bound {bound.formula} = {value}"
        traces.append(hline(span, bound.value, label, "dash"))
    if bound is not None and not spec.corrects_bias(hparams) and spec.bias_correction:
        title += (
            "<br><span style='font-size:12px;color:#A23B3B'>Bias correction is off: the "
            "bound assumes it; early steps exceed it (§3).</span>"
        )
    layout = base_layout(
        title,
        legend_rows=len(traces),  # long entries: one a row in a half-width column
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": "|Δ_t|"}} | log_axis([trace["y"] for trace in traces]),
    )
    if last == 0:
        layout |= message("no steps to show")
    return go.Figure(traces, layout)  # one validation pass (see the layout module)


def moments_figure(result: Trajectories, k: int) -> go.Figure:
    """Run k's internals over time: g_t and each state of ``result.moments(k)``, per coordinate.

    One row per quantity (shared step axis); x solid, y dotted, in the optimizer's colour. Each
    state is titled by its spec's meaning; magnitudes (v, v̂, G, u …) get a log axis.
    """
    check_run_index(result, k)
    spec = OPTIMIZERS[result.runs[k][0]]
    name = run_names(result)[k]
    last = last_good(result, k)
    quantities = {"g": result.grads[k, 0]} | result.moments(k)  # symbol → (T, 2)
    meanings, magnitudes = {"g": "gradient"}, set()
    for state in spec.state:
        meanings[state.symbol] = state.meaning
        meanings[state.corrected_symbol] = f"bias-corrected {state.meaning}"
        if state.magnitude:
            magnitudes |= {state.symbol, state.corrected_symbol}
    titles = [f"{symbol}_t: {meanings[symbol]}" for symbol in quantities]
    layout = subplots_layout(
        len(quantities),
        1,
        titles,
        shared_xaxes=True,
        vertical_spacing=min(0.08, 0.3 / len(quantities)),
    )
    steps = np.arange(1, last + 1, dtype=np.int32)
    traces = []
    for row, (symbol, values) in enumerate(quantities.items(), start=1):
        values = values[:last]  # (last, 2)
        log = symbol in magnitudes and bool((values >= 0).all())
        for axis, (coordinate, dash) in enumerate((("x", "solid"), ("y", "dot"))):
            series, shown = values[:, axis], steps
            if log:  # zeros cannot sit on a log axis
                keep = series > 0
                series, shown = series[keep], steps[keep]
            traces.append(
                go.Scatter(
                    x=shown,
                    y=f32(series),
                    mode="lines",
                    line={"color": run_color(result, k), "width": 1.6, "dash": dash},
                    name=f"{coordinate} coordinate",
                    legendgroup=coordinate,
                    showlegend=row == 1,
                    hovertemplate=f"step %{{x}}: {symbol}{coordinate} = %{{y:.3g}}<extra></extra>",
                    **panel_axes(row - 1),
                )
            )
        layout[axis_keys(row - 1)[1]] |= {
            "title": {"text": symbol},
            "type": "log" if log else "linear",
            "exponentformat": "power",
        }
    layout[axis_keys(len(quantities) - 1)[0]] |= {"title": {"text": "step t"}}
    layout |= base_layout(
        f"{name}: internals over time",
        legend_rows=2,  # the legend's row, and the first panel's title above its plot
        height=max(FIGURE_HEIGHT, 190 * len(quantities) + 120),
        hovermode="x unified",
    )
    return go.Figure(traces, layout)  # one validation pass (see the layout module)


def bias_correction_figure(result: Trajectories) -> go.Figure:
    """Paper §3: an optimizer's first steps with and without bias correction.

    ``result`` races the same optimizer twice, once with its bias correction on and once off
    (``optviz.analyses.bias_correction_race``). Plotted is the largest coordinate step
    max_i |Δ_t,i|. Without correction m and v start biased towards 0, and for an m/√v step the
    first one is (1 − β1)/√(1 − β2) times too large; the closer β2 is to 1, the bigger the
    blow-up. With it, the first step is α.
    """
    spec = OPTIMIZERS[result.runs[0][0]]
    traces = []
    for k in range(len(result.runs)):
        corrected = spec.corrects_bias(result.hyperparameters(k))
        label = "with bias correction" if corrected else "without bias correction"
        last = last_good(result, k)
        step = np.abs(result.updates[k, 0, :last]).max(axis=-1)  # (last,)
        keep = step > 0
        traces.append(
            go.Scatter(
                x=np.arange(1, last + 1, dtype=np.int32)[keep],
                y=f32(step[keep]),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": spec.color, "width": 2, "dash": DASHES[int(not corrected)]},
                name=label,
                hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    span = [1, max(result.steps, 1)]
    lr = hparam(result, 0, "lr")
    traces.append(hline(span, lr, f"α = {lr:g}", "dot"))
    title = f"Bias correction of {spec.label} on {result.surface.label} (paper §3)"
    hparams = result.hyperparameters(0)
    if "beta1" in hparams and "beta2" in hparams:
        beta1, beta2 = hparam(result, 0, "beta1"), hparam(result, 0, "beta2")
        title = f"{title}: β1={beta1:g}, β2={beta2:g}"
        first = lr * (1 - beta1) / math.sqrt(1 - beta2)
        if not math.isclose(first, lr):
            traces.append(hline(span, first, f"α(1−β1)/√(1−β2) = {first:.3g}", "dash"))
    layout = base_layout(
        title,
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": "max_i |Δ_t,i|"}} | log_axis([t["y"] for t in traces]),
    )
    return go.Figure(traces, layout)  # one validation pass (see the layout module)
