"""The training loop on real digits: it learns, it is reproducible, and every way a run can end
is reported as a status, never as an exception."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import toy_optimizer

from optviz.optim import OPTIMIZERS
from optviz.training import loop
from optviz.training.config import TrainConfig, log_spaced
from optviz.training.data import Mnist
from optviz.training.loop import WARMUP_ITERATIONS, Metric, train
from training.support import QUICK


def run(config: TrainConfig, data: Mnist, **kwargs) -> tuple[object, list[Metric]]:
    metrics: list[Metric] = []
    result = train(config, data, metrics.append, **kwargs)
    return result, metrics


def test_a_short_training_on_real_digits_reduces_the_loss(small_mnist: Mnist) -> None:
    result, metrics = run(QUICK, small_mnist)
    assert result.status == "done", result.error
    tests = [m for m in metrics if m.kind == "test"]
    assert tests[0].iteration == 0  # the curve starts at the initial weights
    assert tests[-1].loss < 0.85 * tests[0].loss
    assert tests[-1].accuracy > 0.5 > tests[0].accuracy  # from chance (10 %) to most digits
    trains = [m for m in metrics if m.kind == "train"]
    assert trains[-1].loss < trains[0].loss
    # Throughput is measured after the warm-up only: none before it, a positive one after.
    assert all(m.samples_per_s is None for m in trains if m.iteration <= WARMUP_ITERATIONS)
    steady = [m for m in trains if m.iteration > WARMUP_ITERATIONS]
    assert steady and all(m.samples_per_s and m.samples_per_s > 0 for m in steady)


@pytest.mark.parametrize("key", [*OPTIMIZERS, toy_optimizer.KEY])
def test_every_optimizer_learns_with_its_paper_settings(
    key: str, small_mnist: Mnist, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy_optimizer.register(monkeypatch)  # a newly registered one too, with nothing else edited
    assert TrainConfig(optimizer=key, hyperparams=OPTIMIZERS[key].paper()).problems() == {}
    config = TrainConfig(
        **{**QUICK.to_dict(), "optimizer": key, "hyperparams": OPTIMIZERS[key].paper()}
    )
    result, metrics = run(config, small_mnist)
    assert result.status == "done", result.error
    tests = [m for m in metrics if m.kind == "test"]
    assert tests[-1].loss < tests[0].loss


def test_same_config_and_seed_give_the_same_curve(small_mnist: Mnist) -> None:
    config = TrainConfig(**{**QUICK.to_dict(), "dropout": 0.2, "seed": 3})
    _, first = run(config, small_mnist)
    _, second = run(config, small_mnist)
    assert [(m.kind, m.iteration, m.loss) for m in first] == [
        (m.kind, m.iteration, m.loss) for m in second
    ]
    _, other_seed = run(TrainConfig(**{**config.to_dict(), "seed": 4}), small_mnist)
    assert [m.loss for m in other_seed] != [m.loss for m in first]


def test_evaluation_happens_at_least_every_epoch(small_mnist: Mnist) -> None:
    config = TrainConfig(**{**QUICK.to_dict(), "epochs": 3, "eval_every": 1000})
    _, metrics = run(config, small_mnist)
    per_epoch = config.iterations_per_epoch(len(small_mnist.train_labels))
    assert per_epoch == 20
    evaluated = [m.iteration for m in metrics if m.kind == "test"]
    assert evaluated == [0, 1, 2, 5, 10, per_epoch, 2 * per_epoch, 3 * per_epoch]


def test_early_evaluations_are_log_spaced_then_regular_on_a_few_test_images(
    small_mnist: Mnist, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "EARLY_TEST_IMAGES", 100)  # small_mnist has only 500 test images
    config = TrainConfig(
        **{**QUICK.to_dict(), "model": "cnn", "train_subset": 2_000, "batch_size": 10}
    )
    config = TrainConfig(**{**config.to_dict(), "eval_every": 150})
    assert config.total_iterations(2_000) == 200
    _, metrics = run(config, small_mnist)
    tests = [m for m in metrics if m.kind == "test"]
    # 1, 2, 5, … until the first regular evaluation (150), then every 150 and at the end.
    assert [m.iteration for m in tests] == [0, 1, 2, 5, 10, 20, 50, 100, 150, 200]
    # The early ones are on the first 100 test images (accuracy in whole percent); the regular
    # ones on all 500 (in steps of 0.2 %).
    early, regular = tests[:8], tests[8:]
    assert all(round(m.accuracy * 100, 6) == round(m.accuracy * 100) for m in early)
    assert not all(round(m.accuracy * 100, 6) == round(m.accuracy * 100) for m in regular)
    # Training loss is reported at the early iterations too, so the loss curve starts at once.
    trains = [m.iteration for m in metrics if m.kind == "train"]
    assert trains[:5] == [1, 2, 5, 10, 15]


def test_log_spaced_iterations() -> None:
    assert log_spaced(1) == []
    assert log_spaced(11) == [1, 2, 5, 10]
    assert log_spaced(1001) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def test_a_huge_learning_rate_ends_diverged_with_a_finite_curve(small_mnist: Mnist) -> None:
    config = TrainConfig(
        **{**QUICK.to_dict(), "model": "mlp", "optimizer": "sgd", "hyperparams": {"lr": 10.0}}
    )
    result, metrics = run(config, small_mnist)
    assert result.status == "diverged"
    assert "non-finite" in result.error
    assert metrics, "the curve keeps its finite beginning"
    assert all(math.isfinite(m.loss) for m in metrics)
    assert metrics[-1].iteration < config.total_iterations(len(small_mnist.train_labels))


def test_the_stop_flag_cancels_between_batches(small_mnist: Mnist) -> None:
    seen: list[Metric] = []
    result = train(QUICK, small_mnist, seen.append, should_stop=lambda: len(seen) >= 3)
    assert result.status == "cancelled"
    assert 0 < result.iterations < QUICK.total_iterations(len(small_mnist.train_labels))


def test_cuda_out_of_memory_fails_the_run_with_that_reason(small_mnist: Mnist) -> None:
    def out_of_memory(metric: Metric) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    result = train(QUICK, small_mnist, out_of_memory)
    assert result.status == "failed"
    assert result.error.startswith("CUDA out of memory")


def test_any_other_exception_fails_the_run_with_its_message(small_mnist: Mnist) -> None:
    def broken(metric: Metric) -> None:
        raise RuntimeError("disk on fire")

    result = train(QUICK, small_mnist, broken)
    assert (result.status, result.error) == ("failed", "RuntimeError: disk on fire")


def test_a_run_that_fails_mid_way_reports_the_iteration_it_reached(small_mnist: Mnist) -> None:
    steps_before_failure = 7  # QUICK has 20 steps per epoch: this fails inside the first one
    checks = itertools.count()  # should_stop is asked once before every batch

    def fails_before_step_8() -> bool:
        if next(checks) == steps_before_failure:
            raise RuntimeError("the GPU fell off the bus")
        return False

    result, metrics = run(QUICK, small_mnist, should_stop=fails_before_step_8)
    assert (result.status, result.error) == ("failed", "RuntimeError: the GPU fell off the bus")
    assert result.iterations == steps_before_failure
    # The count is the loop's own, not the last logged point's (training logs every 5 steps, and
    # at the early evaluations before the first regular one: here QUICK's 1).
    assert [m.iteration for m in metrics if m.kind == "train"] == [1, 5]


def test_an_invalid_config_fails_with_a_readable_message(small_mnist: Mnist) -> None:
    config = TrainConfig(**{**QUICK.to_dict(), "hyperparams": {"lr": -1.0}, "epochs": 0})
    result, metrics = run(config, small_mnist)
    assert result.status == "failed"
    assert "lr must be between" in result.error
    assert "Epochs must be between 1 and 50" in result.error
    assert metrics == []


def test_cpu_is_used_when_cuda_is_asked_for_but_absent(small_mnist: Mnist) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    notes: list[str] = []
    config = TrainConfig(**{**QUICK.to_dict(), "device": "cuda", "epochs": 1})
    result = train(config, small_mnist, lambda m: None, on_start=notes.append)
    assert result.status == "done"
    assert notes == ["cpu (CUDA requested but not available)"] and result.device == notes[0]


def test_the_loop_steps_the_configured_schedule(small_mnist: Mnist) -> None:
    """A step schedule with γ = 0 every step: α is 0 from iteration 2 on, so the weights stop
    after the first step and every later evaluation of one image set gives the same loss."""
    frozen = TrainConfig(
        **{**QUICK.to_dict(), "schedule": "step", "schedule_params": {"step_size": 1, "gamma": 0}}
    )
    result, metrics = run(frozen, small_mnist)
    assert result.status == "done", result.error
    after_first = {m.loss for m in metrics if m.kind == "test" and m.iteration >= 1}
    assert len(after_first) <= 2  # the early evaluations' images and the whole test subset
    _, moving = run(QUICK, small_mnist)
    assert len({m.loss for m in moving if m.kind == "test" and m.iteration >= 1}) > 2


def test_a_bad_schedule_is_a_config_problem() -> None:
    assert TrainConfig(schedule="cyclic").problems() == {"schedule": "Unknown schedule 'cyclic'."}
    problems = TrainConfig(schedule="cosine", schedule_params={"T_max": 0}).problems()
    assert problems == {"schedule": "Schedule: T_max must be between 1 and 100000, not 0."}
