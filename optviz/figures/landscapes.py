"""The Landscapes page's figures: α sensitivity curves, two-hyperparameter maps, basin maps,
and the "Tune all" table's rows.

Colour scales: values on Viridis (sequential, colour-blind safe, light = more, read the same in
grey), always over log10(f − f*) or the step count; what has no value (a setting that diverged
or left the plot, a tolerance never reached) is a separate neutral layer of greys that is no
colour of the scale, so a failure never reads as a very good or a very bad value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from optviz.figures.layout import (
    base_layout,
    format_f,
    panel_axes,
    subplots_layout,
)
from optviz.figures.surface import minima_markers
from optviz.figures.transport import f32
from optviz.landscapes import DIVERGED, LEFT, MOVING, WITHIN
from optviz.optim import OPTIMIZERS, distinct_colors

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.landscapes import Basins, HyperMap, Outcomes, Sensitivity, Tuned

SCALE = "Viridis"
FAILED_GREY = "#6E6E6E"  # diverged or left the plot
UNREACHED_GREY = "#D9D9D9"  # safe, but never within the tolerance
LEFT_GREY = "#9A9A9A"  # left the plot window (basins)
# Basin colours: a muted colour-blind-safe qualitative palette, no grey and none of Viridis' ends.
BASIN_COLORS = (
    "#CC6677",
    "#332288",
    "#DDCC77",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
)
METRICS = {"gap": "final f − f*", "steps": "steps to f − f* ≤ tol"}
BASIN_PANELS_PER_ROW = 4


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _holes(values: np.ndarray, keep: np.ndarray) -> list:
    """``values`` as nested lists with None where ``keep`` is False (a gap in a line or a
    heatmap; None, never NaN, goes to the browser)."""
    return np.where(keep, values.astype(object), None).tolist()


def failure_note(found: Outcomes, k: int, cell: tuple[int, ...]) -> str:
    """What went wrong in a cell, for hover: "diverged from 2 of 4 starts" …"""
    index = (k, slice(None), *cell)
    replicas = found.gap.shape[1]
    parts = []
    for name, flags in (("diverged", found.diverged), ("left the plot", found.left)):
        count = int(flags[index].sum())
        if count:
            parts.append(f"{name} from {count} of {replicas}")
    return ", ".join(parts) or "safe"


# --- α sensitivity -------------------------------------------------------------------------


def sensitivity_figure(result: Sensitivity) -> go.Figure:
    """Final f − f* and steps to tolerance against α, one curve per optimizer: the line is the
    mean of log10(f − f*) (the median of the steps) over the starts, the band their range; an α
    where any start diverged or left the plot is a × (or ▲) along the top of the panel."""
    found = result.outcomes
    replicas = found.gap.shape[1]
    colors = distinct_colors(result.keys)
    low, high = found.log_gap_range
    steps_low, steps_high = found.steps_range
    ceiling = float(high[~found.failed].max()) + 0.5 if (~found.failed).any() else 1.0
    top_steps = float(max(found.median_steps.max(), 1)) * 1.08
    traces: list[dict] = []
    for k, key in enumerate(result.keys):
        name, color, alphas = OPTIMIZERS[key].label, colors[k], result.alphas[k]
        safe = ~found.failed[k]
        reached = safe & (found.median_steps[k] >= 0)
        common = {"legendgroup": key, "x": f32(alphas)}
        for panel, (mid, lo, hi, keep) in enumerate(
            [
                (10.0 ** found.log_gap[k], 10.0 ** low[k], 10.0 ** high[k], safe),
                (found.median_steps[k], steps_low[k], steps_high[k], reached),
            ]
        ):
            axes = panel_axes(panel)
            for edge, fill in ((lo, None), (hi, "tonexty")):  # the band: range over starts
                traces.append(
                    {
                        "type": "scatter",
                        **axes,
                        **common,
                        "y": _holes(edge, keep),
                        "mode": "lines",
                        "line": {"width": 0, "color": color},
                        "fill": fill,
                        "fillcolor": _rgba(color, 0.18),
                        "hoverinfo": "skip",
                        "showlegend": False,
                        "name": f"{name}: range over {replicas} starts",
                    }
                )
            unit = "f − f* = %{y:.3g}" if panel == 0 else "%{y:.0f} steps"
            traces.append(
                {
                    "type": "scatter",
                    **axes,
                    **common,
                    "y": _holes(mid, keep),
                    "mode": "lines+markers",
                    "marker": {"size": 4},
                    "line": {"color": color, "width": 2},
                    "name": name,
                    "showlegend": panel == 0,
                    "hovertemplate": f"{name}<br>α = %{{x:.3g}}: {unit}<extra></extra>",
                }
            )
        for flags, symbol, what in (
            (found.diverged[k].any(0), "x", "diverged"),
            (found.left[k].any(0) & ~found.diverged[k].any(0), "triangle-up", "left the plot"),
        ):
            if not flags.any():
                continue
            notes = [failure_note(found, k, (n,)) for n in np.flatnonzero(flags)]
            for panel, y in enumerate((10.0**ceiling, top_steps)):
                traces.append(
                    {
                        "type": "scatter",
                        **panel_axes(panel),
                        "legendgroup": key,
                        "x": f32(alphas[flags]),
                        "y": f32(np.full(int(flags.sum()), y)),
                        "mode": "markers",
                        "marker": {"symbol": symbol, "size": 8, "color": color},
                        "name": f"{name}: {what}",
                        "showlegend": False,
                        "text": notes,
                        "hovertemplate": f"{name}<br>α = %{{x:.3g}}: %{{text}}<extra></extra>",
                    }
                )
    titles = ["final f − f* (mean of log over starts)", f"steps to f − f* ≤ {found.tol:g}"]
    layout = base_layout(
        f"α sensitivity from {replicas} starts: line the mean, band the range; "
        "× diverged, ▲ left the plot",
        legend_rows=2,  # the legend's row, and the panels' titles above their plots
        height=460,
    )
    layout |= subplots_layout(1, 2, titles, horizontal_spacing=0.08)
    for panel in range(2):
        x_key, y_key = (f"{axis}axis{panel + 1 if panel else ''}" for axis in "xy")
        layout[x_key] |= {"type": "log", "exponentformat": "power", "title": {"text": "α"}}
        layout[x_key] |= {"automargin": True}
        layout[y_key] |= {"automargin": True} | (
            {"type": "log", "exponentformat": "power", "title": {"text": "f − f*"}}
            if panel == 0
            else {"rangemode": "tozero", "title": {"text": "steps"}}
        )
    return go.Figure(traces, layout)


# --- maps ----------------------------------------------------------------------------------


def _grid_axis(values: np.ndarray, title: str, most: int = 6) -> dict:
    """An axis over cell indices labelled with the grid's values at a few cells."""
    ticks = np.unique(np.linspace(0, len(values) - 1, most).round().astype(int))
    return {
        "title": {"text": title},
        "tickvals": ticks.tolist(),
        "ticktext": [f"{values[i]:.4g}" for i in ticks],
        "showgrid": False,
        "zeroline": False,
        "range": [-0.5, len(values) - 0.5],
        "automargin": True,
    }


