"""Runs on other datasets than MNIST through the real collector and Ray: each run gets its own
dataset, an absent one fails its runs with the message saying how to get it, and a group is
checked against each run's own dataset before anything is queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from optviz.training.cluster import Collector, Settings, submit_group
from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.datasets import load_dataset
from optviz.training.store import RunStore
from training.support import QUICK, cifar_files, wait_until, write_cifar_dir


def config(dataset: str, **changes: object) -> TrainConfig:
    return TrainConfig(**{**QUICK.to_dict(), "dataset": dataset, **changes})


def test_a_group_is_checked_against_each_runs_own_dataset(
    tmp_path: Path, small_mnist: Mnist
) -> None:
    store = RunStore(tmp_path / "runs.db")
    cifar = load_dataset("cifar10", write_cifar_dir(tmp_path / "data", cifar_files()))
    data = {"mnist": small_mnist, "cifar10": cifar}
    with pytest.raises(ValueError, match=r"Training images must be between 20 and 20"):
        submit_group(store, data, [("digits", QUICK), ("photos", config("cifar10"))], "x")
    with pytest.raises(ValueError, match="no 'fashion-mnist' data"):
        submit_group(store, data, [("clothes", config("fashion-mnist"))], "x")
    with pytest.raises(ValueError, match="no 'cifar10' data"):
        submit_group(store, small_mnist, [("photos", config("cifar10"))], "x")
    assert store.runs() == []  # nothing of a refused group is queued
    small_cifar = config("cifar10", train_subset=20, test_subset=3)
    _, ids = submit_group(store, data, [("digits", QUICK), ("photos", small_cifar)], "mixed")
    assert [r.config.dataset for r in store.runs()] == ["mnist", "cifar10"] and len(ids) == 2


def test_the_collector_hands_each_run_its_dataset_and_fails_a_run_whose_data_is_absent(
    ray_session: str, tmp_path: Path
) -> None:
    """Fashion-MNIST comes from Debian's package (the data folder is empty); CIFAR-10 is in the
    page's folder but not in the collector's, so its run fails saying where to put it."""
    data_dir = tmp_path / "collector-data"
    data_dir.mkdir()
    store = RunStore(tmp_path / "runs.db")
    fashion = load_dataset("fashion-mnist", data_dir)
    cifar = load_dataset("cifar10", write_cifar_dir(tmp_path / "page-data", cifar_files()))
    collector = Collector(store, data_dir, Settings(max_concurrent_runs=2), poll_interval=0.1)
    collector.start()
    try:
        _, (clothes, photos) = submit_group(
            store,
            {"fashion-mnist": fashion, "cifar10": cifar},
            [
                ("clothes", config("fashion-mnist")),
                ("photos", config("cifar10", train_subset=20, test_subset=3)),
            ],
            "two datasets",
        )
        wait_until(lambda: (runs := store.runs()) and not any(r.active for r in runs))
        runs = {r.id: r for r in store.runs()}
        assert runs[clothes].status == "done", runs[clothes].error
        assert runs[clothes].best_accuracy > 0.5  # it learnt clothes, not digits
        assert runs[photos].status == "failed"
        assert str(data_dir / "cifar-10-batches-bin") in runs[photos].error
        assert "python -m optviz.training.datasets cifar10" in runs[photos].error
    finally:
        collector.close()
