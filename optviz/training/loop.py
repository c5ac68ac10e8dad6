"""The one training loop: a config and a dataset in, metrics out through a callback.

It knows nothing of Ray, SQLite or Streamlit, so tests call it directly and the Ray worker wraps
it. It never raises: the outcome is a ``RunResult`` whose status is ``done``, ``diverged``
(non-finite loss; the curve ends at the last finite point), ``cancelled`` (the stop flag, checked
between batches) or ``failed`` (CUDA out of memory or any other exception, with its message).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES
from optviz.training.config import EARLY_TEST_IMAGES, TrainConfig
from optviz.training.data import Dataset, to_float
from optviz.training.models import MODELS, Task, summed_loss, training_loss

Status = Literal["done", "diverged", "cancelled", "failed"]
EVAL_CHUNK = 2_000  # test images per forward pass: bounds memory on small GPUs
# Iterations left out of the throughput: the first steps allocate buffers and the optimizer's
# state, and on a GPU compile kernels; counted, they make the same model's samples/s depend on
# how long the run was when it was read. A run shorter than twice this warms up for half its
# iterations, so it still reports a throughput.
WARMUP_ITERATIONS = 10


@dataclass(frozen=True)
class Metric:
    """One point of a curve. ``kind`` "train": mean minibatch loss over the last ``log_every``
    iterations; "test": loss and accuracy on the test images (an early one, before the first regular
    evaluation, on the first ``EARLY_TEST_IMAGES`` of them). The loss is the model's task's
    (``models.training_loss``): cross-entropy, or a VAE's −ELBO per image, which has no accuracy
    (``accuracy`` None)."""

    kind: Literal["train", "test"]
    iteration: int  # optimizer steps taken so far (t in the paper)
    epoch: float  # iteration / iterations per epoch
    loss: float
    accuracy: float | None = None  # test only, in [0, 1]
    # train only: samples per second of training since the warm-up (WARMUP_ITERATIONS, or half
    # of a shorter run), test evaluations excluded; None until the warm-up is over
    samples_per_s: float | None = None
    elapsed_s: float = 0.0  # wall time since the run started
    emitted_at: float = 0.0  # time.time() in the worker, to measure delivery latency


@dataclass(frozen=True)
class RunResult:
    status: Status
    device: str
    iterations: int
    error: str | None = None


def resolve_device(preference: str) -> tuple[torch.device, str]:
    """CUDA when asked for (or "auto") and present, else CPU; the note says what happened."""
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        return device, f"cuda ({torch.cuda.get_device_name(device)})"
    if preference == "cuda":
        return torch.device("cpu"), "cpu (CUDA requested but not available)"
    return torch.device("cpu"), "cpu"


@torch.no_grad()
def evaluate(
    model: nn.Module, images: Tensor, labels: Tensor, task: Task = "classify"
) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for a task without one) over a whole (test) set, in chunks."""
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    scored = True
    for start in range(0, len(images), EVAL_CHUNK):
        chunk = slice(start, start + EVAL_CHUNK)
        loss, right = summed_loss(task, model, images[chunk], labels[chunk])
        loss_sum += loss
        if right is None:
            scored = False
        else:
            correct += right
    model.train()
    accuracy = correct.item() / len(images) if scored else None
    return loss_sum.item() / len(images), accuracy


@dataclass
class _Reached:
    """How far ``_train`` got, kept outside it so that a run that raises still reports it."""

    iteration: int = 0


