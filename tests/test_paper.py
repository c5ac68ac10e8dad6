"""The Paper lab's registry and claims: each experiment's plan is the grid its setup describes,
each optimizer is shown at the α with the lowest final training cost, and each claim is ✔, ✘ or
"not enough runs yet" as the results say (synthetic result tables), and once on a real quick
sweep trained through the real store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from paper_support import train_sweep_here

from optviz.figures.paper import alpha_figure, paper_figure
from optviz.optim import OPTIMIZERS
from optviz.paper import (
    FAIL,
    PAPER_EXPERIMENTS,
    PASS,
    PENDING,
    corrected_key,
    epoch_cost,
    final_cost,
    mean_cost,
    sweep_dataset,
)
from optviz.training.config import TrainConfig
from optviz.training.data import load_mnist
from optviz.training.datasets import DATASETS
from optviz.training.models import MODELS
from optviz.training.store import RunStore
from optviz.training.sweeps import RunCurve, sweep_curves, sweep_progress

FIG1, FIG2, FIG4 = (PAPER_EXPERIMENTS[k] for k in ("fig1", "fig2", "fig4"))


def curve(config: TrainConfig, losses: list[float], status: str = "done") -> RunCurve:
    epochs = np.linspace(0, config.epochs, len(losses))
    return RunCurve(0, config, status, epochs, np.array(losses, dtype=float))


def table(experiment, preset: str, cost: dict[tuple[str, float], list[float]], status=None):
    """A synthetic sweep: every grid point's curve, ``cost[(optimizer, α)]`` where given (else a
    flat 1.0), for every variant (``(variant, optimizer, α)`` keys win)."""
    out = []
    for _, config in experiment.plan(preset).runs:
        lr = config.hyperparams["lr"]
        variant = experiment.variant_of(config).key
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


def test_figs_1_and_2_keep_their_sweep_keys() -> None:
    """Variants that carry hyperparameters change nothing for dropout-only experiments: the
    stored sweeps of Figs. 1–2 are found again by the same keys."""
    keys = {k: (PAPER_EXPERIMENTS[k].plan("quick").key, PAPER_EXPERIMENTS[k].plan("full").key)
            for k in ("fig1", "fig2")}  # fmt: skip
    assert keys == {
        "fig1": ("a53a0ecaa15ba46f1408", "93ef5a887200a14125c8"),
        "fig2": ("e6ec5cf10e169f7a0e1a", "c0953baf38ec488f842d"),
    }


def test_a_run_belongs_to_the_variant_whose_every_setting_it_has() -> None:
    plan = FIG4.plan("quick")
    assert len(plan.runs) == 12 * 3 and FIG4.presets["full"].grids["adam"] == (
        1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # fmt: skip
    for _, config in plan.runs:
        (variant,) = [v for v in FIG4.variants if v.matches(config)]
        assert FIG4.variant_of(config) == variant
        assert all(config.hyperparams[name] == value for name, value in variant.settings)
    config = plan.runs[0][1]
    assert (
        FIG4.variant_of(replace(config, hyperparams={**config.hyperparams, "beta2": 0.95})) is None
    )
    # A setting the config leaves out is the optimizer's default (β2 = 0.999, corrected).
    bare = replace(config, hyperparams={"lr": 1e-3, "beta1": 0.9})
    assert FIG4.variant_of(bare).key == corrected_key(0.9, 0.999, True)  # type: ignore[union-attr]
    assert FIG4.variant_of(replace(config, dropout=0.5)) is None
    # Dropout-only variants take any hyperparameters: Fig. 2 groups by dropout alone.
    assert FIG2.variant_of(replace(config, optimizer="adam", dropout=0.5)).key == "dropout"  # type: ignore[union-attr]
    assert "β1 ∈ {0, 0.9} × β2 ∈ {0.99, 0.999, 0.9999} × bias correction ∈ {on, off}" in (
        FIG4.setup("quick"))  # fmt: skip


def test_quick_presets_stay_small() -> None:
    """CI trains them in a browser: a few epochs on a subset, three α per optimizer, at most 60
    runs (Fig. 4's twelve variants)."""
    for experiment in PAPER_EXPERIMENTS.values():
        quick = experiment.presets["quick"]
        assert quick.epochs <= 3 and quick.train_subset <= 10_000
        assert all(len(grid) == 3 for grid in quick.grids.values())
        assert len(experiment.plan("quick").runs) <= 60
        full = experiment.presets["full"]
        assert full.train_subset == DATASETS[experiment.dataset].train_size
        assert all(len(g) >= 5 for g in full.grids.values())


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


def test_fig3_trains_the_paper_cnn_on_cifar10_or_on_its_stand_in_when_cifar10_is_absent() -> None:
    fig3 = PAPER_EXPERIMENTS["fig3"]
    assert (fig3.model, fig3.dataset, fig3.fallback) == ("cnn-paper", "cifar10", "fashion-mnist")
    assert {c.dataset for _, c in fig3.plan("quick").runs} == {"cifar10"}
    assert sweep_dataset(fig3, missing=False, use_fallback=True) == "cifar10"  # present: its own
    assert sweep_dataset(fig3, missing=True, use_fallback=False) is None  # absent: nothing yet
    assert sweep_dataset(fig3, missing=True, use_fallback=True) == "fashion-mnist"
    assert sweep_dataset(FIG1, missing=True, use_fallback=True) is None  # MNIST has no stand-in
    stand_in = fig3.on("fashion-mnist")
    plan = stand_in.plan("quick")
    assert {c.dataset for _, c in plan.runs} == {"fashion-mnist"} and plan.experiment == "fig3"
    assert plan.key != fig3.plan("quick").key  # its own sweep, resumable on its own
    assert [c.hyperparams for _, c in plan.runs] == [
        c.hyperparams for _, c in fig3.plan("quick").runs
    ]
    assert "data: Fashion-MNIST (clothing)" in stand_in.setup("quick")
    assert fig3.on("cifar10") is fig3 and "CIFAR-10" in fig3.setup("quick")


def fig4_table(cost, preset: str = "quick") -> list[RunCurve]:
    """A synthetic Fig. 4 sweep: ``cost(β1, β2, corrected, α)`` is (loss in the first epoch,
    loss in the last), None for a run that diverged in its first steps, or left out (None
    returned for the whole point: no curve, the run has not finished)."""
    out = []
    for _, config in FIG4.plan(preset).runs:
        h = config.hyperparams
        got = cost(h["beta1"], h["beta2"], h["bias_correction"], h["lr"])
        if got == "missing":
            continue
        if got is None:
            out.append(RunCurve(0, config, "diverged", np.array([0.04]), np.array([571.0])))
            continue
        early, last = got
        epochs = np.arange(1, 4 * config.epochs + 1) / 4  # four points an epoch
        losses = np.where(epochs <= 1, early, np.where(epochs > config.epochs - 1, last, 300.0))
        out.append(RunCurve(0, config, "done", epochs, losses))
    return out


def paper_like(b1: float, b2: float, corrected: bool, lr: float):
    """Fig. 4's story: the corrected runs are fine at every α; without the correction β2 =
    0.9999 diverges at the largest α and is a little worse elsewhere."""
    if not corrected and b2 == 0.9999 and lr == 1e-2:
        return None
    return (400.0, 200.0) if corrected else (410.0, 205.0)


def test_fig4_groups_every_grid_point_with_its_loss_after_a_few_and_all_epochs() -> None:
    results = FIG4.results("quick", fig4_table(paper_like))
    assert len(results.points) == 36
    assert all(results.finished[(v.key, "adam")] == 3 for v in FIG4.variants)
    point = results.points[(corrected_key(0.9, 0.99, True), "adam", 1e-3)]
    assert (point.status, point.early_cost, point.final_cost) == ("done", 400.0, 200.0)
    diverged = results.points[(corrected_key(0, 0.9999, False), "adam", 1e-2)]
    assert diverged.status == "diverged"
    assert diverged.early_cost == diverged.final_cost == float("inf")


def test_epoch_cost_is_the_mean_over_that_epoch_and_inf_once_diverged() -> None:
    config = FIG4.plan("quick").runs[0][1]
    run = RunCurve(0, config, "done", np.array([0.5, 1.0, 1.5, 2.0, 3.0]),
                   np.array([4.0, 2.0, 1.0, np.nan, 0.5]))  # fmt: skip
    assert epoch_cost(run, 1) == 3.0 and epoch_cost(run, 2) == 1.0 and epoch_cost(run, 3) == 0.5
    late = RunCurve(0, config, "diverged", np.array([0.5, 1.0, 1.5]), np.array([4.0, 2.0, 1.0]))
    assert epoch_cost(late, 1) == 3.0 and epoch_cost(late, 3) == float("inf")


def test_fig4_claims_follow_the_numbers_and_wait_for_their_runs() -> None:
    assert marks(FIG4, "quick", fig4_table(paper_like)) == [PASS, PASS]

    def stable(b1, b2, corrected, lr):  # no instability: uncorrected close to corrected
        return (400.0, 200.0) if corrected else (420.0, 199.0)

    assert marks(FIG4, "quick", fig4_table(stable)) == [FAIL, PASS]

    def better_without(b1, b2, corrected, lr):  # uncorrected 0.9999 blows up, yet β2 = 0.99
        if not corrected and b2 == 0.9999:  # ends lower without the correction
            return (900.0, 250.0)
        return (400.0, 180.0) if not corrected and b2 == 0.99 else (400.0, 200.0)

    results = FIG4.results("quick", fig4_table(better_without))
    verdicts = [v for _, v in FIG4.verdicts(results)]
    assert [v.mark for v in verdicts] == [PASS, FAIL]
    assert "β1=0, α=0.01: 900.0 without, 400.0 with" in verdicts[0].detail
    assert "β1=0 β2=0.99: 200.0 with, 180.0 without" in verdicts[1].detail

    def corrected_diverges(b1, b2, corrected, lr):
        return None if corrected and b2 == 0.9999 else (400.0, 200.0)

    (first, _), *_ = [(v.mark, v.detail) for _, v in FIG4.verdicts(
        FIG4.results("quick", fig4_table(corrected_diverges)))]  # fmt: skip
    assert first == FAIL

    def unfinished(b1, b2, corrected, lr):
        return "missing" if b2 == 0.9999 and not corrected and lr == 1e-4 else paper_like(
            b1, b2, corrected, lr)  # fmt: skip

    results = FIG4.results("quick", fig4_table(unfinished))
    verdicts = [v for _, v in FIG4.verdicts(results)]
    assert [v.mark for v in verdicts] == [PENDING, PENDING]
    assert verdicts[0].detail == "10 of 12 runs finished"


def test_fig4_figure_draws_loss_against_log_alpha_per_beta1_and_epochs() -> None:
    results = FIG4.results("quick", fig4_table(paper_like))
    drawn = alpha_figure(FIG4, results)
    figure = {
        "layout": drawn.to_plotly_json()["layout"],
        "data": [t.to_plotly_json() for t in drawn.data],
    }
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert titles == ["β1 = 0, after 1 epoch", "β1 = 0, after 3 epochs",
                      "β1 = 0.9, after 1 epoch", "β1 = 0.9, after 3 epochs"]  # fmt: skip
    lines = [t for t in figure["data"] if t["mode"] == "lines+markers"]
    assert len(lines) == 4 * 6  # a line per β2 × correction in each panel
    assert {t["line"]["dash"] for t in lines if "without" in t["name"]} == {"dash"}
    assert {t["line"]["dash"] for t in lines if "with correction" in t["name"]} == {"solid"}
    first = next(t for t in lines if t["name"] == "β2=0.99, with correction")
    assert list(first["x"]) == [-4.0, -3.0, -2.0]
    assert list(first["y"]) == [400.0, 400.0, 400.0]  # after 1 epoch
    gap = next(t for t in lines if t["name"] == "β2=0.9999, without correction")
    assert list(gap["x"]) == [-4.0, -3.0]  # the diverged α is a cross, not a point of the line
    crosses = [t for t in figure["data"] if t["mode"] == "markers"]
    assert len(crosses) == 4 and all(t["marker"]["symbol"] == "x" for t in crosses)
    assert {t["name"] for t in crosses} == {"β2=0.9999, without correction: diverged"}
    assert all(list(t["x"]) == [-2.0] and t["y"][0] > 400 for t in crosses)
    assert sum(t["showlegend"] for t in figure["data"]) == 6

    def blows_up(b1, b2, corrected, lr):  # a run whose loss explodes, then comes back
        return (1e13, 300.0) if (b2, corrected, lr) == (0.999, False, 1e-3) else (400.0, 200.0)

    drawn = alpha_figure(FIG4, FIG4.results("quick", fig4_table(blows_up)))
    line = next(t for t in drawn.data if t.name == "β2=0.999, without correction")
    top = drawn.layout.yaxis.range[1] / 1.04
    assert list(line.y) == [400.0, pytest.approx(top), 400.0] and 400 < top < 2000
    assert list(line.marker.symbol) == ["circle", "triangle-up", "circle"]
    assert float(line.customdata[1]) == pytest.approx(1e13, rel=1e-6)  # the real value, on hover
    empty = paper_figure(FIG4, "quick", [])
    assert not empty.data and "No finished runs yet" in empty.layout.annotations[-1].text


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
