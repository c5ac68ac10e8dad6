"""Pure Plotly builders for the Live MNIST page: run records in, ``go.Figure`` out.

They never import Streamlit or touch the store, so tests build figures from plain lists. Each
optimizer keeps one colour (its registry colour unless another optimizer shown has it:
``distinct_colors``); groups (or seeds) compared side by side differ by dash.
Non-finite points never reach a figure: a diverged curve ends at its last finite point, marked ×.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import plotly.graph_objects as go

from optviz.figures.layout import new_figure
from optviz.optim import OPTIMIZERS, distinct_colors

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
FALLBACK_COLOR = "#7F7F7F"


@dataclass(frozen=True)
class Curve:
    """One line: a run's points of one kind."""

    label: str
    color: str
    x: np.ndarray  # (P,)
    y: np.ndarray  # (P,)
    dash: str = "solid"
    diverged: bool = False
    stride: int = 1  # recorded points per drawn point (see ``thin``)


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased like Adam's m̂_t
    so the first points are not pulled towards zero."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out = np.empty(len(values), dtype=float)
    average = 0.0
    for t, value in enumerate(values, start=1):
        average = weight * average + (1.0 - weight) * value
        out[t - 1] = average / (1.0 - weight**t)
    return out


def thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """At most ``max_points`` points: the means of runs of ``stride`` consecutive points.

    A long run's curve is drawn at a bounded cost (the page redraws every second) and keeps its
    shape: a mean, unlike every k-th point, lets no spike of the noisy minibatch loss decide the
    line. Returns the thinned x, y and the stride (1: unchanged). Non-finite points are dropped
    first, so a diverged run still ends at its last finite point.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    stride = -(-len(x) // max_points) if max_points > 0 else 1
    if stride <= 1:
        return x, y, 1
    whole = len(x) // stride * stride
    bins = [a[:whole].reshape(-1, stride).mean(axis=1) for a in (x, y)]
    if whole < len(x):  # the newest points, which the last bin would otherwise drop
        bins = [np.append(b, a[whole:].mean()) for b, a in zip(bins, (x, y), strict=True)]
    return bins[0], bins[1], stride


def _finite(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        uirevision="keep",  # live updates keep the user's zoom and hidden traces
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        height=460,
    )
    return fig


def _divergence_marker(curve: Curve, x: np.ndarray, y: np.ndarray) -> go.Scatter:
    return go.Scatter(
        x=x[-1:],
        y=y[-1:],
        mode="markers",
        marker={"symbol": "x", "size": 12, "color": curve.color},
        name=f"{curve.label} diverged",
        legendgroup=curve.label,
        showlegend=False,
        hovertemplate=f"{curve.label} diverged after this point<extra></extra>",
    )


def loss_figure(
    curves: Sequence[Curve], *, smoothing: float = 0.0, x_title: str = "iteration"
) -> go.Figure:
    """Training loss on a log axis; with smoothing, the raw curve stays visible, faint."""
    fig = _layout(new_figure(), "Training loss", x_title, "cross-entropy (log scale)")
    fig.update_yaxes(type="log")
    drawn = 0
    for curve in curves:
        x, y = _finite(curve)
        y = np.where(y > 0, y, np.nan)  # a log axis cannot show 0
        keep = np.isfinite(y)
        x, y = x[keep], y[keep]
        if not len(x):
            continue
        drawn += 1
        line = {"color": curve.color, "dash": curve.dash}
        if smoothing > 0:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    line={**line, "width": 1},
                    opacity=0.25,
                    name=f"{curve.label} (raw)",
                    legendgroup=curve.label,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            y = ema(y, smoothing**curve.stride)  # the same smoothing per recorded point
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines", line=line, name=curve.label, legendgroup=curve.label)
        )
        if curve.diverged:
            fig.add_trace(_divergence_marker(curve, x, y))
    return fig if drawn else _empty(fig, "No training loss yet")


def accuracy_figure(curves: Sequence[Curve], *, x_title: str = "epoch") -> go.Figure:
    """Test accuracy in percent, with markers: evaluations are sparse."""
    fig = _layout(new_figure(), "Test accuracy", x_title, "accuracy (%)")
    drawn = 0
    for curve in curves:
        x, y = _finite(curve)
        if not len(x):
            continue
        drawn += 1
        fig.add_trace(
            go.Scatter(
                x=x,
                y=100.0 * y,
                mode="lines+markers",
                line={"color": curve.color, "dash": curve.dash},
                marker={"size": 5},
                name=curve.label,
                legendgroup=curve.label,
            )
        )
        if curve.diverged:
            fig.add_trace(_divergence_marker(curve, x, 100.0 * y))
    return fig if drawn else _empty(fig, "No test evaluation yet")


class RunRecord(Protocol):
    """What ``curves_from_records`` reads of a run (``store.Run`` has it)."""

    id: int
    group_id: int
    optimizer: str
    label: str
    status: str


class PointRecord(Protocol):
    """What ``curves_from_records`` reads of a metric point (``store.MetricRow`` has it)."""

    run_id: int
    kind: str
    iteration: int
    epoch: float
    loss: float
    accuracy: float | None


def curves_from_records(
    runs: Iterable[RunRecord], points: Iterable[PointRecord], *, kind: str, x: str, y: str
) -> list[Curve]:
    """One curve per run, in run order, from the points of ``kind`` (``x``/``y`` name fields).

    Colour comes from the optimizer (``distinct_colors`` of the optimizers shown); dash from
    the run's group, so two groups of the same optimizer stay apart when compared.
    """
    xy: dict[int, list[tuple[float, float]]] = {}
    for point in points:
        if point.kind == kind:
            xy.setdefault(point.run_id, []).append((getattr(point, x), getattr(point, y)))
    series = {}
    for run_id, pairs in xy.items():
        values = np.asarray(pairs, dtype=float).reshape(-1, 2)  # (P, 2)
        series[run_id] = (values[:, 0], values[:, 1])
    return curves_from_series(runs, series)


def curves_from_series(
    runs: Iterable[RunRecord],
    series: Mapping[int, tuple[np.ndarray, np.ndarray]],
    *,
    max_points: int | None = None,
) -> list[Curve]:
    """One curve per run, in run order, from run id → (x, y); with ``max_points``, each curve
    is ``thin``ned to at most that many points. Colours and dashes as ``curves_from_records``."""
    runs = list(runs)
    groups = dict.fromkeys(run.group_id for run in runs)
    dash = {group: DASHES[i % len(DASHES)] for i, group in enumerate(groups)}
    known = [run.optimizer for run in runs if run.optimizer in OPTIMIZERS]
    colour = dict(zip(known, distinct_colors(known), strict=True))
    curves = []
    for run in runs:
        x, y = (np.asarray(a, dtype=float) for a in series.get(run.id, ([], [])))
        stride = 1
        if max_points is not None:
            x, y, stride = thin(x, y, max_points)
        curves.append(
            Curve(
                label=f"#{run.id} {run.label}",
                color=colour.get(run.optimizer, FALLBACK_COLOR),
                x=x,
                y=y,
                dash=dash[run.group_id],
                diverged=run.status == "diverged",
                stride=stride,
            )
        )
    return curves