def train(
    config: TrainConfig,
    data: Dataset,
    on_metric: Callable[[Metric], None],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``config.model`` with ``config.optimizer`` on ``data``; report through callbacks.

    ``on_start(device_note)`` is called once the model is on its device; ``on_metric`` for every
    point; ``should_stop`` before every batch.
    """
    device_note, reached = "cpu", _Reached()
    try:
        problems = config.problems(len(data.train_labels))
        if config.dataset != data.key:
            problems["dataset"] = f"the run is for {config.dataset!r} but was given {data.key!r}."
        if problems:
            raise ValueError(" ".join(problems.values()))
        device, device_note = resolve_device(config.device)
        if on_start is not None:
            on_start(device_note)
        return _train(config, data, device, device_note, on_metric, should_stop, reached)
    except torch.cuda.OutOfMemoryError as error:
        first_line = str(error).splitlines()[0] if str(error) else ""
        message = f"CUDA out of memory: {first_line}"
        return RunResult("failed", device_note, reached.iteration, message)
    except Exception as error:  # the run fails, the worker and the app carry on
        message = f"{type(error).__name__}: {error}"
        return RunResult("failed", device_note, reached.iteration, message)


def _train(
    config: TrainConfig,
    data: Dataset,
    device: torch.device,
    device_note: str,
    on_metric: Callable[[Metric], None],
    should_stop: Callable[[], bool],
    reached: _Reached,
) -> RunResult:
    torch.manual_seed(config.seed)  # initial weights and dropout masks
    batches = torch.Generator().manual_seed(config.seed)  # batch order, independent of the model
    n = min(config.train_subset, len(data.train_labels))
    x_train = to_float(data.train_images[:n]).to(device)  # (n, C·H·W): MNIST's (n, 784)
    y_train = torch.as_tensor(data.train_labels[:n].copy()).to(device)  # (n,)
    m = min(config.test_subset, len(data.test_labels))
    x_test = to_float(data.test_images[:m]).to(device)  # (m, C·H·W)
    y_test = torch.as_tensor(data.test_labels[:m].copy()).to(device)  # (m,)

    spec = MODELS[config.model]
    model = spec.build(config.dropout, data.shape, data.classes).to(device)
    optimizer = OPTIMIZERS[config.optimizer].build(model.parameters(), config.hyperparams)
    scheduler = SCHEDULES[config.schedule].build(optimizer, config.schedule_params)
    per_epoch = config.iterations_per_epoch(n)
    total = config.total_iterations(n)
    eval_every = config.eval_interval(n)

    early = config.early_iterations(n)
    x_early, y_early = x_test[:EARLY_TEST_IMAGES], y_test[:EARLY_TEST_IMAGES]

    start = time.perf_counter()
    iteration = 0
    window_loss = torch.zeros((), device=device)  # summed on the device: no sync per batch
    window_batches = 0
    # Throughput after warm-up: samples and training time (evaluations excluded) after the
    # first `warmup` iterations, so first-step allocations and lazy set-up are not in it.
    warmup = min(WARMUP_ITERATIONS, total // 2)
    steady_samples = 0
    steady_s = 0.0

    def emit_test(quick: bool = False) -> bool:
        images, labels = (x_early, y_early) if quick else (x_test, y_test)
        loss, accuracy = evaluate(model, images, labels, spec.task)
        if not math.isfinite(loss):
            return False
        on_metric(
            Metric(
                "test",
                iteration,
                iteration / per_epoch,
                loss,
                accuracy=accuracy,
                elapsed_s=time.perf_counter() - start,
                emitted_at=time.time(),
            )
        )
        return True

    def diverged(what: str) -> RunResult:
        return RunResult("diverged", device_note, iteration, f"{what} at iteration {iteration}")

    # The curve starts where every optimizer starts: at the initial weights (a quick estimate,
    # so the first point does not wait for a whole test set to go through a CNN).
    if not emit_test(quick=True):
        return diverged("test loss is not finite")
    for _epoch in range(config.epochs):
        order = torch.randperm(n, generator=batches).to(device)  # (n,)
        for b in range(per_epoch):
            if should_stop():
                return RunResult("cancelled", device_note, iteration, "cancelled by the user")
            tick = time.perf_counter()
            batch = order[b * config.batch_size : (b + 1) * config.batch_size]  # (B,)
            loss = training_loss(spec.task, model, x_train[batch], y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()  # α for the next iteration
            iteration += 1
            reached.iteration = iteration
            window_loss += loss.detach()
            window_batches += 1
            report = iteration % config.log_every == 0 or b == per_epoch - 1 or iteration in early
            if report:
                mean_loss = window_loss.item() / window_batches  # syncs the device
            if iteration > warmup:
                steady_samples += len(batch)
                steady_s += time.perf_counter() - tick
            if report:
                if not math.isfinite(mean_loss):
                    return diverged("training loss became non-finite")
                on_metric(
                    Metric(
                        "train",
                        iteration,
                        iteration / per_epoch,
                        mean_loss,
                        samples_per_s=steady_samples / steady_s if steady_s > 0 else None,
                        elapsed_s=time.perf_counter() - start,
                        emitted_at=time.time(),
                    )
                )
                window_loss.zero_()
                window_batches = 0
            regular = iteration % eval_every == 0 or iteration == total
            if (regular or iteration in early) and not emit_test(quick=not regular):
                return diverged("test loss became non-finite")
        if iteration % eval_every != 0 and iteration != total and not emit_test():
            return diverged("test loss became non-finite")  # at least one evaluation per epoch
    return RunResult("done", device_note, iteration)
