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
from optviz.figures.transport import f32, png, typed
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
CONTOUR_LINE = "rgba({}, {}, {}, 0.28)".format(*CONTOUR_LINE_RGB)  # the 3-D view's lines
CONTOUR_LINE_ALPHA = 0.2  # a contour line's pixel: this much of the way to CONTOUR_LINE_RGB
CONTOUR_LEVELS = 24
BACKDROP_OVERSAMPLING = 3  # the raster backdrop has 3× the contour's samples per axis: crisp
MINIMUM_COLOR = "#FFD23F"  # gold star: visible on the light contour, distinct from every path


def minima_markers(minima: np.ndarray, size: float, outline: float) -> dict:
    """A scatter trace's points and gold star markers at ``minima`` ``(N, 2)``."""
    return {
        "type": "scatter",
        "x": typed(minima[:, 0]),
        "y": typed(minima[:, 1]),
        "mode": "markers",
        "marker": {
            "symbol": "star",
            "size": size,
            "color": MINIMUM_COLOR,
            "line": {"color": OUTLINE, "width": outline},
        },
    }


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


MESH_OVERSAMPLING = 4  # f is sampled 4× finer per axis than the 3-D mesh to find its lows
LIGHTING = {"ambient": 0.55, "diffuse": 0.75, "specular": 0.12, "roughness": 0.7, "fresnel": 0.1}
LIGHT_POSITION = {"x": -1e4, "y": -1e4, "z": 2e4}  # high, from the viewer's left: walls shade


def surface_mesh(
    surface: Surface, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, ZScale, float, float]:
    """The 3-D view's mesh: xs ``(n,)``, ys ``(n,)``, its scaled z ``(n, n)``, the z scale and
    the z range of the 2-D view at this grid (its colours).

    Each node's z is the lowest f within one grid step of it (sampled ``MESH_OVERSAMPLING``
    times finer), not f at the node. A node-sampled mesh aliases a valley narrower than a
    grid step: down the valley, how deep each column reaches depends on how near a node
    happens to fall to its floor, so the floor becomes a sawtooth of spikes (on Rosenbrock's
    log scale, over a decade deep). Taken from the neighbourhood, the nodes near the floor all
    hold the floor's value and the trough runs smoothly. Every point of a mesh cell lies
    within one step of each of its corners, so the drawn mesh, which interpolates them, never
    rises above the real surface: a path lifted by its exact f is never hidden under it.
    """
    n, s = int(grid), MESH_OVERSAMPLING
    fine_n = min((n - 1) * s + 1, MAX_GRID)
    s = (fine_n - 1) // (n - 1)  # fewer for the largest grids, so node i is fine sample i·s
    fine = surface.grid((n - 1) * s + 1)[2]  # ((n − 1)s + 1, …)
    # A min-pool: −max(−f) over the (2s + 1)² fine samples around each node (inside the window).
    low = -torch.nn.functional.max_pool2d(
        -torch.as_tensor(fine)[None, None], kernel_size=2 * s + 1, stride=s, padding=s
    )[0, 0].numpy()  # (n, n)
    xs, ys, Z = surface.grid(n)
    scale = ZScale.for_surface(surface, Z)  # the 2-D view's scale and colours at this grid
    z = scale(Z)
    return xs, ys, scale(low), scale, float(z.min()), float(z.max())


def surface_3d_figure(result: Trajectories, *, grid: int = 120) -> go.Figure:
    """The surface in 3-D with each run's path lifted onto it (start b = 0), ready for the
    race player.

    z follows the race figure's rule (log10(f − f* + δ) on log-scale surfaces), with its
    colours at the same grid; the mesh is ``surface_mesh``'s, lit so the valley's shape reads,
    with contour lines at the 2-D view's levels. The paths' z is the same transform of their
    losses, raised by 0.5% of the z range so the mesh never hides them. ``layout.meta.race3d``
    names the race (``race_id``) and holds each run's complete lifted path, so the race
    player (``race_player.js``) moves the 3-D paths with the 2-D race.
    """
    from optviz.figures.race import race_id  # race.py imports this module

    surface, K = result.surface, len(result.runs)
    names = run_names(result)
    xs, ys, z, scale, z_min, z_max = surface_mesh(surface, grid)
    z_low = min(z_min, float(z.min()))
    lift = 0.005 * (z_max - z_low or 1.0)
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
            lighting=LIGHTING,
            lightposition=LIGHT_POSITION,
            contours={
                "z": {
                    "show": True,
                    "start": z_min,
                    "end": z_max,
                    "size": max((z_max - z_min) / CONTOUR_LEVELS, 1e-12),
                    "color": CONTOUR_LINE,
                    "width": 1,
                    "usecolormap": False,
                    "highlight": False,
                }
            },
            opacity=1.0,
            name=surface.label,
            hovertemplate="x=%{x:.3f}, y=%{y:.3f}<br>z=%{z:.3g}<extra></extra>",
        )
    ]
    paths, heads, runs = [], [], []
    for k in range(K):
        last = last_good(result, k)
        path = f32(result.paths[k, 0, : last + 1])  # (last + 1, 2)
        losses = result.losses[k, 0, : last + 1]  # (last + 1,)
        path_z = f32(scale(losses) + lift)
        note = divergence_note(result, k, names[k])
        marker = {
            "symbol": "circle",
            "size": 6,
            "color": run_color(result, k),
            "line": {"color": OUTLINE, "width": 1},
        }
        ended = marker | {"symbol": "x"} if note else marker
        paths.append(
            go.Scatter3d(
                x=path[:, 0],
                y=path[:, 1],
                z=path_z,
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
        heads.append(
            go.Scatter3d(
                x=path[-1:, 0],
                y=path[-1:, 1],
                z=path_z[-1:],
                mode="markers",
                marker=ended,
                name=note or names[k],
                legendgroup=names[k],
                showlegend=False,
                hovertemplate=f"{note or names[k]}<extra></extra>",
            )
        )
        # The player's run: the complete lifted path, and the head's marker up to and after
        # ``last`` (a diverged run's becomes the ×), as in the race figure's meta.
        xyz = {"x": path[:, 0], "y": path[:, 1], "z": path_z}
        runs.append(
            {"path": 1 + k, "head": 1 + K + k, "last": last, "marker": marker, "ended": ended}
            | {axis: typed(values)["bdata"] for axis, values in xyz.items()}
        )
    traces += paths + heads
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
                "range": [z_low, z_max + 2 * lift],
            },
            "aspectmode": "manual",
            "aspectratio": {"x": (x_max - x_min) / width, "y": (y_max - y_min) / width, "z": 0.6},
        },
        meta={"race3d": {"id": race_id(result), "steps": result.steps, "runs": runs}},
    )
    return go.Figure(traces, layout)  # one validation pass (see the layout module)
