"""Getting arrays to the browser cheaply: float32 typed arrays and a PNG encoder.

Plotly passes base64 typed arrays (``{"dtype": "f4", "bdata": …}``) straight through to
plotly.js, where a numpy array would be copied and inspected on its way to JSON, and float32
halves the bytes. ``f32`` also clips to float32's range, so nothing non-finite reaches a figure.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

import numpy as np

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def typed(values: np.ndarray) -> dict[str, str]:
    """An array in plotly's base64 typed-array form (float32), which plotly passes through.

    The race player's copy of each path travels this way (``layout.meta`` is passed through
    untouched). Values that are float32 already are taken as they are (``f32`` made them so).
    """
    array = values if values.dtype == np.float32 else f32(values)
    spec = {"dtype": "f4", "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    if array.ndim > 1:
        spec["shape"] = ", ".join(map(str, array.shape))  # row-major, as plotly.js reads it
    return spec


def f32(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """As float32 for the browser, clipped to float32's range so a large finite value never
    becomes inf (and any stray non-finite value becomes a finite one)."""
    array = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    return np.clip(array, -_FLOAT32_MAX, _FLOAT32_MAX).astype(np.float32)


def png(rgb: np.ndarray) -> bytes:
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
