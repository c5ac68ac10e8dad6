"""The surface under the paths: its samples, its z scale, its raster contour, and 3-D.

The race draws the surface as a PNG (``backdrop``: filled contour bands with their lines), laid
under the plot as a layout image. An image costs the browser nothing on a redraw, and a
redraw-free ``Plotly.animate`` (the player's, at a stop) leaves it alone, where plotly.js drops
every non-scatter trace's layer until the next full redraw.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import torch

from optviz.cache import array_bytes, byte_lru_cache
from optviz.figures.labels import divergence_note, last_good, run_color, run_dash, run_names
from optviz.figures.layout import OUTLINE, base_layout, format_f
from optviz.figures.transport import f32, png
from optviz.surfaces import MAX_GRID, Surface

if TYPE_CHECKING:  # builders take results; they never run the engine
    from optviz.trajectories import Trajectories

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
CONTOUR_LINE_ALPHA = 0.2  # a contour line's pixel: this much of the way to CONTOUR_LINE_RGB
CONTOUR_LEVELS = 24
BACKDROP_OVERSAMPLING = 3  # the raster backdrop has 3× the contour's samples per axis: crisp
MINIMUM_COLOR = "#FFD23F"  # gold star: visible on the light contour, distinct from every path


@dataclass(frozen=True)
class ZScale:
    """How f becomes the plotted z: identity, or z = log10(f − f* + δ) for log-scale surfaces.

    δ = 10⁻⁶ of the surface's span sets the floor, so z stays finite where f = f* while the
    plot still shows six decades of the valley; colourbar ticks are placed at round values of
    f − f* and labelled with the real f.
    """

    f_min: float | None = None
    delta: float = 1.0

    @classmethod
    def for_surface(cls, surface: Surface, Z: np.ndarray) -> ZScale:
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

    def colorbar(self, z_min: float, z_max: float, most: int = 7) -> dict:
        """The colour bar's title and, on a log scale, at most ``most`` labels at decades."""
        if self.f_min is None:
            return {"title": {"text": "f"}}
        decades = [
            d
            for d in range(math.floor(z_min), math.ceil(z_max) + 1)
            if z_min <= math.log10(10.0**d + self.delta) <= z_max
        ]
        decades = decades[:: max(1, math.ceil(len(decades) / most))]
        return {
            "title": {"text": "f"},
            "tickvals": [math.log10(10.0**d + self.delta) for d in decades],
            "ticktext": [format_f(self.f_min + 10.0**d) for d in decades],
        }


def _colorscale_rgb(positions: np.ndarray) -> np.ndarray:
    """``CONTOUR_COLORSCALE`` at ``positions`` in [0, 1], as RGB floats ``(N, 3)``."""
    stops = np.array([stop for stop, _ in CONTOUR_COLORSCALE])
    colors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in CONTOUR_COLORSCALE])
    return np.stack([np.interp(positions, stops, colors[:, c]) for c in range(3)], axis=-1)


def backdrop(z: np.ndarray, z_min: float, z_max: float) -> str:
    """The filled contour as a PNG data URI: ``CONTOUR_LEVELS`` bands of ``CONTOUR_COLORSCALE``,
    with a darker pixel where the band changes (the contour lines)."""
    levels = CONTOUR_LEVELS
    band = np.clip(((z - z_min) / max(z_max - z_min, 1e-12) * levels).astype(int), 0, levels - 1)
    rgb = _colorscale_rgb((np.arange(levels) + 0.5) / levels)[band]  # (n, n, 3)
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] += CONTOUR_LINE_ALPHA * (np.array(CONTOUR_LINE_RGB) - rgb[edge])
    image = np.ascontiguousarray(rgb[::-1].round().astype(np.uint8))  # PNG rows run top down
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")


@byte_lru_cache(
    max_bytes=48 * 1024**2,  # ≈ 0.4 MB a surface at the race's grid
    nbytes=lambda layers: array_bytes(layers) + len(layers[4]),  # the arrays and the PNG text
)
def surface_layers(
    surface: Surface, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, ZScale, str]:
    """The surface's sampled contour (xs, ys, scaled z), its z scale and its PNG backdrop.

    They depend on the surface alone, so a slider move (a new race, the same surface) reuses
    them: sampling 9·grid² points and encoding the PNG was a tenth of a rerun.
    """
    xs, ys, Z = surface.grid(grid)
    scale = ZScale.for_surface(surface, Z)
    z = scale(Z)  # (n, n)
    fine = surface.grid(min(BACKDROP_OVERSAMPLING * grid, MAX_GRID))[2]  # (3n, 3n)
    return xs, ys, z, scale, backdrop(scale(fine), float(z.min()), float(z.max()))


def surface_3d_figure(result: Trajectories, *, grid: int = 80) -> go.Figure:
    """The surface in 3-D with each run's path lifted onto it (start b = 0).

    z follows the race figure's rule (log10(f − f* + δ) on log-scale surfaces), and the paths'
    z is the same transform of their losses, raised by 1% of the z range so the surface does
    not hide them.
    """
    surface, K = result.surface, len(result.runs)
    names = run_names(result)
    xs, ys, Z = surface.grid(grid)
    scale = ZScale.for_surface(surface, Z)
    z = scale(Z)
    z_min, z_max = float(z.min()), float(z.max())
    lift = 0.01 * (z_max - z_min or 1.0)
    x_min, x_max, y_min, y_max = surface.bounds

    traces = [
        go.Surface(
            x=f32(xs),
            y=f32(ys),
            z=f32(z),
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
        last = last_good(result, k)
        path = result.paths[k, 0, : last + 1]  # (last + 1, 2)
        losses = result.losses[k, 0, : last + 1]  # (last + 1,)
        path_z = scale(losses) + lift
        note = divergence_note(result, k, names[k])
        traces.append(
            go.Scatter3d(
                x=f32(path[:, 0]),
                y=f32(path[:, 1]),
                z=f32(path_z),
                customdata=f32(losses),
                mode="lines",
                line={"color": run_color(result, k), "width": 5, "dash": run_dash(result, k)},
                name=names[k],
                legendgroup=names[k],
                hovertemplate=(
                    f"{names[k]}<br>step %{{pointNumber}}<br>f=%{{customdata:.4g}}<extra></extra>"
                ),
            )
        )
        traces.append(
            go.Scatter3d(
                x=f32(path[-1:, 0]),
                y=f32(path[-1:, 1]),
                z=f32(path_z[-1:]),
                mode="markers",
                marker={
                    "symbol": "x" if note else "circle",
                    "size": 6,
                    "color": run_color(result, k),
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
                x=f32(minima[:, 0]),
                y=f32(minima[:, 1]),
                z=f32(scale(f_minima) + lift),
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
    layout = base_layout(
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
    return go.Figure(traces, layout)  # one validation pass (see the layout module)