def metric_values(found: Outcomes, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(K, *cells)`` the values a map colours (log10(f − f*) or steps) and which cells have
    one (safe, and for steps within the tolerance)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if metric == "gap":
        return found.log_gap, ~found.failed
    return found.median_steps, ~found.failed & (found.median_steps >= 0)


def _neutral_layer(found: Outcomes, k: int, has_value: np.ndarray, axes: dict) -> dict:
    """The greys under a map's values: diverged or left (dark), never within tol (light)."""
    code = np.where(found.failed[k], 1.0, 0.0)
    notes = np.vectorize(lambda i, j: failure_note(found, k, (i, j)))(*np.indices(code.shape))
    notes = np.where(found.failed[k], notes, f"never within f − f* ≤ {found.tol:g}")
    return {
        "type": "heatmap",
        **axes,
        "z": _holes(code, ~has_value),
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": [
            [0.0, UNREACHED_GREY],
            [0.5, UNREACHED_GREY],
            [0.5, FAILED_GREY],
            [1.0, FAILED_GREY],
        ],
        "showscale": False,
        "text": notes.tolist(),
        "hovertemplate": "%{text}<extra></extra>",
        "name": "no value",
    }


def _colorbar(metric: str, values: np.ndarray | None = None) -> dict:
    """Steps as they are; log10(f − f*) labelled with f − f* at whole decades."""
    if metric == "steps":
        return {"title": {"text": "steps"}}
    finite = values[np.isfinite(values)] if values is not None else np.array([0.0])
    decades = list(range(math.ceil(finite.min()), math.floor(finite.max()) + 1)) or [0]
    decades = decades[:: max(1, math.ceil(len(decades) / 7))]
    return {
        "title": {"text": "f − f*"},
        "tickvals": decades,
        "ticktext": [format_f(10.0**d) for d in decades],
    }


