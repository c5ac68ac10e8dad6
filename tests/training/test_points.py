"""The points the page has read: each curve can be drawn against iterations, epochs or seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optviz.training.loop import Metric
from optviz.training.points import PointCache
from optviz.training.store import NewRun, RunStore
from training.support import QUICK


def test_a_run_s_points_are_read_against_iterations_epochs_and_seconds(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    _, (run_id,) = store.create_group("logreg", "test", "digits", [NewRun("Adam", QUICK, 40)])
    store.add_metrics(
        run_id,
        [
            Metric("test", 0, 0.0, 2.3, accuracy=0.1, elapsed_s=0.2),
            Metric("train", 1, 0.05, 2.2, elapsed_s=0.4),
            Metric("test", 1, 0.05, 2.1, accuracy=0.3, elapsed_s=0.5),
            Metric("train", 5, 0.25, 1.5, samples_per_s=900.0, elapsed_s=1.5),
        ],
    )
    points = PointCache(store).read([run_id])[run_id]
    for x, train_x, test_x in (
        ("iteration", [1, 5], [0, 1]),
        ("epoch", [0.05, 0.25], [0.0, 0.05]),
        ("seconds", [0.4, 1.5], [0.2, 0.5]),
    ):
        xs, losses = points.loss(x)
        np.testing.assert_allclose(xs, train_x)
        np.testing.assert_allclose(losses, [2.2, 1.5])
        xs, accuracy = points.accuracy(x)
        np.testing.assert_allclose(xs, test_x)
        np.testing.assert_allclose(accuracy, [0.1, 0.3])
