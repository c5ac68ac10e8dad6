"""The runs behind the paper's Figures 3 and 4 through the one training loop: the paper's CNN on
CIFAR-10-format data and on digits, the VAE on real digits (a −ELBO curve, no accuracy), Adam
without bias correction, and a run refused when handed another dataset than its config names."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optviz.training.config import TrainConfig
from optviz.training.data import Mnist
from optviz.training.datasets import load_dataset
from optviz.training.loop import Metric, RunResult, train
from training.support import QUICK, cifar_files, write_cifar_dir


def run(config: TrainConfig, data: Mnist) -> tuple[RunResult, list[Metric]]:
    metrics: list[Metric] = []
    return train(config, data, metrics.append), metrics


def test_the_vae_trains_on_real_digits_with_a_negative_elbo_and_no_accuracy(
    small_mnist: Mnist,
) -> None:
    config = TrainConfig(
        model="vae", epochs=2, batch_size=100, train_subset=1_000, test_subset=300, log_every=2
    )
    result, metrics = run(config, small_mnist)
    assert result.status == "done", result.error
    tests = [m for m in metrics if m.kind == "test"]
    assert all(m.accuracy is None for m in tests)  # absent, not 0
    # −ELBO per image starts near 784 · log 2 ≈ 543 nats (logits ≈ 0) and falls fast.
    assert 300 < tests[0].loss < 800
    assert tests[-1].loss < 0.8 * tests[0].loss
    trains = [m for m in metrics if m.kind == "train"]
    assert trains[-1].loss < trains[0].loss


def test_the_papers_cnn_trains_on_cifar10_binary_batches(tmp_path: Path) -> None:
    data = load_dataset("cifar10", write_cifar_dir(tmp_path, cifar_files(per_batch=4, n_test=4)))
    config = TrainConfig(
        model="cnn-paper",
        dataset="cifar10",
        epochs=4,
        batch_size=10,
        train_subset=20,
        test_subset=4,
        log_every=2,
    )
    result, metrics = run(config, data)
    assert result.status == "done", result.error
    assert result.iterations == 8
    tests = [m for m in metrics if m.kind == "test"]
    assert all(m.accuracy is not None and 0.0 <= m.accuracy <= 1.0 for m in tests)
    trains = [m for m in metrics if m.kind == "train"]
    assert all(math.isfinite(m.loss) for m in trains)
    assert trains[-1].loss < trains[0].loss  # it fits the 20 pictures it sees again and again


def test_the_papers_cnn_also_trains_on_digits(small_mnist: Mnist) -> None:
    config = TrainConfig(
        model="cnn-paper", epochs=1, batch_size=50, train_subset=200, test_subset=100
    )
    result, metrics = run(config, small_mnist)
    assert result.status == "done", result.error
    assert [m.iteration for m in metrics if m.kind == "test"][-1] == 4


def test_adam_without_bias_correction_trains_and_differs_from_adam_with_it(
    small_mnist: Mnist,
) -> None:
    """Figure 4 compares the two; the registry's boolean reaches the optimizer."""
    curves = {}
    for corrected in (True, False):
        config = TrainConfig(
            **{**QUICK.to_dict(), "hyperparams": {"bias_correction": corrected, "beta2": 0.999}}
        )
        assert config.problems() == {}
        result, metrics = run(config, small_mnist)
        assert result.status == "done", result.error
        curves[corrected] = [m.loss for m in metrics if m.kind == "train"]
    assert curves[False][-1] < curves[False][0]  # it still learns
    assert curves[True] != curves[False]
    # Point 0 is iteration 1's loss, taken before the first step: the same initial weights.
    assert curves[True][0] == curves[False][0]
    # Uncorrected, the first step is (1 − β1)/√(1 − β2) ≈ 3.2 times as long as α: iteration 2's
    # loss differs already.
    assert not np.isclose(curves[True][1], curves[False][1], rtol=1e-6)


def test_a_run_handed_another_dataset_than_its_config_names_fails_and_says_so(
    small_mnist: Mnist,
) -> None:
    result, _ = run(TrainConfig(**{**QUICK.to_dict(), "dataset": "cifar10"}), small_mnist)
    assert result.status == "failed"
    assert "'cifar10'" in result.error and "'mnist'" in result.error


@pytest.mark.parametrize("key", ["fashion-mnist"])
def test_a_logistic_regression_learns_fashion_from_debians_package(key: str, tmp_path) -> None:
    data = load_dataset(key, tmp_path)
    result, metrics = run(TrainConfig(**{**QUICK.to_dict(), "dataset": key}), data)
    assert result.status == "done", result.error
    tests = [m for m in metrics if m.kind == "test"]
    assert tests[-1].accuracy > 0.5 > tests[0].accuracy