def map_figure(result: HyperMap, metric: str = "gap") -> go.Figure:
    """A heat map of ``metric`` over the two hyperparameters; dark grey cells diverged or left
    the plot from some start, light grey ones never reached the tolerance. An invisible marker
    on every cell makes it selectable (the page turns the picked cell into a link)."""
    spec = OPTIMIZERS[result.key]
    found = result.outcomes
    values, has_value = metric_values(found, metric)
    values, has_value = values[0], has_value[0]  # (ny, nx)
    ny, nx = values.shape
    hp_x, hp_y = (spec.hp(name) for name in result.names)
    rows, cols = np.indices((ny, nx))
    unit = "log10(f − f*) = %{z:.2f}" if metric == "gap" else "%{z:.0f} steps"
    labels = [
        f"{hp_x.plain_symbol} = {result.x[j]:.4g}, {hp_y.plain_symbol} = {result.y[i]:.4g}"
        for i, j in zip(rows.ravel(), cols.ravel(), strict=True)
    ]
    traces = [
        _neutral_layer(found, 0, has_value, {}),
        {
            "type": "heatmap",
            "z": _holes(values, has_value),
            "colorscale": SCALE,
            "colorbar": _colorbar(metric, values[has_value] if has_value.any() else None),
            "customdata": np.array(labels, dtype=object).reshape(ny, nx).tolist(),
            "hovertemplate": f"%{{customdata}}<br>{unit}<extra></extra>",
            "name": METRICS[metric],
        },
        {
            "type": "scatter",
            "x": cols.ravel().astype(np.int32),
            "y": rows.ravel().astype(np.int32),
            "mode": "markers",
            "marker": {"symbol": "square", "size": max(4, 360 // max(nx, ny)), "opacity": 0.0},
            "selected": {"marker": {"opacity": 1.0, "color": "rgba(255,255,255,0.6)"}},
            "unselected": {"marker": {"opacity": 0.0}},
            "customdata": labels,
            "hovertemplate": "%{customdata}<br>click to open in the explorer<extra></extra>",
            "name": "cells",
            "showlegend": False,
        },
    ]
    replicas = found.gap.shape[1]
    title = (
        f"{spec.label}: {METRICS[metric].replace('tol', f'{found.tol:g}')} over "
        f"{hp_x.plain_symbol} × {hp_y.plain_symbol} ({nx} × {ny}, {replicas} starts each)"
    )
    layout = base_layout(title, legend_rows=0, height=520)
    layout["xaxis"] = _grid_axis(result.x, hp_x.widget_label)
    layout["yaxis"] = _grid_axis(result.y, hp_y.widget_label)
    layout["clickmode"] = "event+select"
    layout["dragmode"] = False
    layout["plot_bgcolor"] = "white"
    layout["showlegend"] = False
    return go.Figure(traces, layout)


def map_cell(result: HyperMap, point_index: int) -> tuple[int, int]:
    """The (row, column) of the cell behind the selectable marker ``point_index``."""
    nx = len(result.x)
    return point_index // nx, point_index % nx


# --- basins --------------------------------------------------------------------------------


def basin_colors(count: int) -> list[str]:
    """A colour per minimum, the palette repeating past its length (Rastrigin has dozens)."""
    return [BASIN_COLORS[i % len(BASIN_COLORS)] for i in range(count)]


def basins_figure(result: Basins) -> go.Figure:
    """Small multiples, one panel per optimizer, of where each start's path ends: the colour of
    its minimum (gold stars) when paths end in several, else its steps to tolerance; diverged
    dark grey, left the plot mid grey, still moving (or stuck off every minimum) light grey."""
    K = len(result.keys)
    cols = min(K, BASIN_PANELS_PER_ROW)
    rows = math.ceil(K / cols)
    titles = [OPTIMIZERS[key].label for key in result.keys]
    layout = base_layout(
        "Basins: which minimum each start ends in"
        if result.several
        else f"Steps from each start to f − f* ≤ {result.outcomes.tol:g}",
        legend_rows=2 if result.several else 0,
        height=60 + 300 * rows,
    )
    layout |= subplots_layout(rows, cols, titles, horizontal_spacing=0.03, vertical_spacing=0.08)
    n = len(result.minima)
    colors = basin_colors(n)
    codes = {DIVERGED: FAILED_GREY, LEFT: LEFT_GREY, MOVING: UNREACHED_GREY}
    offset = -min(codes)  # z = label + offset: the codes first, lowest first, then the minima
    palette = [*(codes[code] for code in sorted(codes)), *colors]
    scale = [
        [edge, color]
        for i, color in enumerate(palette)
        for edge in (i / len(palette), (i + 1) / len(palette))
    ]
    names = [f"({x:.3g}, {y:.3g})" for x, y in result.minima]
    what = {DIVERGED: "diverged", LEFT: "left the plot", MOVING: "still moving"}
    traces: list[dict] = []
    for k in range(K):
        axes = panel_axes(k)
        labels = result.labels[k]
        text = np.vectorize(lambda label: what.get(label) or f"ends in {names[label]}")(labels)
        if result.several:
            z, keep = labels + offset, np.ones(labels.shape, dtype=bool)
            colour = {"zmin": -0.5, "zmax": len(palette) - 0.5, "colorscale": scale}
            colour["showscale"] = False
        else:
            steps = result.outcomes.steps[k, 0]
            keep = steps >= 0
            z = steps
            colour = {"colorscale": SCALE, "showscale": k == 0, "colorbar": _colorbar("steps")}
            text = np.where(keep, text, np.where(labels < 0, text, "never within tol"))
            base = np.where(labels == DIVERGED, 1.0, np.where(labels == LEFT, 0.5, 0.0))
            traces.append(
                {
                    "type": "heatmap",
                    **axes,
                    "x": f32(result.x),
                    "y": f32(result.y),
                    "z": _holes(base, ~keep),
                    "zmin": 0.0,
                    "zmax": 1.0,
                    "colorscale": [[0.0, UNREACHED_GREY], [0.5, LEFT_GREY], [1.0, FAILED_GREY]],
                    "showscale": False,
                    "text": text.tolist(),
                    "hovertemplate": "%{text}<extra></extra>",
                }
            )
        traces.append(
            {
                "type": "heatmap",
                **axes,
                "x": f32(result.x),
                "y": f32(result.y),
                "z": _holes(z.astype(np.float64), keep),
                **colour,
                "text": text.tolist(),
                "hovertemplate": "start (%{x:.2f}, %{y:.2f}): %{text}"
                + ("" if result.several else "<br>%{z} steps")
                + "<extra></extra>",
                "name": titles[k],
            }
        )
        if n:
            minima = np.array(result.minima)
            traces.append(
                {
                    **minima_markers(minima, 9, 1),
                    **axes,
                    "hoverinfo": "skip",
                    "showlegend": False,
                }
            )
    if result.several:  # a legend: the first minima and the greys
        shown = [(names[i], colors[i]) for i in range(min(n, len(BASIN_COLORS)))]
        shown += [(what[code], color) for code, color in codes.items()]
        for name, color in shown:
            traces.append(
                {
                    "type": "scatter",
                    "x": [None],
                    "y": [None],
                    "mode": "markers",
                    "marker": {"symbol": "square", "size": 12, "color": color},
                    "name": name,
                }
            )
    for k in range(K):
        x_key, y_key = (f"{axis}axis{k + 1 if k else ''}" for axis in "xy")
        layout[x_key] |= {"constrain": "domain", "showgrid": False, "automargin": True}
        layout[y_key] |= {
            "scaleanchor": x_key.replace("axis", ""),
            "constrain": "domain",
            "showgrid": False,
            "automargin": True,
        }
    return go.Figure(traces, layout)


# --- tune all ------------------------------------------------------------------------------


def tuning_rows(tuned: list[Tuned]) -> list[dict[str, object]]:
    """The ranked table: optimizer, its best configuration, score, robustness."""
    rows = []
    for rank, t in enumerate(tuned, start=1):
        spec = OPTIMIZERS[t.key]
        best = t.configs[t.best] if t.best >= 0 else None
        rows.append(
            {
                "rank": rank,
                "optimizer": spec.label,
                "best configuration": ", ".join(
                    f"{spec.hp(name).plain_symbol} = {value:g}" for name, value in best.items()
                )
                if best
                else "every configuration diverged or left the plot",
                "score (mean log10(f − f*))": round(float(t.scores[t.best]), 2) if best else None,
                f"robustness (share within {WITHIN:g}× of best)": f"{t.robustness:.0%}",
                "configurations": len(t.configs),
            }
        )
    return rows
