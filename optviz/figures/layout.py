"""Layout policy shared by every builder: bands from the top, subplot grids, reference lines.

Figures are assembled as plain dicts and validated by plotly once (``go.Figure(data, layout)``):
plotly's incremental calls (``add_trace``, ``update_layout`` …) cost several times as much each
(``benchmarks/bench_explorer.py`` prints what a figure costs to build).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optviz.figures.transport import f32

OUTLINE = "#1F2430"
FIGURE_HEIGHT = 600
TITLE_BAND, TITLE_LINE, LEGEND_ROW = 44, 20, 22  # px: the top bands of a figure (base_layout)
REFERENCE_LINE = "#555555"


def new_figure(*data: object) -> go.Figure:
    """A new figure with no template.

    Streamlit draws charts in its own theme, so a template would be thrown away in the app, and
    copying plotly's default template into every figure took half of a figure's build time. A
    figure saved outside the app gets a template then (``fig.update_layout(template=…)``).
    """
    return go.Figure(list(data), layout={"template": "none"})


def base_layout(title: str | None, legend_rows: int = 1, **overrides: object) -> dict[str, object]:
    """The layout every builder shares; ``overrides`` replace any of these defaults.

    From the top down: the title (each ``<br>`` a line more), the horizontal legend with room
    for ``legend_rows`` rows, then the plot. Fixed bands, so a legend that wraps in a narrow
    column never runs into the title or the panels' titles.
    """
    height = overrides.get("height", FIGURE_HEIGHT)
    band = TITLE_BAND + TITLE_LINE * title.count("<br>") if title else 0
    top = {"yref": "container", "yanchor": "top"}
    layout: dict[str, object] = {
        "template": "none",  # see new_figure
        "title": {"text": title, "y": 1.0, "pad": {"t": 14}} | top if title else None,
        "height": height,
        "margin": {"l": 10, "r": 10, "t": band + LEGEND_ROW * legend_rows + 12, "b": 10},
        "legend": {"orientation": "h", "y": 1.0 - band / height, "x": 0.0} | top,
    }
    return layout | overrides


def message(text: str) -> dict[str, object]:
    """Layout that shows ``text`` in place of a plot (merge it into the layout)."""
    note = {"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
    return {
        "annotations": [note | {"font": {"size": 16}}],
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
    }


def diverged_trace(x: float, y: float, color: str, name: str, note: str) -> dict:
    """The × that ends a diverged curve, with the note on hover."""
    return {
        "type": "scatter",
        "x": f32([x]),
        "y": f32([y]),
        "mode": "markers",
        "marker": {"symbol": "x", "size": 11, "color": color, "line": {"width": 1}},
        "name": note,
        "legendgroup": name,
        "showlegend": False,
        "hovertemplate": f"{note}<extra></extra>",
    }


def log_axis(values: Sequence[np.ndarray], most: int = 6) -> dict[str, object]:
    """A log axis labelled at powers of ten only (never 2 and 5 between them), at most ``most``
    labels over the decades ``values`` span; Plotly's own ticks for less than one decade."""
    axis: dict[str, object] = {"type": "log", "exponentformat": "power"}
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values] or [[]])
    flat = flat[np.isfinite(flat) & (flat > 0)]
    if flat.size:
        decades = math.log10(flat.max()) - math.log10(flat.min())
        if decades >= 1:
            axis["dtick"] = max(1, math.ceil(decades / most))
    return axis


def positive_for_log(values: np.ndarray, floor: float) -> np.ndarray:
    """Values for a log axis: negative rounding noise and exact zeros are lifted to ``floor``."""
    return np.maximum(values, 0.0) + floor


# ------------------------------------------------------------------------------------ the race


def subplots_layout(rows: int, cols: int, titles: Sequence[str], **grid: object) -> dict:
    """``make_subplots``' layout (axes and their domains, ``grid`` its options) with ``titles``
    over the panels, row by row. The grid is cached: ``make_subplots`` builds a whole figure
    on every call, which costs more than the rest of a small figure."""
    layout = copy.deepcopy(_subplots_grid(rows, cols, tuple(sorted(grid.items()))))
    layout["annotations"] = []
    for panel, title in enumerate(titles):
        x_key, y_key = axis_keys(panel)
        x_domain, y_domain = layout[x_key]["domain"], layout[y_key]["domain"]
        layout["annotations"].append(
            {
                "text": title,
                "x": (x_domain[0] + x_domain[1]) / 2,
                "y": y_domain[1],
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 16},
            }
        )
    return layout


@functools.lru_cache(maxsize=32)
def _subplots_grid(rows: int, cols: int, grid: tuple[tuple[str, object], ...]) -> dict:
    return make_subplots(
        figure=new_figure(), rows=rows, cols=cols, **dict(grid)
    ).layout.to_plotly_json()


def axis_keys(panel: int) -> tuple[str, str]:
    """The layout keys of subplot ``panel``'s axes (counted row by row from 0): "xaxis",
    "yaxis" for the first, "xaxis2", "yaxis2" for the second …"""
    suffix = str(panel + 1) if panel else ""
    return f"xaxis{suffix}", f"yaxis{suffix}"


def panel_axes(panel: int) -> dict[str, str]:
    """A trace's references to subplot ``panel``'s axes ("x", "y"; "x2", "y2" …)."""
    x_key, y_key = axis_keys(panel)
    return {"xaxis": x_key.replace("axis", ""), "yaxis": y_key.replace("axis", "")}


def panel_refs(panel: int) -> dict[str, str]:
    """The same for an annotation or an image."""
    axes = panel_axes(panel)
    return {"xref": axes["xaxis"], "yref": axes["yaxis"]}


def hline(x: Sequence[float], value: float, name: str, dash: str) -> go.Scatter:
    """A grey reference line at ``value`` over ``x = [first, last]``."""
    return go.Scatter(
        x=f32(x),
        y=f32([value, value]),
        mode="lines",
        line={"color": REFERENCE_LINE, "width": 1.5, "dash": dash},
        name=name,
        hovertemplate=f"{name}<extra></extra>",
    )


def format_f(value: float) -> str:
    """A tick label: "0.01", "1000", or "10<sup>6</sup>" instead of "1e+06"."""
    text = f"{value:.3g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10<sup>{int(exponent)}</sup>"
    return power if mantissa == "1" else f"{mantissa}×{power}"
