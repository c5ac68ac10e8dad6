"""Live MNIST speed, as ratios measured in one run (absolute times drift on shared machines).

1. The paper's MLP 784-1000-1000-10 (minibatch 128) on real MNIST: training samples/s with
   ``optviz.optim.Adam`` vs ``torch.optim.Adam``, same data, same seed, same batches, repeats
   interleaved; the median ratio is printed. Goal: ≥ 0.95.
2. Delivery latency: a run on a real local Ray with the app's collector; for every metric point,
   the time from its emission in the worker to its row in the SQLite store. Goal: median ≤ 2 s.

Run: ``python benchmarks/bench_training.py [--repeats N] [--iterations N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optviz.optim import Adam
from optviz.training.data import load_mnist, to_float
from optviz.training.models import MODELS

BATCH = 128
LATENCY_TARGET_S = 2.0


class Trainer:
    """The MLP from seed 0 with one optimizer; ``train(n)`` runs n iterations and times them."""

    def __init__(
        self, make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
    ) -> None:
        torch.manual_seed(0)
        self.model = MODELS["mlp"].build(0.0)
        self.optimizer = make_optimizer(list(self.model.parameters()))
        self.step = 0
        self.seconds = 0.0
        self.samples = 0

    def train(self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, n: int) -> None:
        start = time.perf_counter()
        for _ in range(n):
            batch = order[(self.step * BATCH) % (len(x) - BATCH) :][:BATCH]  # same for both
            self.optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(self.model(x[batch]), y[batch]).backward()
            self.optimizer.step()
            self.step += 1
        self.seconds += time.perf_counter() - start
        self.samples += n * BATCH


def bench_adam(repeats: int, iterations: int) -> float:
    """Both trainers advance in short alternating blocks, so load from other processes on a
    shared machine hits both alike; each repeat's ratio compares blocks taken side by side."""
    data = load_mnist()
    x, y = to_float(data.train_images[:6_000]), torch.as_tensor(data.train_labels[:6_000])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    ours = Trainer(lambda p: Adam(p, lr=1e-3))
    theirs = Trainer(lambda p: torch.optim.Adam(p, lr=1e-3))
    for trainer in (ours, theirs):  # warm-up: state allocation and lazy imports, untimed
        trainer.train(x, y, order, 3)
        trainer.seconds = trainer.samples = 0
    ratios = []
    block = 5
    for r in range(repeats):
        before = [(t.seconds, t.samples) for t in (ours, theirs)]
        for b in range(iterations // block):
            first, second = (ours, theirs) if (r + b) % 2 == 0 else (theirs, ours)
            first.train(x, y, order, block)
            second.train(x, y, order, block)
        rates = [
            (t.samples - s0) / (t.seconds - t0)
            for t, (t0, s0) in zip((ours, theirs), before, strict=True)
        ]
        ratios.append(rates[0] / rates[1])
    print(
        f"MLP 784-1000-1000-10, batch {BATCH}, {repeats} repeats × {iterations} iterations each, "
        f"alternating blocks of {block} ({torch.get_num_threads()} threads):\n"
        f"  optviz.optim.Adam  {ours.samples / ours.seconds:8.0f} samples/s\n"
        f"  torch.optim.Adam   {theirs.samples / theirs.seconds:8.0f} samples/s\n"
        f"  ratio (ours / torch) median {statistics.median(ratios):.3f}  "
        f"[min {min(ratios):.3f}, max {max(ratios):.3f}]  target >= 0.95"
    )
    return statistics.median(ratios)


def bench_latency() -> float:
    import ray

    from optviz.training.cluster import Collector, Settings, ensure_ray, submit_group
    from optviz.training.config import TrainConfig
    from optviz.training.store import RunStore

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    print(ensure_ray())
    with tempfile.TemporaryDirectory() as scratch:
        collector = Collector(RunStore(Path(scratch) / "runs.db"), settings=Settings()).start()
        try:
            config = TrainConfig(model="logreg", epochs=5, eval_every=10, log_every=2)
            _, (run_id,) = submit_group(collector.store, load_mnist(), [("Adam", config)], "bench")
            while collector.store.run(run_id).active:  # type: ignore[union-attr]
                time.sleep(0.1)
            points = collector.store.metrics([run_id])
        finally:
            collector.close()
            ray.shutdown()
    delays = sorted(p.stored_at - p.emitted_at for p in points)
    median = statistics.median(delays)
    print(
        f"metric emitted in the worker → row in the store, {len(delays)} points:\n"
        f"  median {median * 1000:.0f} ms, p90 {delays[int(0.9 * (len(delays) - 1))] * 1000:.0f}"
        f" ms, max {delays[-1] * 1000:.0f} ms\n"
        f"  ratio median / {LATENCY_TARGET_S:g} s = {median / LATENCY_TARGET_S:.3f}  "
        "target <= 1 (the page redraws from the store every 1 s on top of this)"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    bench_adam(args.repeats, args.iterations)
    bench_latency()


if __name__ == "__main__":
    main()
