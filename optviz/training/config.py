"""What one training run is (``TrainConfig``), the limits on it, and the deployment knobs.

The config travels from the page to the SQLite store (as JSON) and to a Ray worker (pickled), so
it is a frozen dataclass of plain values. Limits live here, next to the config they bound, and are
checked by ``TrainConfig.problems`` so the page can show each message beside its widget.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.training.datasets import DATASETS
from optviz.training.models import MODELS

MAX_EPOCHS = 50  # a CPU MLP epoch on all 60 000 images takes tens of seconds; 50 is a long run
MAX_BATCH_SIZE = 4096
MAX_TRAIN_SUBSET = 60_000
MIN_TRAIN_SUBSET = 100  # fewer images than that is not MNIST any more
MAX_RUNS_PER_CLICK = 16  # 8 optimizers × 2 seeds: enough to compare, not enough to flood the queue
MAX_ACTIVE_RUNS = 32  # queued + running across every tab; beyond it Start is refused
DEVICES = ("auto", "cuda", "cpu")
# Early evaluations (iteration 0 and the log-spaced ones before the first regular evaluation)
# use the first this many test images: a CNN on a CPU evaluates 10 000 images in seconds, and an
# early point is there to make the accuracy chart move in the first seconds, not to be exact.
EARLY_TEST_IMAGES = 1_000


@dataclass(frozen=True)
class TrainConfig:
    """One optimizer training one model on one dataset (MNIST unless said otherwise)."""

    model: str = "logreg"  # key of MODELS
    dataset: str = "mnist"  # key of DATASETS; the model is built for its image shape and classes
    optimizer: str = "adam"  # key of OPTIMIZERS; built with OPTIMIZERS[key].build
    # Flat names as in the registry (lr, beta1, …); missing ones take the registry defaults.
    hyperparams: dict[str, float | bool] = field(default_factory=dict)
    # Key of SCHEDULES and its parameters (missing ones take their defaults): the loop steps the
    # torch scheduler after every optimizer step, so iteration t trains at α · s(t).
    schedule: str = "constant"
    schedule_params: dict[str, float] = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 128  # the paper's minibatch for the MLP (§6.2)
    # The first N training images: a CPU shows curves within seconds on 6 000, and every
    # optimizer in a race sees the same images whatever its seed.
    train_subset: int = 6_000
    test_subset: int = 10_000  # the first M test images, evaluated in full at every eval point
    dropout: float = 0.0
    seed: int = 0  # initial weights, batch order and dropout masks: same seed → same curve on CPU
    device: str = "auto"  # auto = CUDA when the worker has it, else CPU; cuda falls back too
    # Test-set evaluation every this many iterations; 0 = about 10 evaluations per run, and never
    # less often than once per epoch. Before the first regular one there are early evaluations
    # at log-spaced iterations (``early_iterations``), on ``EARLY_TEST_IMAGES`` test images.
    eval_every: int = 0
    # Training loss is averaged over this many iterations, then reported; one device sync each.
    log_every: int = 5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def problems(self, n_train: int | None = None) -> dict[str, str]:
        """Field → readable message for every value out of bounds (empty when all is well)."""
        out: dict[str, str] = {}
        if self.model not in MODELS:
            out["model"] = f"Unknown model {self.model!r}; choose one of {', '.join(MODELS)}."
        if self.dataset not in DATASETS:
            out["dataset"] = (
                f"Unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}."
            )
        elif self.model in MODELS and DATASETS[self.dataset].models is not None:
            allowed = DATASETS[self.dataset].models or ()
            if self.model not in allowed:
                out["model"] = (
                    f"{MODELS[self.model].label} does not apply to "
                    f"{DATASETS[self.dataset].label}; choose "
                    + " or ".join(MODELS[key].label for key in allowed)
                    + "."
                )
        if self.optimizer not in OPTIMIZERS:
            out["optimizer"] = f"Unknown optimizer {self.optimizer!r}."
        else:
            spec = OPTIMIZERS[self.optimizer]
            by_name = {hp.name: hp for hp in spec.hyperparams}
            for name, value in self.hyperparams.items():
                if name not in by_name:
                    out["hyperparams"] = f"{spec.label} has no hyperparameter {name!r}."
                    continue
                try:
                    by_name[name].validate(value)
                except ValueError as error:
                    out["hyperparams"] = f"{spec.label}: {error}."
        if self.schedule not in SCHEDULES:
            out["schedule"] = f"Unknown schedule {self.schedule!r}."
        else:
            try:
                SCHEDULES[self.schedule].check(self.schedule_params)
            except ValueError as error:
                out["schedule"] = f"Schedule: {error}."
        _bounded(out, "epochs", self.epochs, 1, MAX_EPOCHS, "Epochs")
        _bounded(out, "batch_size", self.batch_size, 1, MAX_BATCH_SIZE, "Batch size")
        top = min(MAX_TRAIN_SUBSET, n_train) if n_train else MAX_TRAIN_SUBSET
        _bounded(
            out,
            "train_subset",
            self.train_subset,
            min(MIN_TRAIN_SUBSET, top),
            top,
            "Training images",
        )
        _bounded(out, "test_subset", self.test_subset, 1, 10_000, "Test images")
        _bounded(out, "eval_every", self.eval_every, 0, 1_000_000, "Evaluation interval")
        _bounded(out, "log_every", self.log_every, 1, 10_000, "Logging interval")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**31):
            out["seed"] = f"Seed must be an integer from 0 to {2**31 - 1}."
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            out["dropout"] = "Dropout must be at least 0 and below 1."
        if self.device not in DEVICES:
            out["device"] = f"Device must be one of {', '.join(DEVICES)}."
        return out

    def iterations_per_epoch(self, n_train: int) -> int:
        return math.ceil(min(self.train_subset, n_train) / self.batch_size)

    def total_iterations(self, n_train: int) -> int:
        return self.epochs * self.iterations_per_epoch(n_train)

    def eval_interval(self, n_train: int) -> int:
        """Iterations between test evaluations (see ``eval_every``)."""
        per_epoch = self.iterations_per_epoch(n_train)
        if self.eval_every > 0:
            return min(self.eval_every, per_epoch)
        return max(1, min(per_epoch, math.ceil(self.total_iterations(n_train) / 10)))

    def early_iterations(self, n_train: int) -> frozenset[int]:
        """The log-spaced iterations 1, 2, 5, 10, 20, 50, … before the first regular evaluation
        (``eval_interval``) and the run's last step: the accuracy curve moves from the first
        steps. Training loss is reported at these iterations too."""
        first_regular = self.eval_interval(n_train)
        total = self.total_iterations(n_train)
        return frozenset(log_spaced(min(first_regular, total)))


def log_spaced(below: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, 100, … up to (not including) ``below``."""
    out: list[int] = []
    decade = 1
    while decade < below:
        out += [t for t in (decade, 2 * decade, 5 * decade) if t < below]
        decade *= 10
    return out


def _bounded(out: dict[str, str], key: str, value: Any, low: int, high: int, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out[key] = f"{label} must be a whole number."
    elif not low <= value <= high:
        out[key] = f"{label} must be between {low:,} and {high:,} (got {value:,})."


def env_number(name: str, default: float, low: float, high: float) -> tuple[float, str | None]:
    """A numeric deployment knob from the environment; a bad value falls back with a warning."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default, None
    try:
        value = float(raw)
    except ValueError:
        return default, f"{name}={raw!r} is not a number; using {default:g}."
    if not (math.isfinite(value) and low <= value <= high):
        return default, f"{name}={raw!r} is outside [{low:g}, {high:g}]; using {default:g}."
    return value, None
