"""The Live MNIST figures: one colour per optimizer, log loss axis, no NaN ever drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from optviz.figures.training import (
    Curve,
    accuracy_figure,
    curves_from_records,
    ema,
    loss_figure,
)
from optviz.optim import OPTIMIZERS


@dataclass
class FakeRun:  # the attributes a store.Run has that the figures read
    id: int
    group_id: int
    optimizer: str
    label: str
    status: str = "running"


@dataclass
class Point:
    run_id: int
    kind: str
    iteration: int
    epoch: float
    loss: float
    accuracy: float | None = None


def curve(label: str = "Adam", y: list[float] | None = None, **kwargs) -> Curve:
    y = y if y is not None else [2.3, 1.2, 0.7, 0.5]
    return Curve(label, "#E15759", np.arange(len(y), dtype=float), np.asarray(y), **kwargs)


def test_loss_figure_uses_a_log_axis_and_the_given_colour() -> None:
    fig = loss_figure([curve()])
    assert fig.layout.yaxis.type == "log"
    assert fig.data[0].line.color == "#E15759"
    assert list(fig.data[0].y) == [2.3, 1.2, 0.7, 0.5]


def test_non_finite_points_never_reach_the_figure() -> None:
    fig = loss_figure([curve(y=[2.3, 1.0, float("nan"), float("inf")], diverged=True)])
    drawn = np.concatenate([np.asarray(trace.y, dtype=float) for trace in fig.data])
    assert np.isfinite(drawn).all()
    marker = [t for t in fig.data if t.mode == "markers"]
    assert len(marker) == 1 and list(marker[0].y) == [1.0]  # × at the last finite point


def test_smoothing_keeps_the_raw_curve_faint_and_starts_at_the_first_point() -> None:
    fig = loss_figure([curve()], smoothing=0.9)
    raw, smooth = fig.data
    assert raw.opacity == 0.25 and list(raw.y) == [2.3, 1.2, 0.7, 0.5]
    assert smooth.y[0] == pytest.approx(2.3)  # debiased: no pull towards zero
    assert smooth.y[-1] > 0.5  # lags behind the raw curve


def test_ema_rejects_weights_outside_zero_to_one() -> None:
    with pytest.raises(ValueError):
        ema(np.ones(3), 1.0)


def test_accuracy_is_drawn_in_percent() -> None:
    fig = accuracy_figure([curve(y=[0.1, 0.5, 0.9])])
    assert list(fig.data[0].y) == pytest.approx([10.0, 50.0, 90.0])


def test_empty_input_shows_a_message_instead_of_an_empty_chart() -> None:
    fig = loss_figure([curve(y=[])])
    assert not fig.data
    assert fig.layout.annotations[0].text == "No training loss yet"


def test_records_become_one_curve_per_run_in_the_registry_colour() -> None:
    runs = [
        FakeRun(1, 1, "adam", "Adam"),
        FakeRun(2, 1, "sgd", "SGD"),
        FakeRun(3, 2, "adam", "Adam"),
    ]
    points = [
        Point(1, "train", 5, 0.1, 2.0),
        Point(1, "test", 5, 0.1, 2.1, 0.3),
        Point(1, "train", 10, 0.2, 1.0),
        Point(3, "train", 5, 0.1, 1.9),
    ]
    curves = curves_from_records(runs, points, kind="train", x="iteration", y="loss")
    assert [c.label for c in curves] == ["#1 Adam", "#2 SGD", "#3 Adam"]
    assert [c.color for c in curves] == [
        OPTIMIZERS["adam"].color,
        OPTIMIZERS["sgd"].color,
        OPTIMIZERS["adam"].color,
    ]
    assert list(curves[0].y) == [2.0, 1.0] and len(curves[1].x) == 0
    assert curves[0].dash != curves[2].dash  # two groups of the same optimizer stay apart
