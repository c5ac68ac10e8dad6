"""The Paper lab's figures: ``paper_figure`` draws an experiment's sweep as its ``figure`` says.

``sweep_figure`` (Figs. 1–3): training cost against epochs, each optimizer at its best α so far,
one panel per variant (Fig. 2: with and without dropout), the paper's way of drawing it: a log
cost axis, an optimizer's colour from the registry (``distinct_colors``) and the same colour in
every panel. A curve still training (no α of its optimizer finished yet) is dotted and says so
in its name. ``alpha_figure`` (Fig. 4): the loss of every grid point against log10 α, one panel
per β1 × {after a few epochs, after all}, a colour per β2, solid with bias correction and
dashed without, on a loss axis up to 3 × the sweep's median loss: a diverged point is an × on
the top edge, a loss above it a ▲ there (its value on hover).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from optviz.figures.layout import axis_keys, base_layout, message, panel_axes, subplots_layout
from optviz.figures.transport import f32
from optviz.optim import OPTIMIZERS, distinct_colors
from optviz.paper import PaperExperiment, Results, Variant
from optviz.training.sweeps import RunCurve

HEIGHT = 480


def sweep_figure(
    experiment: PaperExperiment, shown: Sequence[tuple[Variant, str, RunCurve]]
) -> go.Figure:
    """``shown``: ``PaperExperiment.shown`` (variant, optimizer key, its curve)."""
    variants = list(experiment.variants)
    colors = dict(zip(experiment.optimizers, distinct_colors(experiment.optimizers), strict=True))
    title = f"{experiment.title}: training cost, each optimizer at its best α"
    if len(variants) > 1:
        layout = subplots_layout(1, len(variants), [v.label for v in variants])
        layout |= base_layout(title, height=HEIGHT, margin={"l": 10, "r": 10, "t": 110, "b": 10})
    else:
        layout = base_layout(title, height=HEIGHT)
    data: list[dict] = []
    legend_seen: set[str] = set()
    for variant, key, curve in shown:
        panel = variants.index(variant)
        keep = np.isfinite(curve.epochs) & np.isfinite(curve.losses) & (curve.losses > 0)
        if not keep.any():
            continue
        lr = curve.config.hyperparams.get("lr")
        training = curve.status == "running"
        name = f"{OPTIMIZERS[key].label} (α={lr:g}{', training' if training else ''})"
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": f32(curve.epochs[keep]),
                "y": f32(curve.losses[keep]),
                "name": name,
                "legendgroup": key,
                "showlegend": key not in legend_seen,
                "line": {"color": colors[key], "dash": "dot" if training else "solid"},
                "hovertemplate": f"{name}<br>epoch %{{x:.2f}}<br>cost %{{y:.4f}}<extra></extra>",
                **panel_axes(panel),
            }
        )
        legend_seen.add(key)
    for panel in range(len(variants)):
        x_key, y_key = (
            ("xaxis", "yaxis") if not panel else (f"xaxis{panel + 1}", f"yaxis{panel + 1}")
        )
        layout[x_key] = {**layout.get(x_key, {}), "title": {"text": "epochs"}}
        layout[y_key] = {
            **layout.get(y_key, {}),
            "type": "log",
            "title": {"text": "training cost" if not panel else ""},
        }
    if not data:
        layout |= message("No finished runs yet: press Start")
    return go.Figure(data, layout)


# Fig. 4: a colour per β2 (Okabe & Ito's palette), solid with bias correction, dashed without.
BETA2_COLORS = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00")
CEILING = 3.0  # the panels' top: this many times the median loss of the sweep's points


def alpha_figure(experiment: PaperExperiment, results: Results) -> go.Figure:
    """Fig. 4's panels: the loss of every grid point against log10 α, one panel per β1 × {after
    a few epochs, after all}, a line per β2 (solid: bias-corrected, dashed: not); a diverged
    point is an × on the panel's top edge."""
    preset = results.preset
    beta1s = sorted({float(v.setting("beta1")) for v in experiment.variants})
    beta2s = sorted({float(v.setting("beta2")) for v in experiment.variants})
    colors = dict(zip(beta2s, BETA2_COLORS, strict=False))
    epochs = (preset.early_epoch or preset.epochs, preset.epochs)
    titles = [
        f"β1 = {b1:g}, after {e} epoch{'s' if e > 1 else ''}" for b1 in beta1s for e in epochs
    ]
    layout = subplots_layout(len(beta1s), 2, titles, vertical_spacing=0.16)
    layout |= base_layout(
        f"{experiment.title}: loss against log10 α", legend_rows=3, height=HEIGHT + 240
    )
    margin = layout["margin"]
    layout["margin"] = margin | {"t": margin["t"] + 30, "l": 60, "b": 50}  # type: ignore[operator]
    finite = [
        p.cost(early)
        for p in results.points.values()
        for early in (True, False)
        if np.isfinite(p.cost(early)) and p.cost(early) > 0
    ]
    # The top edge: a loss above it (a run that blew up and came back) is drawn there as a ▲
    # with its value on hover, a diverged point as an ×, so they do not squash the others.
    top = CEILING * float(np.median(finite)) if finite else 1.0
    bottom = min(finite) * 0.95 if finite else 0.0
    data: list[dict] = []
    for row, b1 in enumerate(beta1s):
        for col, early in enumerate((True, False)):
            panel = 2 * row + col
            for variant in experiment.variants:
                if float(variant.setting("beta1")) != b1:
                    continue
                b2, corrected = (
                    float(variant.setting("beta2")),
                    bool(variant.setting("bias_correction")),
                )
                points = sorted(
                    (p for p in results.points.values() if p.variant == variant.key),
                    key=lambda p: p.lr,
                )
                if not points:
                    continue
                x = np.log10([p.lr for p in points])
                y = np.array([p.cost(early) for p in points])
                ok = np.isfinite(y) & (y > 0)
                high = y[ok] > top
                name = f"β2={b2:g}, {'with' if corrected else 'without'} correction"
                style = {"color": colors[b2], "dash": "solid" if corrected else "dash"}
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": f32(x[ok]),
                        "y": f32(np.minimum(y[ok], top)),
                        "customdata": f32(y[ok]),
                        "name": name,
                        "legendgroup": name,
                        "showlegend": panel == 0,
                        "line": style,
                        "marker": {
                            "color": colors[b2],
                            "size": np.where(high, 11, 7).tolist(),
                            "symbol": np.where(high, "triangle-up", "circle").tolist(),
                        },
                        "hovertemplate": f"{name}<br>log10 α %{{x:g}}<br>loss %{{customdata:.4g}}"
                        "<extra></extra>",
                        **panel_axes(panel),
                    }
                )
                if (~ok).any():
                    data.append(
                        {
                            "type": "scatter",
                            "mode": "markers",
                            "x": f32(x[~ok]),
                            "y": f32(np.full(int((~ok).sum()), top)),
                            "name": f"{name}: diverged",
                            "legendgroup": name,
                            "showlegend": False,
                            "marker": {"symbol": "x", "size": 11, "color": colors[b2]},
                            "hovertemplate": f"{name}<br>log10 α %{{x:g}}<br>diverged"
                            "<extra></extra>",
                            **panel_axes(panel),
                        }
                    )
    grid = sorted({float(np.log10(lr)) for lr in preset.grids[experiment.optimizers[0]]})
    for panel in range(2 * len(beta1s)):
        x_key, y_key = axis_keys(panel)
        bottom = panel >= 2 * (len(beta1s) - 1)
        layout[x_key] = {
            **layout.get(x_key, {}),
            "title": {"text": "log10 α" if bottom else ""},
            "tickvals": grid,
        }
        layout[y_key] = {
            **layout.get(y_key, {}),
            "range": [bottom, top * 1.04],
            "title": {"text": "loss (−ELBO, nats)" if panel % 2 == 0 else ""},
        }
    if not data:
        layout |= message("No finished runs yet: press Start")
    return go.Figure(data, layout)


def paper_figure(experiment: PaperExperiment, preset: str, curves: Sequence[RunCurve]) -> go.Figure:
    """The experiment's figure of a sweep's curves: its kind says which (``figure``)."""
    if experiment.figure == "alpha":
        return alpha_figure(experiment, experiment.results(preset, curves))
    return sweep_figure(experiment, experiment.shown(preset, curves))
