"""The Paper lab's figure: training cost against epochs, each optimizer at its best α so far.

One panel per variant of the experiment (Fig. 2: with and without dropout), the paper's way of
drawing it: a log cost axis, an optimizer's colour from the registry (``distinct_colors``) and
the same colour in every panel. A curve still training (no α of its optimizer finished yet) is
dotted and says so in its name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from optviz.figures.layout import base_layout, message, panel_axes, subplots_layout
from optviz.figures.transport import f32
from optviz.optim import OPTIMIZERS, distinct_colors
from optviz.paper import PaperExperiment, Variant
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
