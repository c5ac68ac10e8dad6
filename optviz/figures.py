"""Pure Plotly builders for the explorer page: a ``Trajectories`` in, a ``go.Figure`` out.

They never import Streamlit, call ``.show()`` or write files (STYLE §8), so tests inspect the
figures directly. Every builder draws start index ``b = 0`` (the page races from one start point),
takes each optimizer's colour from ``OPTIMIZERS`` and sends no NaN or inf to the browser.

The race figure is the one that has to be light to ship: its animation runs client-side, and
Plotly has no "draw only the first n points" switch, so every frame carries each path up to its
step (never subsampled: the zig-zag of SGD and momentum is the lesson). The payload therefore
grows as frames × steps. Frames carry only the path and head traces; coordinates go out as
float32 typed arrays (base64: 10.7 bytes a point, ≈ 15 once ``to_json`` has escaped every "/"),
and ``_frame_steps`` lowers the number of frames so the frames stay within
``FRAME_BYTES_BUDGET``. Measured on Rosenbrock (``len(fig.to_json())``): 4 optimizers × 300 steps
0.80 MB in 66 frames, 4 × 500 0.82 MB in 42 frames.

Playback uses ``redraw: False`` (only the scatter traces move), and plotly.js then drops every
non-scatter layer, the contour included, until the next full redraw. So the contour is also laid
under the plot as a PNG (``_backdrop``, same levels and colours), which a transition never
touches: the surface stays in view while the paths race.
"""

from __future__ import annotations

import base64
import copy
import functools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from optviz.optim import OPTIMIZERS
from optviz.surfaces import MAX_GRID, Surface
from optviz.trajectories import Trajectories, simulate

# Grey-blue (low f) to near white (high f): the surface stays readable as a backdrop while the
# saturated registry colours of the paths stand out on every part of it.
CONTOUR_COLORSCALE = [
    [0.0, "#7f9bb8"],
    [0.2, "#a6bcd1"],
    [0.45, "#cbd8e4"],
    [0.7, "#e4eaf0"],
    [1.0, "#f8f8f6"],
]
CONTOUR_LINE_RGB = (60, 72, 90)
CONTOUR_LINE = "rgba({}, {}, {}, 0.28)".format(*CONTOUR_LINE_RGB)
CONTOUR_LINE_ALPHA = 0.2  # on the raster backdrop, where a full pixel line reads darker
BACKDROP_OVERSAMPLING = 3  # the raster backdrop has 3× the contour's samples per axis: crisp
MINIMUM_COLOR = "#FFD23F"  # gold star: visible on the light contour, distinct from every path
OUTLINE = "#1F2430"
FIGURE_HEIGHT = 600
TITLE_BAND, TITLE_LINE, LEGEND_ROW = 44, 20, 22  # px: the top bands of a figure (_base_layout)
DASHES = ("solid", "dash", "dot", "dashdot")  # runs of the same optimizer share its colour

# Frames carry each path in full up to their step, so their size grows as frames × steps; this
# caps their JSON. With the contour (≈ 0.1 MB at grid 120) and the layout, every race with one
# panel then stays under ≈ 0.8 MB, the default view (4 optimizers × 300 steps) included. The
# price is fewer frames for long races (42 for 4 × 500): a frame then advances ~12 steps, but
# still shows every step of the path behind it.
FRAME_BYTES_BUDGET = 650_000
FRAME_TRACE_BYTES = 100  # JSON around each trace of a frame: type, dtype, base64 padding …
PLAY_SECONDS = 6.0  # one full playback, whatever the number of frames
CONTOUR_LEVELS = 24
MAX_COLUMNS = 4  # side-by-side panels per row
NO_MINIMUM_MESSAGE = "this surface has no minimum to measure distance to"

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Hyperparameter symbols of the registry (LaTeX) as plain Unicode for legends and titles.
_UNICODE = {
    r"\alpha": "α",
    r"\beta_1": "β1",
    r"\beta_2": "β2",
    r"\epsilon": "ε",
    r"\rho": "ρ",
    r"\mu": "μ",
}
# What each state symbol of ``Trajectories.moments`` is, for the moments figure's row titles.
_QUANTITIES = {
    "g": "gradient",
    "m̂": "bias-corrected first moment",
    "v̂": "bias-corrected second moment",
    "m": "first moment (mean of g)",
    "v": "second moment (mean of g²)",
    "b": "momentum buffer",
    "G": "sum of g²",
    "ḡ": "mean of g",
}
_U_QUANTITY = {"adadelta": "mean of Δ²", "adamax": "exponentially weighted ∞-norm of g"}
# Squared or absolute magnitudes: always ≥ 0 and spanning decades, so their rows use a log axis.
_POSITIVE_QUANTITIES = {"v̂", "v", "G", "u"}


# ------------------------------------------------------------------------------ shared helpers


def _typed(values: np.ndarray) -> dict[str, str]:
    """An array in plotly's base64 typed-array form (float32), which plotly passes through.

    For the frames' paths: given as numpy arrays, plotly copies and inspects each of the
    hundreds of frame arrays on its way to JSON, most of a rerun's time. Values that are float32
    already are taken as they are (``_f32`` made them so).
    """
    array = values if values.dtype == np.float32 else _f32(values)
    return {"dtype": "f4", "bdata": base64.b64encode(array.tobytes()).decode("ascii")}


