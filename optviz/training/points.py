"""The metric points the Live MNIST page has read so far, per run, shared by every tab.

Each tab redraws its runs every second. Reading every point of every run each time made that
redraw grow with the runs' length and with the number of tabs; here a run's points are read
once and then only what is new (``RunStore.metrics_since`` after the last id read), and every
tab watching the run shares the same arrays. A ``ByteLRU`` bounds what is kept by bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optviz.cache import ByteLRU
from optviz.training.store import MetricRow, RunStore

MAX_BYTES = 64 * 1024**2  # ~1.6 M points (40 bytes each): dozens of long runs at once


@dataclass(frozen=True)
class RunPoints:
    """One run's points read so far, as columns; ``last_id`` is the newest row id among them."""

    last_id: int
    train_iteration: np.ndarray  # (P,)
    train_epoch: np.ndarray  # (P,)
    train_elapsed: np.ndarray  # (P,) seconds since the run started
    train_loss: np.ndarray  # (P,)
    test_iteration: np.ndarray  # (Q,)
    test_epoch: np.ndarray  # (Q,)
    test_elapsed: np.ndarray  # (Q,)
    test_accuracy: np.ndarray  # (Q,)

    @classmethod
    def empty(cls) -> RunPoints:
        none = np.empty(0)
        return cls(0, *[none] * 8)

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.train_iteration,
                self.train_epoch,
                self.train_elapsed,
                self.train_loss,
                self.test_iteration,
                self.test_epoch,
                self.test_elapsed,
                self.test_accuracy,
            )
        )

    def extended(self, rows: Sequence[MetricRow]) -> RunPoints:
        """These points followed by ``rows`` (one run's, in the order written)."""
        if not rows:
            return self
        train = [r for r in rows if r.kind == "train"]
        test = [r for r in rows if r.kind == "test"]

        def grow(old: np.ndarray, new: list[float]) -> np.ndarray:
            return np.concatenate([old, np.asarray(new, dtype=float)]) if new else old

        return RunPoints(
            last_id=max(self.last_id, rows[-1].id),
            train_iteration=grow(self.train_iteration, [r.iteration for r in train]),
            train_epoch=grow(self.train_epoch, [r.epoch for r in train]),
            train_elapsed=grow(self.train_elapsed, [r.elapsed_s for r in train]),
            train_loss=grow(self.train_loss, [r.loss for r in train]),
            test_iteration=grow(self.test_iteration, [r.iteration for r in test]),
            test_epoch=grow(self.test_epoch, [r.epoch for r in test]),
            test_elapsed=grow(self.test_elapsed, [r.elapsed_s for r in test]),
            test_accuracy=grow(
                self.test_accuracy, [np.nan if r.accuracy is None else r.accuracy for r in test]
            ),
        )

    def loss(self, x: str = "iteration") -> tuple[np.ndarray, np.ndarray]:
        """Training loss against ``x``: "iteration", "epoch" or "seconds" (since the start)."""
        by = {"epoch": self.train_epoch, "seconds": self.train_elapsed}
        return by.get(x, self.train_iteration), self.train_loss

    def accuracy(self, x: str = "iteration") -> tuple[np.ndarray, np.ndarray]:
        """Test accuracy against ``x``: "iteration", "epoch" or "seconds" (since the start)."""
        by = {"epoch": self.test_epoch, "seconds": self.test_elapsed}
        return by.get(x, self.test_iteration), self.test_accuracy


class PointCache:
    """Process-wide: run id → ``RunPoints``, brought up to date on each ``read``."""

    def __init__(self, store: RunStore, max_bytes: int = MAX_BYTES) -> None:
        self.store = store
        self._runs: ByteLRU[int, RunPoints] = ByteLRU(max_bytes, lambda p: p.nbytes)
        # One reader at a time: two tabs redrawing the same runs read the new rows once.
        self._lock = threading.Lock()

    def read(self, run_ids: Sequence[int]) -> dict[int, RunPoints]:
        """Every point of the runs: what is cached plus the rows written since."""
        with self._lock:
            known = {i: self._runs.get(i) or RunPoints.empty() for i in run_ids}
            fresh = [i for i, points in known.items() if not points.last_id]
            seen = [i for i, points in known.items() if points.last_id]
            rows: list[MetricRow] = []
            if fresh:  # no point read yet: all their points, through the per-run index
                rows += self.store.metrics_since(fresh, 0)
            if seen:  # only the rows written after the oldest of their last ids
                rows += self.store.metrics_since(seen, min(known[i].last_id for i in seen))
            by_run: dict[int, list[MetricRow]] = {}
            for row in rows:
                by_run.setdefault(row.run_id, []).append(row)
            out = {}
            for run_id in run_ids:
                points = known[run_id]
                new = [r for r in by_run.get(run_id, ()) if r.id > points.last_id]
                if new or run_id not in self._runs:
                    points = self._runs.put(run_id, points.extended(new))
                out[run_id] = points
            return out
