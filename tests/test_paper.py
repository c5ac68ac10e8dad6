"""The Paper lab's registry and claims: each experiment's plan is the grid its setup describes,
each optimizer is shown at the α with the lowest final training cost, and each claim is ✔, ✘ or
"not enough runs yet" as the results say (synthetic result tables), and once on a real quick
sweep trained through the real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from paper_support import train_sweep_here

from optviz.optim import OPTIMIZERS
from optviz.paper import (
    FAIL,
    PAPER_EXPERIMENTS,
    PASS,
    PENDING,
    final_cost,
    mean_cost,
)
from optviz.training.config import TrainConfig
from optviz.training.data import load_mnist
from optviz.training.models import MODELS
from optviz.training.store import RunStore
from optviz.training.sweeps import RunCurve, sweep_curves, sweep_progress

FIG1, FIG2 = PAPER_EXPERIMENTS["fig1"], PAPER_EXPERIMENTS["fig2"]


def curve(config: TrainConfig, losses: list[float], status: str = "done") -> RunCurve:
    epochs = np.linspace(0, config.epochs, len(losses))
    return RunCurve(0, config, status, epochs, np.array(losses, dtype=float))


def table(experiment, preset: str, cost: dict[tuple[str, float], list[float]], status=None):
    """A synthetic sweep: every grid point's curve, ``cost[(optimizer, α)]`` where given (else a
    flat 1.0), for every variant (``(variant, optimizer, α)`` keys win)."""
    out = []
    for _, config in experiment.plan(preset).runs:
        lr = config.hyperparams["lr"]
        variant = next(v.key for v in experiment.variants if v.dropout == config.dropout)
        losses = cost.get((variant, config.optimizer, lr)) or cost.get((config.optimizer, lr))
        state = (status or {}).get((config.optimizer, lr), "done")
        out.append(curve(config, losses or [2.0, 1.0, 1.0, 1.0], state))
    return out


def marks(experiment, preset: str, curves) -> list[str]:
    return [v.mark for _, v in experiment.verdicts(experiment.results(preset, curves))]


def test_every_experiment_plans_its_grid_for_each_variant_with_registered_parts() -> None:
    for experiment in PAPER_EXPERIMENTS.values():
        assert experiment.model in MODELS and set(experiment.optimizers) <= set(OPTIMIZERS)
        for key, preset in experiment.presets.items():
            plan = experiment.plan(key)
            per_variant = sum(len(preset.grids[k]) for k in experiment.optimizers)
            assert len(plan.runs) == per_variant * len(experiment.variants)
            assert len(set(plan.config_keys())) == len(plan.runs)  # no configuration twice
            assert all(not c.problems() for _, c in plan.runs)
            assert all(c.schedule == experiment.schedule for _, c in plan.runs)
            setup = experiment.setup(key)
            assert experiment.section in setup and f"{len(plan.runs)} runs" in setup
            assert f"{preset.epochs} epoch(s)" in setup
    assert FIG1.schedule == "inv_sqrt" and FIG1.batch_size == 128  # α/√t, minibatch 128 (§6.1)
    assert {c.dropout for _, c in FIG2.plan("quick").runs} == {0.0, 0.5}


def test_quick_presets_stay_small() -> None:
    """CI trains them in a browser: one or two epochs, at most three α per optimizer."""
    for experiment in PAPER_EXPERIMENTS.values():
        quick = experiment.presets["quick"]
        assert quick.epochs <= 2 and quick.train_subset <= 10_000
        assert all(len(grid) == 3 for grid in quick.grids.values())
        full = experiment.presets["full"]
        assert full.train_subset == 60_000 and all(len(g) >= 5 for g in full.grids.values())


def test_costs_read_the_end_of_a_run_and_the_whole_of_it() -> None:
    config = FIG1.plan("quick").runs[0][1]
    falling = curve(config, [4, 3, 2, 1, 1, 1, 1, 1, 1, 1])
    assert final_cost(falling) == 1.0  # the last 3 points (20 % of 10 is fewer)
    assert final_cost(curve(config, [1.0, np.nan])) == 1.0
    assert mean_cost(curve(config, [2, 0])) == pytest.approx(1.0)
    assert mean_cost(falling) < mean_cost(curve(config, [4, 4, 4, 3, 2, 1, 1, 1, 1, 1]))


def test_the_best_alpha_is_the_lowest_final_cost_and_a_diverged_one_never_is() -> None:
    curves = table(
        FIG1,
        "quick",
        {("adam", 0.01): [2, 0.5, 0.5, 0.5], ("adam", 0.03): [2, 0.3, 0.3, 0.3],
         ("adam", 0.1): [2, 0.1, 0.1, 0.1]},
        status={("adam", 0.1): "diverged"},
    )  # fmt: skip
    results = FIG1.results("quick", curves)
    best = results.best[("plain", "adam")]
    assert (best.lr, best.final_cost) == (0.03, pytest.approx(0.3))
    assert results.finished[("plain", "adam")] == 3  # the diverged α counts as a result
    shown = FIG1.shown("quick", curves)
    assert [(v.key, k) for v, k, _ in shown] == [("plain", k) for k in FIG1.optimizers]


def test_fig1_claims_follow_the_numbers() -> None:
    paper_like = {("adam", 0.03): [2, 0.30, 0.30, 0.30], ("nesterov", 0.3): [2, 0.32, 0.32, 0.32],
                  ("adagrad", 0.1): [2, 0.40, 0.40, 0.40]}  # fmt: skip
    assert marks(FIG1, "quick", table(FIG1, "quick", paper_like)) == [PASS, PASS, PASS]

    # SGD-Nesterov a little ahead: Adam is not the lowest, but still within 10 %.
    close = {**paper_like, ("nesterov", 0.3): [2, 0.29, 0.29, 0.29]}
    assert marks(FIG1, "quick", table(FIG1, "quick", close)) == [FAIL, PASS, PASS]
    # Adagrad ahead of Adam, Nesterov far ahead: every claim fails.
    upside_down = {**paper_like, ("nesterov", 0.3): [2, 0.1, 0.1, 0.1],
                   ("adagrad", 0.1): [2, 0.2, 0.2, 0.2]}  # fmt: skip
    assert marks(FIG1, "quick", table(FIG1, "quick", upside_down)) == [FAIL, FAIL, FAIL]

    (text, verdict), *_ = FIG1.verdicts(FIG1.results("quick", table(FIG1, "quick", paper_like)))
    assert text == "Adam's training cost is the lowest of the three after 2 epoch(s)"
    assert "Adam 0.3000 (α=0.03)" in verdict.detail and "Adagrad 0.4000 (α=0.1)" in verdict.detail


def test_a_claim_waits_for_every_alpha_of_its_optimizers() -> None:
    everything = table(FIG1, "quick", {})
    assert PENDING not in marks(FIG1, "quick", everything)
    still_running = [c for c in everything if c.config.hyperparams["lr"] != 0.3]  # one per grid
    assert marks(FIG1, "quick", still_running) == [PENDING, PENDING, PENDING]
    (_, verdict), *_ = FIG1.verdicts(FIG1.results("quick", still_running))
    assert verdict.detail == "7 of 9 runs finished"
    failed = [c if c.config.hyperparams["lr"] != 0.3 else curve(c.config, [], "failed")
              for c in everything]  # fmt: skip
    assert marks(FIG1, "quick", failed)[0] == PENDING  # a failed run is no result: retry it
    diverged_all = table(FIG1, "quick", {}, status={("adagrad", lr): "diverged"
                                                   for lr in (0.03, 0.1, 0.3)})  # fmt: skip
    results = FIG1.results("quick", diverged_all)
    verdicts = dict(FIG1.verdicts(results))
    assert verdicts["Adam beats Adagrad (lower final training cost)"].mark == FAIL
    assert "every α diverged" in verdicts["Adam beats Adagrad (lower final training cost)"].detail


def test_fig2_claims_read_each_variant_on_its_own() -> None:
    fast = [2.0, 0.5, 0.3, 0.2, 0.2]
    slow = [2.0, 1.5, 0.8, 0.2, 0.2]  # the same end, a slower fall
    costs = {("dropout", "adam", 1e-3): fast, ("plain", "adam", 1e-3): slow,
             ("dropout", "rmsprop", 3e-4): slow, ("plain", "rmsprop", 3e-4): fast}  # fmt: skip
    got = marks(FIG2, "quick", table(FIG2, "quick", {k: v for k, v in costs.items()}))
    # With dropout Adam falls fastest; without, RMSprop does; ending costs tie (first wins).
    assert got[:2] == [PASS, FAIL]


def test_a_real_quick_fig1_sweep_through_the_store_gets_a_verdict_for_every_claim(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    plan = FIG1.plan("quick")
    assert len(train_sweep_here(store, load_mnist(), plan)) == len(plan.runs)
    assert sweep_progress(store, plan).done == len(plan.runs)
    results = FIG1.results("quick", sweep_curves(store, plan))
    assert set(results.best) == {("plain", k) for k in FIG1.optimizers}
    for key in FIG1.optimizers:
        best = results.best[("plain", key)]
        assert best.lr in FIG1.presets["quick"].grids[key] and 0 < best.final_cost < 2.4
    verdicts = FIG1.verdicts(results)
    assert [v.mark in (PASS, FAIL) for _, v in verdicts] == [True] * len(FIG1.claims)
    assert train_sweep_here(store, load_mnist(), plan) == []  # resumed: nothing to train