def _f32(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """As float32 for the browser, clipped to float32's range so a large finite value never
    becomes inf (and any stray non-finite value becomes a finite one)."""
    array = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    return np.clip(array, -_FLOAT32_MAX, _FLOAT32_MAX).astype(np.float32)


def _color(result: Trajectories, k: int) -> str:
    return OPTIMIZERS[result.runs[k][0]].color


def _twin_index(result: Trajectories, k: int) -> int:
    """How many earlier runs use the same optimizer (0 for the first), to pick a dash."""
    key = result.runs[k][0]
    return sum(other == key for other, _ in result.runs[:k])


def _dash(result: Trajectories, k: int) -> str:
    return DASHES[_twin_index(result, k) % len(DASHES)]


def _first(value: object) -> object:
    """A hyperparameter's value for start b = 0 (a sweep gives one value per start)."""
    if isinstance(value, bool | str):
        return value
    return np.asarray(value).reshape(-1)[0].item()


def _hparam(result: Trajectories, k: int, name: str) -> float:
    return float(_first(result.hyperparameters(k)[name]))  # type: ignore[arg-type]


def _format_hparam(name: str, symbol: str, value: object) -> str:
    if isinstance(value, bool):
        return f"{name.replace('_', ' ')} {'on' if value else 'off'}"
    return f"{_UNICODE.get(symbol, name)}={value:g}"


def _run_names(result: Trajectories) -> list[str]:
    """Legend names: the optimizer's label, plus the hyperparameters that tell apart runs of the
    same optimizer ("Adam (α=0.01)", "Adam (α=0.1)")."""
    names = []
    for k, (key, _) in enumerate(result.runs):
        spec = OPTIMIZERS[key]
        twins = [j for j, (other, _) in enumerate(result.runs) if other == key]
        if len(twins) == 1:
            names.append(spec.label)
            continue
        values = [{n: _first(v) for n, v in result.hyperparameters(j).items()} for j in twins]
        mine = values[twins.index(k)]
        parts = [
            _format_hparam(hp.name, hp.symbol, mine[hp.name])
            for hp in spec.hyperparams
            if len({repr(v[hp.name]) for v in values}) > 1
        ]
        names.append(f"{spec.label} ({', '.join(parts or [f'run {twins.index(k) + 1}'])})")
    return names


def _last_good(result: Trajectories, k: int) -> int:
    """Index of run k's last valid point: T, or the step before it diverged."""
    step = int(result.diverged_at[k, 0])
    return result.steps if step < 0 else max(step - 1, 0)


def _diverged_phrase(result: Trajectories, k: int) -> str:
    return f"diverged at step {int(result.diverged_at[k, 0])}"


def _divergence_note(result: Trajectories, k: int, name: str) -> str | None:
    """``Trajectories.divergence_note`` with the run's legend name in place of the bare label."""
    note = result.divergence_note(k)
    label = OPTIMIZERS[result.runs[k][0]].label
    return None if note is None else note.replace(label, name, 1)


def _format_f(value: float) -> str:
    """A tick label: "0.01", "1000", or "10<sup>6</sup>" instead of "1e+06"."""
    text = f"{value:.3g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10<sup>{int(exponent)}</sup>"
    return power if mantissa == "1" else f"{mantissa}×{power}"


@dataclass(frozen=True)
class _ZScale:
    """How f becomes the plotted z: identity, or z = log10(f − f* + δ) for log-scale surfaces.

    δ = 10⁻⁶ of the surface's span sets the floor, so z stays finite where f = f* while the
    plot still shows six decades of the valley; colourbar ticks are placed at round values of
    f − f* and labelled with the real f.
    """

    f_min: float | None = None
    delta: float = 1.0

    @classmethod
    def for_surface(cls, surface: Surface, Z: np.ndarray) -> _ZScale:
        if not (surface.log_scale and surface.f_min is not None):
            return cls()
        span = float(np.max(Z)) - surface.f_min
        return cls(surface.f_min, span * 1e-6 if span > 0 else 1.0)

    @property
    def log(self) -> bool:
        return self.f_min is not None

    def __call__(self, f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        if self.f_min is None:
            return f
        # max(…, 0): the grid or rounding can dip a hair below f*.
        return np.log10(np.maximum(f - self.f_min, 0.0) + self.delta)

    def colorbar(self, z_min: float, z_max: float) -> dict:
        if self.f_min is None:
            return {"title": {"text": "f"}}
        decades = [
            d
            for d in range(math.floor(z_min), math.ceil(z_max) + 1)
            if z_min <= math.log10(10.0**d + self.delta) <= z_max
        ]
        decades = decades[:: max(1, math.ceil(len(decades) / 7))]  # ≤ 7 labels
        return {
            "title": {"text": "f"},
            "tickvals": [math.log10(10.0**d + self.delta) for d in decades],
            "ticktext": [_format_f(self.f_min + 10.0**d) for d in decades],
        }


def _json_bytes_per_point(path: np.ndarray) -> float:
    """What one point of ``path`` ``(N, 2)`` costs in the figure's JSON: x and y as float32 in
    base64, where ``to_json`` also escapes each "/" as \\u002f (5 bytes more). "/" is common
    in float32 bytes: the exponent byte of any |v| in [0.5, 2) ends in six 1 bits."""
    total = 0
    for column in _f32(path).T:
        encoded = base64.b64encode(column.tobytes())
        total += len(encoded) + 5 * encoded.count(b"/")
    return total / max(len(path), 1)


def _frame_steps(
    steps: int, frames: int, last_good: Sequence[int], point_bytes: Sequence[float]
) -> np.ndarray:
    """Evenly spaced frame steps over 0 … T, always with 0 and T, at most ``frames`` of them,
    and fewer if the frames' paths (each drawn in full up to its step, run k costing
    ``point_bytes[k]`` a point) would exceed ``FRAME_BYTES_BUDGET``. A diverged run stops at
    ``last_good`` and costs less."""
    chosen = np.array([0])
    for n in range(min(frames, steps + 1), 0, -1):
        chosen = np.unique(np.rint(np.linspace(0, steps, n)).astype(int))
        size = sum(
            cost * (int(np.minimum(chosen, last).sum()) + len(chosen))
            for last, cost in zip(last_good, point_bytes, strict=True)
        )
        size += len(chosen) * 2 * len(last_good) * FRAME_TRACE_BYTES  # path and head traces
        if size <= FRAME_BYTES_BUDGET or len(chosen) <= 2:
            break
    return chosen


def _check_run_index(result: Trajectories, k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < len(result.runs):
        raise ValueError(
            f"run index must be an integer from 0 to {len(result.runs) - 1}, got {k!r}"
        )


def _clamp_to_window(surface: Surface, x: float, y: float) -> tuple[float, float]:
    # An annotation anchored outside the axis range is not drawn; paths may escape the window.
    x_min, x_max, y_min, y_max = surface.bounds
    return float(np.clip(x, x_min, x_max)), float(np.clip(y, y_min, y_max))


def new_figure(*data: object) -> go.Figure:
    """A new figure with no template.

    Streamlit draws charts in its own theme, so a template would be thrown away in the app, and
    copying plotly's default template into every figure took half of a figure's build time. A
    figure saved outside the app gets a template then (``fig.update_layout(template=…)``).
    """
    return go.Figure(list(data), layout={"template": "none"})


def _base_layout(title: str | None, legend_rows: int = 1, **overrides: object) -> dict[str, object]:
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


def _message(text: str) -> dict[str, object]:
    """Layout that shows ``text`` in place of a plot (merge it into the layout)."""
    note = {"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
    return {
        "annotations": [note | {"font": {"size": 16}}],
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
    }


def _colorscale_rgb(positions: np.ndarray) -> np.ndarray:
    """``CONTOUR_COLORSCALE`` at ``positions`` in [0, 1], as RGB floats ``(N, 3)``."""
    stops = np.array([stop for stop, _ in CONTOUR_COLORSCALE])
    colors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in CONTOUR_COLORSCALE])
    return np.stack([np.interp(positions, stops, colors[:, c]) for c in range(3)], axis=-1)


def _png(rgb: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 image as PNG (zlib and struct suffice for RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def _backdrop(z: np.ndarray, z_min: float, z_max: float) -> str:
    """The filled contour as a PNG data URI: the same levels and colours as the contour trace,
    with a darker pixel where the band changes (the contour lines).

    Why a second copy of the contour: during a redraw-free animation, plotly.js replots only
    the trace types that animate (scatter) and removes the layers of all others, so the contour
    trace vanishes on Play (plotly.js #4596); a layout image is not a trace and stays.
    """
    levels = CONTOUR_LEVELS
    band = np.clip(((z - z_min) / max(z_max - z_min, 1e-12) * levels).astype(int), 0, levels - 1)
    rgb = _colorscale_rgb((np.arange(levels) + 0.5) / levels)[band]  # (n, n, 3)
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] += CONTOUR_LINE_ALPHA * (np.array(CONTOUR_LINE_RGB) - rgb[edge])
    image = np.ascontiguousarray(rgb[::-1].round().astype(np.uint8))  # PNG rows run top down
    return "data:image/png;base64," + base64.b64encode(_png(image)).decode("ascii")


def _diverged_trace(x: float, y: float, color: str, name: str, note: str) -> dict:
    """The × that ends a diverged curve, with the note on hover."""
    return {
        "type": "scatter",
        "x": _f32([x]),
        "y": _f32([y]),
        "mode": "markers",
        "marker": {"symbol": "x", "size": 11, "color": color, "line": {"width": 1}},
        "name": note,
        "legendgroup": name,
        "showlegend": False,
        "hovertemplate": f"{note}<extra></extra>",
    }


def _positive_for_log(values: np.ndarray, floor: float) -> np.ndarray:
    """Values for a log axis: negative rounding noise and exact zeros are lifted to ``floor``."""
    return np.maximum(values, 0.0) + floor


# ------------------------------------------------------------------------------------ the race


def race_figure(
    result: Trajectories, *, frames: int = 100, side_by_side: bool = False, grid: int = 120
) -> go.Figure:
    """The optimizers' paths on the surface's contour, animated client-side.

    The initial data is the final state (complete paths), so the figure is informative before
    Play is pressed; the slider's last position matches it. Each frame updates only the path
    and head traces (named by ``traces``), so the contour is sent once.

    Args:
        result: what ``simulate`` returned; start b = 0 is drawn.
        frames: at most this many animation frames, evenly spaced over steps 0 … T (always
            including both); fewer when a long race would exceed the payload budget.
        side_by_side: one panel per run (up to 4 per row, shared axes) instead of one overlay;
            one slider drives every panel.
        grid: contour resolution (grid × grid samples); side-by-side panels use proportionally
            fewer, since they are smaller.

    Raises:
        ValueError: ``frames`` < 2 or an invalid ``grid``.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer of at least 2, got {frames!r}")
    surface, K = result.surface, len(result.runs)
    last = [_last_good(result, k) for k in range(K)]

    # The figure is assembled as plain dicts and validated by plotly once, at the end: plotly's
    # incremental calls (add_trace, update_layout …) cost several times as much each.
    if side_by_side:
        columns = min(MAX_COLUMNS, K)
        rows = math.ceil(K / columns)
        layout = _subplots_layout(
            rows,
            columns,
            _run_names(result),
            shared_xaxes="all",
            shared_yaxes="all",
            horizontal_spacing=0.03,
            vertical_spacing=0.08 if rows > 1 else 0.0,
        )
        # K contours are sent, not one; fewer samples in smaller panels keep the bytes the same.
        grid = max(40, round(grid / math.sqrt(K)))
        panel_of_run = list(range(K))
        height = max(FIGURE_HEIGHT, 110 + 300 * rows)
    else:
        layout = {"xaxis": {}, "yaxis": {}}
        panel_of_run = [0] * K
        height = FIGURE_HEIGHT

    surface_traces, images, scale, z_min, z_max = _surface_traces(
        result, grid, max(panel_of_run) + 1
    )
    path_traces, head_traces, notes = _run_traces(result, panel_of_run)
    first_path = len(surface_traces)
    animated = list(range(first_path, first_path + 2 * K))  # the paths, then the heads

    xy = [_f32(result.paths[k, 0, : last[k] + 1]) for k in range(K)]  # (n, 2) each, as sent
    point_bytes = [_json_bytes_per_point(points) for points in xy]
    steps = _frame_steps(result.steps, frames, last, point_bytes)
    frame_list = [
        {
            "name": str(step),
            "traces": animated,
            "data": [_path_frame(xy[k], step) for k in range(K)]
            + [_head_frame(result, k, xy[k], step, last[k]) for k in range(K)],
        }
        for step in steps
    ]

    x_min, x_max, y_min, y_max = surface.bounds
    layout |= _base_layout(
        None,
        height=height,
        margin={"l": 10, "r": 10, "t": 70 if side_by_side else 40, "b": 80},
        # At the top of the figure, clear of the panels' titles.
        legend={"orientation": "h", "yref": "container", "y": 1.0, "yanchor": "top", "x": 0.0},
        # Zoom survives reruns (slider moves) on the same surface, and resets on a new one.
        uirevision=f"race|{surface.key}|{surface.label}|{surface.bounds}",
        coloraxis={
            "colorscale": CONTOUR_COLORSCALE,
            "cmin": z_min,
            "cmax": z_max,
            "colorbar": {"thickness": 12, "len": 0.9, **scale.colorbar(z_min, z_max)},
        },
        annotations=[*layout.get("annotations", ()), *notes],
        images=images,
        **_animation_controls(steps),
    )
    # Fixed to the surface window (paths that leave it are clipped by the view, not the data).
    # Equal scale on both axes: steps cross contour lines at right angles only then, and the
    # shape of a valley is the point of the picture; the plot area shrinks to keep it.
    for name in [name for name in layout if name.startswith(("xaxis", "yaxis"))]:
        axis = layout[name] | {"constrain": "domain", "showgrid": False, "zeroline": False}
        if name.startswith("xaxis"):
            axis["range"] = [x_min, x_max]
        else:
            axis |= {"range": [y_min, y_max], "scaleanchor": axis.get("anchor", "x")}
            axis["scaleratio"] = 1
        layout[name] = axis
    return go.Figure(
        data=surface_traces + path_traces + head_traces, layout=layout, frames=frame_list
    )


def _subplots_layout(rows: int, cols: int, titles: Sequence[str], **grid: object) -> dict:
    """``make_subplots``' layout (axes and their domains, ``grid`` its options) with ``titles``
    over the panels, row by row. The grid is cached: make_subplots takes ~40 ms a call."""
    layout = copy.deepcopy(_subplots_grid(rows, cols, tuple(sorted(grid.items()))))
    layout["annotations"] = []
    for panel, title in enumerate(titles):
        x_key, y_key = _axis_keys(panel)
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


def _axis_keys(panel: int) -> tuple[str, str]:
    """The layout keys of subplot ``panel``'s axes (counted row by row from 0): "xaxis",
    "yaxis" for the first, "xaxis2", "yaxis2" for the second …"""
    suffix = str(panel + 1) if panel else ""
    return f"xaxis{suffix}", f"yaxis{suffix}"


def _axes(panel: int) -> dict[str, str]:
    """A trace's references to subplot ``panel``'s axes ("x", "y"; "x2", "y2" …)."""
    x_key, y_key = _axis_keys(panel)
    return {"xaxis": x_key.replace("axis", ""), "yaxis": y_key.replace("axis", "")}


def _refs(panel: int) -> dict[str, str]:
    """The same for an annotation or an image."""
    axes = _axes(panel)
    return {"xref": axes["xaxis"], "yref": axes["yaxis"]}


@functools.lru_cache(maxsize=32)
def _surface_layers(
    surface: Surface, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _ZScale, str]:
    """The surface's sampled contour (xs, ys, scaled z), its z scale and its PNG backdrop.

    They depend on the surface alone, so a slider move (a new race, the same surface) reuses
    them: sampling 9·grid² points and encoding the PNG was a tenth of a rerun.
    """
    xs, ys, Z = surface.grid(grid)
    scale = _ZScale.for_surface(surface, Z)
    z = scale(Z)  # (n, n)
    fine = surface.grid(min(BACKDROP_OVERSAMPLING * grid, MAX_GRID))[2]  # (3n, 3n)
    return xs, ys, z, scale, _backdrop(scale(fine), float(z.min()), float(z.max()))


def _surface_traces(
    result: Trajectories, grid: int, panels: int
) -> tuple[list[dict], list[dict], _ZScale, float, float]:
    """Contour, minima and start in each of ``panels`` panels, and the raster backdrops under
    them; returns the traces, the images, the z scale and the z range."""
    surface = result.surface
    x_min, x_max, y_min, y_max = surface.bounds
    xs, ys, z, scale, backdrop = _surface_layers(surface, grid)
    z_min, z_max = float(z.min()), float(z.max())
    start = result.paths[0, 0, 0]  # (2,) every run starts here
    minima = np.asarray(surface.minima, dtype=np.float64).reshape(-1, 2)  # (M, 2)

    traces, images = [], []
    for p in range(panels):
        traces.append(
            {
                "type": "contour",
                "x": _f32(xs),
                "y": _f32(ys),
                "z": _f32(z),
                "coloraxis": "coloraxis",
                "autocontour": False,
                "contours": {
                    "start": z_min,
                    "end": z_max,
                    "size": max((z_max - z_min) / CONTOUR_LEVELS, 1e-12),
                    "coloring": "fill",
                },
                "line": {"color": CONTOUR_LINE, "width": 0.6},
                "name": surface.label,
                "hovertemplate": (
                    "x=%{x:.3f}, y=%{y:.3f}<br>"
                    + ("log₁₀(f − f*) = %{z:.2f}" if scale.log else "f = %{z:.4g}")
                    + "<extra></extra>"
                ),
                **_axes(p),
            }
        )
        images.append(
            {
                "source": backdrop,
                "x": x_min,
                "y": y_max,
                "sizex": x_max - x_min,
                "sizey": y_max - y_min,
                "xanchor": "left",
                "yanchor": "top",
                "sizing": "stretch",
                "layer": "below",
                **_refs(p),
            }
        )
        if len(minima):
            traces.append(
                {
                    "type": "scatter",
                    "x": _f32(minima[:, 0]),
                    "y": _f32(minima[:, 1]),
                    "mode": "markers",
                    "marker": {
                        "symbol": "star",
                        "size": 17,
                        "color": MINIMUM_COLOR,
                        "line": {"color": OUTLINE, "width": 1.5},
                    },
                    "name": "global minimum",
                    "legendgroup": "minimum",
                    "showlegend": p == 0,
                    "hovertext": [f"global minimum ({mx:.4g}, {my:.4g})" for mx, my in minima],
                    "hovertemplate": "%{hovertext}<extra></extra>",
                    **_axes(p),
                }
            )
        traces.append(
            {
                "type": "scatter",
                "x": _f32(start[:1]),
                "y": _f32(start[1:]),
                "mode": "markers",
                "marker": {
                    "symbol": "square",
                    "size": 10,
                    "color": "white",
                    "line": {"color": OUTLINE, "width": 2},
                },
                "name": "start",
                "legendgroup": "start",
                "showlegend": p == 0,
                "hovertemplate": f"start ({start[0]:.4g}, {start[1]:.4g})<extra></extra>",
                **_axes(p),
            }
        )
    return traces, images, scale, z_min, z_max


def _run_traces(
    result: Trajectories, panel_of_run: Sequence[int]
) -> tuple[list[dict], list[dict], list[dict]]:
    """Each run's complete path and its head (drawn after every path, so heads sit on top), in
    the run's panel, and a note on each diverged run. Returns paths, heads and notes."""
    names = _run_names(result)
    x_min, x_max, y_min, y_max = result.surface.bounds
    paths, heads, notes = [], [], []
    for k, panel in enumerate(panel_of_run):
        last = _last_good(result, k)
        path = result.paths[k, 0, : last + 1]  # (last + 1, 2)
        end = path[-1]  # (2,)
        note = _divergence_note(result, k, names[k])
        name = names[k] if note is None else f"{names[k]}, {_diverged_phrase(result, k)}"
        paths.append(
            {
                "type": "scatter",
                "x": _f32(path[:, 0]),
                "y": _f32(path[:, 1]),
                # Hover indices match in every frame: a frame's path is a prefix of this one.
                "customdata": _f32(result.losses[k, 0, : last + 1]),
                "mode": "lines+markers",
                "line": {"color": _color(result, k), "width": 2, "dash": _dash(result, k)},
                "marker": {"size": 3, "color": _color(result, k)},
                "name": name,
                "legendgroup": names[k],
                "hovertemplate": (
                    f"{names[k]}<br>step %{{pointNumber}}<br>"
                    "x=%{x:.4g}, y=%{y:.4g}<br>f=%{customdata:.4g}<extra></extra>"
                ),
                **_axes(panel),
            }
        )
        heads.append(
            {
                "type": "scatter",
                "x": _f32(end[:1]).tolist(),
                "y": _f32(end[1:]).tolist(),
                "mode": "markers",
                "marker": _head_marker(result, k, diverged=note is not None),
                "name": names[k],
                "legendgroup": names[k],
                "showlegend": False,
                "hovertemplate": f"{note or names[k]}<br>x=%{{x:.4g}}, y=%{{y:.4g}}<extra></extra>",
                **_axes(panel),
            }
        )
        if note is not None:
            ax, ay = _clamp_to_window(result.surface, end[0], end[1])
            notes.append(
                {
                    "x": ax,
                    "y": ay,
                    "text": note,
                    "font": {"color": _color(result, k), "size": 12},
                    "bgcolor": "rgba(255, 255, 255, 0.85)",
                    "arrowcolor": _color(result, k),
                    "showarrow": True,
                    # The label sits towards the window's centre, so it stays inside the plot.
                    "ax": -40 if ax > (x_min + x_max) / 2 else 40,
                    "ay": 30 if ay > (y_min + y_max) / 2 else -30,
                    **_refs(panel),
                }
            )
    return paths, heads, notes


def _animation_controls(steps: np.ndarray) -> dict[str, list[dict]]:
    """Play / Pause buttons and a step slider animating the frames named by ``steps``.

    ``redraw: False`` keeps playback to the path updates; the contour trace vanishes while it
    runs (see ``_backdrop``), and the raster backdrop shows the surface meanwhile.
    """
    frame_ms = int(np.clip(1000 * PLAY_SECONDS / len(steps), 20, 300))
    still = {
        "frame": {"duration": 0, "redraw": False},
        "mode": "immediate",
        "transition": {"duration": 0},
    }
    play = {
        "frame": {"duration": frame_ms, "redraw": False},
        "fromcurrent": True,
        "mode": "immediate",
        "transition": {"duration": 0},
    }
    buttons = {
        "type": "buttons",
        "direction": "left",
        "showactive": False,
        "x": 0.0,
        "y": 0.0,
        "xanchor": "left",
        "yanchor": "top",
        "pad": {"t": 45, "r": 10},
        "buttons": [
            {"label": "▶ Play", "method": "animate", "args": [None, play]},
            {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]},
        ],
    }
    slider = {
        "active": len(steps) - 1,  # the initial data is the last frame
        "x": 0.16,
        "len": 0.84,
        "y": 0.0,
        "yanchor": "top",
        "pad": {"t": 30},
        "currentvalue": {
            "prefix": "step t = ",
            "xanchor": "right",
            "font": {"color": OUTLINE, "size": 13},  # its own colour: the ticks' is transparent
        },
        # One tick label per frame would overlap; the current value shows the step.
        "font": {"color": "rgba(0, 0, 0, 0)"},
        "ticklen": 0,
        "minorticklen": 0,
        "steps": [
            {"label": str(step), "method": "animate", "args": [[str(step)], still]}
            for step in steps
        ],
    }
    return {"updatemenus": [buttons], "sliders": [slider]}


def _head_marker(result: Trajectories, k: int, *, diverged: bool) -> dict:
    return {
        "symbol": "x" if diverged else "circle",
        "size": 13 if diverged else 11,
        "color": _color(result, k),
        "line": {"color": _color(result, k) if diverged else OUTLINE, "width": 1.5},
    }


def _path_frame(xy: np.ndarray, step: int) -> dict:
    """A frame's path: the run's points ``xy`` ``(n, 2)`` (float32, up to its last good one)
    up to ``step``, every step."""
    path = xy[: step + 1]
    return {"type": "scatter", "x": _typed(path[:, 0]), "y": _typed(path[:, 1])}


def _head_frame(result: Trajectories, k: int, xy: np.ndarray, step: int, last: int) -> dict:
    head = xy[min(step, last)]  # (2,) float32
    # One point as a plain list: plotly validates a list of one number several times faster
    # than a numpy array, and the heads are half of all the arrays in the frames.
    frame: dict = {"type": "scatter", "x": [float(head[0])], "y": [float(head[1])]}
    if last < result.steps:
        # A diverging run's head turns into the × once the frame passes its last good point;
        # every frame says which, so scrubbing back turns it into a circle again.
        frame["marker"] = _head_marker(result, k, diverged=step > last)
    return frame


# -------------------------------------------------------------------------------------- 3-D


def surface_3d_figure(result: Trajectories, *, grid: int = 80) -> go.Figure:
    """The surface in 3-D with each run's path lifted onto it (start b = 0).

    z follows the race figure's rule (log10(f − f* + δ) on log-scale surfaces), and the paths'
    z is the same transform of their losses, raised by 1% of the z range so the surface does
    not hide them.
    """
    surface, K = result.surface, len(result.runs)
    names = _run_names(result)
    xs, ys, Z = surface.grid(grid)
    scale = _ZScale.for_surface(surface, Z)
    z = scale(Z)
    z_min, z_max = float(z.min()), float(z.max())
    lift = 0.01 * (z_max - z_min or 1.0)
    x_min, x_max, y_min, y_max = surface.bounds

    traces = [
        go.Surface(
            x=_f32(xs),
            y=_f32(ys),
            z=_f32(z),
            colorscale=CONTOUR_COLORSCALE,
            cmin=z_min,
            cmax=z_max,
            colorbar={"thickness": 12, "len": 0.8, **scale.colorbar(z_min, z_max)},
            opacity=0.95,
            name=surface.label,
            hovertemplate="x=%{x:.3f}, y=%{y:.3f}<br>z=%{z:.3g}<extra></extra>",
        )
    ]
    for k in range(K):
        last = _last_good(result, k)
        path = result.paths[k, 0, : last + 1]  # (last + 1, 2)
        losses = result.losses[k, 0, : last + 1]  # (last + 1,)
        path_z = scale(losses) + lift
        note = _divergence_note(result, k, names[k])
        traces.append(
            go.Scatter3d(
                x=_f32(path[:, 0]),
                y=_f32(path[:, 1]),
                z=_f32(path_z),
                customdata=_f32(losses),
                mode="lines",
                line={"color": _color(result, k), "width": 5, "dash": _dash(result, k)},
                name=names[k],
                legendgroup=names[k],
                hovertemplate=(
                    f"{names[k]}<br>step %{{pointNumber}}<br>f=%{{customdata:.4g}}<extra></extra>"
                ),
            )
        )
        traces.append(
            go.Scatter3d(
                x=_f32(path[-1:, 0]),
                y=_f32(path[-1:, 1]),
                z=_f32(path_z[-1:]),
                mode="markers",
                marker={
                    "symbol": "x" if note else "circle",
                    "size": 6,
                    "color": _color(result, k),
                    "line": {"color": OUTLINE, "width": 1},
                },
                name=note or names[k],
                legendgroup=names[k],
                showlegend=False,
                hovertemplate=f"{note or names[k]}<extra></extra>",
            )
        )
    if surface.minima:
        minima = np.asarray(surface.minima, dtype=np.float64)  # (M, 2)
        with torch.no_grad():
            f_minima = surface.f(torch.as_tensor(minima)).numpy()  # (M,)
        traces.append(
            go.Scatter3d(
                x=_f32(minima[:, 0]),
                y=_f32(minima[:, 1]),
                z=_f32(scale(f_minima) + lift),
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 7,
                    "color": MINIMUM_COLOR,
                    "line": {"color": OUTLINE, "width": 2},
                },
                name="global minimum",
                hovertext=[f"global minimum ({mx:.4g}, {my:.4g})" for mx, my in minima],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    width = max(x_max - x_min, y_max - y_min)
    layout = _base_layout(
        f"{surface.label} in 3-D" + (" (log₁₀ scale)" if scale.log else ""),
        uirevision=f"3d|{surface.key}|{surface.label}|{surface.bounds}",
        scene={
            "xaxis": {"title": {"text": "x"}, "range": [x_min, x_max]},
            "yaxis": {"title": {"text": "y"}, "range": [y_min, y_max]},
            "zaxis": {
                "title": {"text": "log₁₀(f − f* + δ)" if scale.log else "f"},
                "range": [z_min, z_max + 2 * lift],
            },
            "aspectmode": "manual",
            "aspectratio": {"x": (x_max - x_min) / width, "y": (y_max - y_min) / width, "z": 0.6},
        },
    )
    return go.Figure(traces, layout)  # one validation pass: see race_figure


# ---------------------------------------------------------------------------- curves vs step


def _curve_figure(
    result: Trajectories, series: Sequence[np.ndarray], title: str, y_title: str
) -> go.Figure:
    """One log-y line per run against the step, ending in × where the run diverged.

    ``series[k]`` is run k's positive values for steps 0 … T; a diverged run is cut at its last
    good point, since the engine only holds it there afterwards.
    """
    names = _run_names(result)
    traces = []
    for k, values in enumerate(series):
        last = _last_good(result, k)
        traces.append(
            {
                "type": "scatter",
                "x": np.arange(last + 1, dtype=np.int32),
                "y": _f32(values[: last + 1]),
                "mode": "lines",
                "line": {"color": _color(result, k), "width": 2, "dash": _dash(result, k)},
                "name": names[k],
                "legendgroup": names[k],
                "hovertemplate": f"{names[k]}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
            }
        )
        note = _divergence_note(result, k, names[k])
        if note is not None:
            traces.append(_diverged_trace(last, values[last], _color(result, k), names[k], note))
    layout = _base_layout(
        title,
        legend_rows=math.ceil(len(series) / 4),  # four names fit a row of a half-width column
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": y_title}, "type": "log", "exponentformat": "power"},
        hovermode="x unified",
    )
    return go.Figure(traces, layout)  # one validation pass: see race_figure


def loss_figure(result: Trajectories) -> go.Figure:
    """f(θ_t) − f* against the step, log y, one line per run.

    f may be negative (Styblinski–Tang) or unbounded (the saddle), so the gap to the optimum is
    plotted; when f* is unknown, the gap to the lowest value any run reached, which the axis
    title says. A tiny floor keeps runs that hit the optimum exactly on the log axis.
    """
    surface = result.surface
    losses = result.losses[:, 0]  # (K, T + 1)
    drawn = np.concatenate([losses[k, : _last_good(result, k) + 1] for k in range(len(losses))])
    if surface.f_min is not None:
        reference, y_title = surface.f_min, "f(θ_t) − f*"
    else:
        reference, y_title = float(drawn.min()), "f(θ_t) − lowest f reached (f* unknown)"
    floor = 1e-12 * max(1.0, float(np.abs(drawn).max()))
    gaps = [_positive_for_log(losses[k] - reference, floor) for k in range(len(losses))]
    return _curve_figure(result, gaps, f"Loss on {surface.label}", y_title)


def distance_figure(result: Trajectories) -> go.Figure:
    """Distance from θ_t to the nearest global minimum, log y; a note if there is none."""
    surface = result.surface
    title = f"Distance to the minimum on {surface.label}"
    if not surface.minima:
        return go.Figure(layout=_base_layout(title, **_message(NO_MINIMUM_MESSAGE)))
    minima = np.asarray(surface.minima, dtype=np.float64)  # (M, 2)
    paths = result.paths[:, 0]  # (K, T + 1, 2)
    gaps = np.linalg.norm(paths[:, :, None, :] - minima, axis=-1).min(axis=-1)  # (K, T + 1)
    x_min, x_max, y_min, y_max = surface.bounds
    floor = 1e-12 * max(x_max - x_min, y_max - y_min)
    distances = [_positive_for_log(gap, floor) for gap in gaps]
    return _curve_figure(result, distances, title, "‖θ_t − θ*‖ (nearest global minimum)")


# ----------------------------------------------------------------------------- Adam's internals


def _step_bound(lr: float, beta1: float, beta2: float) -> float:
    """Paper §2.1: |Δ_t| ≲ α(1 − β1)/√(1 − β2) when (1 − β1) > √(1 − β2), else α."""
    if (1 - beta1) > math.sqrt(1 - beta2):
        return lr * (1 - beta1) / math.sqrt(1 - beta2)
    return lr


def _hline(x: Sequence[float], value: float, name: str, dash: str) -> go.Scatter:
    """A grey reference line at ``value`` over ``x = [first, last]``."""
    return go.Scatter(
        x=_f32(x),
        y=_f32([value, value]),
        mode="lines",
        line={"color": "#555555", "width": 1.5, "dash": dash},
        name=name,
        hovertemplate=f"{name}<extra></extra>",
    )


def step_size_figure(result: Trajectories, k: int) -> go.Figure:
    """Run k's effective step |Δ_t| per coordinate against α and, for Adam, the §2.1 bound.

    For AdaMax the bound is α itself (Algorithm 2). Log y; steps that are exactly 0 (the run
    stood still) cannot be drawn on it and are left out.
    """
    _check_run_index(result, k)
    key = result.runs[k][0]
    name = _run_names(result)[k]
    last = _last_good(result, k)
    updates = np.abs(result.updates[k, 0, :last])  # (last, 2): Δ_1 … Δ_last
    steps = np.arange(1, last + 1)
    traces, title = [], f"{name}: effective step |Δ_t| per coordinate"
    for axis, (coordinate, dash) in enumerate((("x", "solid"), ("y", "dot"))):
        keep = updates[:, axis] > 0
        traces.append(
            go.Scatter(
                x=steps[keep].astype(np.int32),
                y=_f32(updates[keep, axis]),
                mode="lines",
                line={"color": _color(result, k), "width": 1.8, "dash": dash},
                name=f"|Δ{coordinate}|",
                hovertemplate=f"step %{{x}}: |Δ{coordinate}| = %{{y:.3g}}<extra></extra>",
            )
        )
    span = [1, max(last, 1)]
    lr = _hparam(result, k, "lr")
    if key == "adam":
        beta1, beta2 = _hparam(result, k, "beta1"), _hparam(result, k, "beta2")
        bound = _step_bound(lr, beta1, beta2)
        if bound != lr:
            traces.append(_hline(span, lr, f"α = {lr:g}", "dot"))
            traces.append(_hline(span, bound, f"§2.1 bound α(1−β1)/√(1−β2) = {bound:.3g}", "dash"))
        else:
            traces.append(_hline(span, lr, f"§2.1 bound α = {lr:g}", "dash"))
        if not result.hyperparameters(k)["bias_correction"]:
            title += (
                "<br><span style='font-size:12px;color:#A23B3B'>Bias correction is off: the "
                "bound assumes it; early steps exceed it (§3).</span>"
            )
    elif key == "adamax":
        traces.append(_hline(span, lr, f"AdaMax bound |Δ| ≤ α = {lr:g}", "dash"))
    else:
        traces.append(_hline(span, lr, f"α = {lr:g}", "dot"))
    layout = _base_layout(
        title,
        legend_rows=len(traces),  # long entries: one a row in a half-width column
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": "|Δ_t|"}, "type": "log", "exponentformat": "power"},
    )
    if last == 0:
        layout |= _message("no steps to show")
    return go.Figure(traces, layout)  # one validation pass: see race_figure


def moments_figure(result: Trajectories, k: int) -> go.Figure:
    """Run k's internals over time: g_t and each state of ``result.moments(k)``, per coordinate.

    One row per quantity (shared step axis); x solid, y dotted, in the optimizer's colour.
    Squared or absolute magnitudes (v, v̂, G, u) get a log axis.
    """
    _check_run_index(result, k)
    key = result.runs[k][0]
    name = _run_names(result)[k]
    last = _last_good(result, k)
    quantities = {"g": result.grads[k, 0]} | result.moments(k)  # symbol → (T, 2)
    descriptions = _QUANTITIES | {"u": _U_QUANTITY.get(key, "u")}
    titles = [f"{symbol}_t: {descriptions.get(symbol, symbol)}" for symbol in quantities]
    layout = _subplots_layout(
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
        log = symbol in _POSITIVE_QUANTITIES and bool((values >= 0).all())
        for axis, (coordinate, dash) in enumerate((("x", "solid"), ("y", "dot"))):
            series, shown = values[:, axis], steps
            if log:  # zeros cannot sit on a log axis
                keep = series > 0
                series, shown = series[keep], steps[keep]
            traces.append(
                go.Scatter(
                    x=shown,
                    y=_f32(series),
                    mode="lines",
                    line={"color": _color(result, k), "width": 1.6, "dash": dash},
                    name=f"{coordinate} coordinate",
                    legendgroup=coordinate,
                    showlegend=row == 1,
                    hovertemplate=f"step %{{x}}: {symbol}{coordinate} = %{{y:.3g}}<extra></extra>",
                    **_axes(row - 1),
                )
            )
        layout[_axis_keys(row - 1)[1]] |= {
            "title": {"text": symbol},
            "type": "log" if log else "linear",
            "exponentformat": "power",
        }
    layout[_axis_keys(len(quantities) - 1)[0]] |= {"title": {"text": "step t"}}
    layout |= _base_layout(
        f"{name}: internals over time",
        legend_rows=2,  # the legend's row, and the first panel's title above its plot
        height=max(FIGURE_HEIGHT, 190 * len(quantities) + 120),
        hovermode="x unified",
    )
    return go.Figure(traces, layout)  # one validation pass: see race_figure


def bias_correction_figure(
    surface: str | Surface,
    start: Sequence[float],
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    steps: int = 50,
) -> go.Figure:
    """Paper §3: Adam's first steps with and without bias correction.

    The one builder that computes: it races the two Adam variants itself. Plotted is the
    largest coordinate step max_i |Δ_t,i|. Without correction m and v start biased towards 0,
    and m/√v at t = 1 is (1 − β1)/√(1 − β2) times too large; the closer β2 is to 1, the bigger
    the blow-up. With it, the first step is α.
    """
    runs = [
        ("adam", {"lr": lr, "beta1": beta1, "beta2": beta2, "bias_correction": flag})
        for flag in (True, False)
    ]
    result = simulate(surface, runs, start, steps)
    traces = []
    for k, label in enumerate(("with bias correction", "without bias correction")):
        last = _last_good(result, k)
        step = np.abs(result.updates[k, 0, :last]).max(axis=-1)  # (last,)
        keep = step > 0
        traces.append(
            go.Scatter(
                x=np.arange(1, last + 1, dtype=np.int32)[keep],
                y=_f32(step[keep]),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": _color(result, k), "width": 2, "dash": DASHES[k]},
                name=label,
                hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    span = [1, max(steps, 1)]
    traces.append(_hline(span, lr, f"α = {lr:g}", "dot"))
    first = lr * (1 - beta1) / math.sqrt(1 - beta2)
    if not math.isclose(first, lr):
        traces.append(_hline(span, first, f"α(1−β1)/√(1−β2) = {first:.3g}", "dash"))
    layout = _base_layout(
        f"Bias correction on {result.surface.label}: β1={beta1:g}, β2={beta2:g} (paper §3)",
        xaxis={"title": {"text": "step t"}},
        yaxis={"title": {"text": "max_i |Δ_t,i|"}, "type": "log", "exponentformat": "power"},
    )
    return go.Figure(traces, layout)  # one validation pass: see race_figure
