"""Helpers for the Live MNIST tests: IDX and CIFAR-10 binary files written byte by byte, run
configs, polling."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.datasets import CIFAR10_FILES, CIFAR10_FOLDER

SMALL_TRAIN, SMALL_TEST = 2_000, 500

# ~20 iterations of logistic regression: a run that finishes within a few seconds of starting.
QUICK = TrainConfig(
    model="logreg", optimizer="adam", epochs=1, batch_size=50, train_subset=1_000, test_subset=500
)
# ~3 000 MLP iterations: a run that is still training when the test acts on it.
LONG = TrainConfig(
    model="mlp", optimizer="adam", epochs=50, batch_size=32, train_subset=2_000, test_subset=500
)


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8, 1-D labels or 3-D images) as an IDX file; gzip if ``.gz``."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim  # 0x08: unsigned byte
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def write_mnist_dir(directory: Path, data: Mnist, *, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", data.train_images)
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", data.train_labels)
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", data.test_images)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", data.test_labels)
    return directory


def cifar_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10's binary format: per image one label byte, then 1024 red, green, blue bytes."""
    pairs = zip(images, labels, strict=True)
    return b"".join(bytes([label]) + image.tobytes() for image, label in pairs)


def cifar_files(seed: int = 0, per_batch: int = 4, n_test: int = 3) -> dict[str, bytes]:
    """The six binary batch files' contents: ``per_batch`` images in each training batch."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in CIFAR10_FILES:
        n = n_test if name == "test_batch.bin" else per_batch
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        out[name] = cifar_records(images, rng.integers(0, 10, n))
    return out


def write_cifar_dir(data_dir: Path, files: dict[str, bytes]) -> Path:
    folder = data_dir / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    return data_dir


def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> object:
    """Poll until ``predicate()`` is truthy and return that value; fail after ``timeout`` s.

    The timeout is a bound for a hung test, not a speed assertion. Use the returned value rather
    than reading the state again: it may have moved on since the predicate saw it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:.0f} s")
        time.sleep(0.05)
