"""The Adam paper's experiments as sweeps: what each trains, and its claims checked on the results.

``PAPER_EXPERIMENTS`` is the registry the Paper lab page reads: each ``PaperExperiment`` says its
setup (model, data, schedule, the paper's section), its presets (``quick``: small enough for two
CPU cores in a few minutes; ``full``: the paper's settings, for a GPU cluster), which
optimizers it compares in which variants (Fig. 2: with and without dropout; Fig. 4: every β1 ×
β2 × bias correction, a variant's ``settings`` being optimizer hyperparameters), and its claims.
A preset is a grid of α per optimizer; the sweep trains every point (``PaperExperiment.plan``)
and ``results`` groups the finished runs by variant (a run belongs to the variant whose every
setting it has). Its ``figure`` says how they are read: "curves" (Figs. 1–2) shows each
optimizer at its best α (``Results.best``: the lowest final training cost, §6); "alpha"
(Fig. 4) shows every grid point's loss after a few and after all epochs (``Results.points``).
Each claim is computed from the results into ✔, ✘ or "not enough runs yet".

Adding an experiment is one entry in ``PAPER_EXPERIMENTS`` once its model is in ``MODELS``.
Pure: no Streamlit, no store; results come in as ``RunCurve`` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optviz.optim import OPTIMIZERS
from optviz.training.config import TrainConfig
from optviz.training.datasets import DATASETS
from optviz.training.models import MODELS
from optviz.training.sweeps import RunCurve, SweepPlan

PASS, FAIL, PENDING = "✔", "✘", "not enough runs yet"
FINAL_FRACTION = 0.2  # the final training cost: the mean of the last 20 % of a run's points …
MIN_FINAL_POINTS = 3  # … and of at least this many, so one noisy minibatch cannot decide


@dataclass(frozen=True)
class Variant:
    """One part of an experiment: the same grid trained with these settings (dropout, and
    optimizer hyperparameters such as Fig. 4's β1, β2 and bias correction)."""

    key: str
    label: str
    dropout: float = 0.0
    settings: tuple[tuple[str, float | bool], ...] = ()  # (hyperparameter name, value) pairs

    def matches(self, config: TrainConfig) -> bool:
        """Whether a run of ``config`` belongs to this variant: every one of its settings (the
        optimizer's registry default where the config leaves one out) and its dropout."""
        if config.dropout != self.dropout:
            return False
        values = dict(config.hyperparams)
        if config.optimizer in OPTIMIZERS:
            values = OPTIMIZERS[config.optimizer].defaults() | values
        return all(name in values and values[name] == value for name, value in self.settings)

    def setting(self, name: str) -> float | bool:
        return dict(self.settings)[name]


@dataclass(frozen=True)
class Preset:
    """How much to train: data, epochs and the α grid of each optimizer."""

    key: str
    label: str
    epochs: int
    train_subset: int
    test_subset: int
    grids: Mapping[str, tuple[float, ...]]  # optimizer key → α values
    note: str = ""
    early_epoch: int | None = None  # "after a few epochs" (Fig. 4's left panels); None: unused


@dataclass(frozen=True)
class Verdict:
    mark: str  # PASS, FAIL or PENDING
    detail: str  # the numbers behind it, for a person


@dataclass(frozen=True)
class Claim:
    text: str  # what the paper says, as a sentence ("{epochs}" is filled in)
    check: Callable[[Results], Verdict]


@dataclass(frozen=True)
class Best:
    """An optimizer's best run of a variant: the α with the lowest final training cost."""

    optimizer: str
    variant: str
    lr: float
    final_cost: float
    mean_cost: float  # over the whole run: how fast the cost fell (area under the curve)
    curve: RunCurve


@dataclass(frozen=True)
class Point:
    """One finished grid point, as Fig. 4 draws it: its loss after a few and after all epochs."""

    variant: str
    optimizer: str
    lr: float
    status: str  # done or diverged
    early_cost: (
        float  # mean training cost over the preset's ``early_epoch`` (inf: diverged by then)
    )
    final_cost: float  # over the run's last epoch (inf: diverged)

    def cost(self, early: bool) -> float:
        return self.early_cost if early else self.final_cost


@dataclass(frozen=True)
class Results:
    """A sweep's finished runs, grouped as the claims read them."""

    experiment: PaperExperiment
    preset: Preset
    best: dict[tuple[str, str], Best]  # (variant, optimizer) → its best run
    finished: dict[tuple[str, str], int]  # (variant, optimizer) → finished grid points
    points: dict[tuple[str, str, float], Point]  # (variant, optimizer, α) → its result

    def complete(self, variant: str, optimizers: Sequence[str]) -> bool:
        """Every α of these optimizers' grids has a result in the variant."""
        return all(
            self.finished.get((variant, key), 0) == len(self.preset.grids[key])
            for key in optimizers
        )


@dataclass(frozen=True)
class PaperExperiment:
    key: str
    title: str
    section: str  # where in the paper
    model: str  # key of MODELS
    schedule: str  # key of SCHEDULES
    optimizers: tuple[str, ...]
    variants: tuple[Variant, ...]
    presets: Mapping[str, Preset]
    claims: tuple[Claim, ...]
    what: str  # the setup in a sentence or two
    batch_size: int = 128
    # What the figure and the results are: "curves" (each optimizer's training cost at its best
    # α, Figs. 1–3) or "alpha" (the loss of every grid point against log10 α after a few and
    # after all epochs, one panel per β1 × epochs, a line per β2 with and without bias
    # correction: Fig. 4).
    figure: str = "curves"
    dataset: str = "mnist"  # key of DATASETS
    # A stand-in offered when ``dataset`` is absent (Fig. 3: Fashion-MNIST for CIFAR-10, which
    # cannot be installed offline); the same sweep then trains on it (``on``).
    fallback: str | None = None

    def on(self, dataset: str) -> PaperExperiment:
        """The same experiment trained on ``dataset`` (a different sweep: its runs differ)."""
        if dataset == self.dataset:
            return self
        return replace(
            self, dataset=dataset, title=f"{self.title} (on {DATASETS[dataset].label} instead)"
        )

    def variant_of(self, config: TrainConfig) -> Variant | None:
        """The variant a run belongs to (matched on all of the variant's settings)."""
        return next((v for v in self.variants if v.matches(config)), None)

    def plan(self, preset: str) -> SweepPlan:
        """Every (variant, optimizer, α) of the preset as a sweep."""
        chosen = self.presets[preset]
        runs = []
        for variant in self.variants:
            for key in self.optimizers:
                for lr in chosen.grids[key]:
                    config = TrainConfig(
                        model=self.model,
                        dataset=self.dataset,
                        optimizer=key,
                        hyperparams={**OPTIMIZERS[key].paper(), **dict(variant.settings), "lr": lr},
                        schedule=self.schedule,
                        epochs=chosen.epochs,
                        batch_size=self.batch_size,
                        train_subset=chosen.train_subset,
                        test_subset=chosen.test_subset,
                        dropout=variant.dropout,
                    )
                    runs.append((run_label(key, variant, lr, len(self.variants)), config))
        description = f"{self.title} · {chosen.label}"
        return SweepPlan(self.key, preset, description, tuple(runs))

    def setup(self, preset: str) -> str:
        """The setup in Markdown: model, data, schedule, grids, epochs, the paper's section."""
        chosen = self.presets[preset]
        lines = [
            f"**{self.title}** ({self.section}). {self.what}",
            "",
            f"- Model: {MODELS[self.model].label}; data: {DATASETS[self.dataset].label}, the first "
            f"{chosen.train_subset:,} training images, minibatch {self.batch_size}; "
            f"{chosen.epochs} epoch(s); training cost evaluated on the minibatches.",
        ]
        if len(self.variants) > 1 and self.variants[0].settings:
            lines.append(f"- {len(self.variants)} variants: every {variant_grid(self.variants)}.")
        elif len(self.variants) > 1:
            lines.append("- Variants: " + "; ".join(v.label for v in self.variants) + ".")
        if self.figure == "alpha":
            lines.append(
                f"- Every grid point is shown: the training cost after {chosen.early_epoch} and "
                f"after {chosen.epochs} epochs (the mean over that epoch's minibatches); "
                "α grid:"
            )
        else:
            lines.append(
                "- α grid per optimizer (each shown at its best α: the lowest final training cost):"
            )
        for key in self.optimizers:
            grid = ", ".join(f"{lr:g}" for lr in chosen.grids[key])
            lines.append(f"  - {OPTIMIZERS[key].label}: {grid}")
        total = len(self.plan(preset).runs)
        lines.append(f"- {total} runs in all. {chosen.note}".rstrip())
        return "\n".join(lines)

    def results(self, preset: str, curves: Sequence[RunCurve]) -> Results:
        """Group a sweep's curves and pick each optimizer's best α (finished runs only)."""
        chosen = self.presets[preset]
        best: dict[tuple[str, str], Best] = {}
        finished: dict[tuple[str, str], int] = {}
        points: dict[tuple[str, str, float], Point] = {}
        for curve in curves:
            c = curve.config
            variant = self.variant_of(c)
            if curve.status not in ("done", "diverged") or variant is None:
                continue
            if c.optimizer not in self.optimizers:
                continue
            lr = float(c.hyperparams["lr"])
            if lr not in chosen.grids[c.optimizer]:
                continue
            group = (variant.key, c.optimizer)
            finished[group] = finished.get(group, 0) + 1
            early = epoch_cost(curve, chosen.early_epoch or c.epochs)
            last = epoch_cost(curve, c.epochs)
            points[(*group, lr)] = Point(variant.key, c.optimizer, lr, curve.status, early, last)
            if curve.status != "done" or not len(curve.losses):
                continue  # a diverged α is a result, but never the best one
            candidate = Best(c.optimizer, group[0], lr, final_cost(curve), mean_cost(curve), curve)
            if group not in best or candidate.final_cost < best[group].final_cost:
                best[group] = candidate
        return Results(self, chosen, best, finished, points)

    def shown(self, preset: str, curves: Sequence[RunCurve]) -> list[tuple[Variant, str, RunCurve]]:
        """What the figure draws: per variant and optimizer its best finished α so far, or,
        before any of its runs finished, the one training with the lowest cost so far."""
        results = self.results(preset, curves)
        training: dict[tuple[str, str], RunCurve] = {}
        for curve in curves:
            variant = self.variant_of(curve.config)
            if curve.status != "running" or variant is None or not len(curve.losses):
                continue
            group = (variant.key, curve.config.optimizer)
            if group not in training or final_cost(curve) < final_cost(training[group]):
                training[group] = curve
        out = []
        for variant in self.variants:
            for key in self.optimizers:
                group = (variant.key, key)
                if group in results.best:
                    out.append((variant, key, results.best[group].curve))
                elif group in training:
                    out.append((variant, key, training[group]))
        return out

    def verdicts(self, results: Results) -> list[tuple[str, Verdict]]:
        """Each claim as a sentence with its verdict on these results."""
        epochs = results.preset.epochs
        return [(claim.text.format(epochs=epochs), claim.check(results)) for claim in self.claims]


SETTING_NAMES = {"beta1": "β1", "beta2": "β2", "bias_correction": "bias correction"}


def variant_grid(variants: Sequence[Variant]) -> str:
    """The variants' settings as a grid: "β1 ∈ {0, 0.9} × β2 ∈ {0.99, 0.999} × …"."""
    values: dict[str, list] = {}
    for variant in variants:
        for name, value in variant.settings:
            if value not in values.setdefault(name, []):
                values[name].append(value)
    return " × ".join(
        f"{SETTING_NAMES.get(name, name)} ∈ {{{', '.join(_setting(v) for v in vs)}}}"
        for name, vs in values.items()
    )


def _setting(value: float | bool) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else f"{value:g}"


def sweep_dataset(experiment: PaperExperiment, missing: bool, use_fallback: bool) -> str | None:
    """The dataset a sweep of ``experiment`` trains on: its own when present (``missing``: its
    loader raised ``DataUnavailable``); its fallback when its own is missing and the person
    chose the stand-in; None when neither (nothing can start)."""
    if not missing:
        return experiment.dataset
    if use_fallback and experiment.fallback is not None:
        return experiment.fallback
    return None


def run_label(optimizer: str, variant: Variant, lr: float, variants: int) -> str:
    label = f"{OPTIMIZERS[optimizer].label} α={lr:g}"
    return f"{label} ({variant.label})" if variants > 1 else label


def final_cost(curve: RunCurve) -> float:
    """The mean training cost of the run's last points (see ``FINAL_FRACTION``)."""
    losses = curve.losses[np.isfinite(curve.losses)]
    if not len(losses):
        return float("inf")
    last = max(MIN_FINAL_POINTS, int(np.ceil(FINAL_FRACTION * len(losses))))
    return float(np.mean(losses[-last:]))


def epoch_cost(curve: RunCurve, epoch: int) -> float:
    """The training cost "after ``epoch`` epochs": the mean over that epoch's points (those in
    (epoch − 1, epoch]); inf when the run diverged before the epoch ended or has no point in it."""
    if curve.status == "diverged" and (not len(curve.epochs) or curve.epochs.max() < epoch):
        return float("inf")
    inside = (curve.epochs > epoch - 1) & (curve.epochs <= epoch) & np.isfinite(curve.losses)
    return float(np.mean(curve.losses[inside])) if inside.any() else float("inf")


def mean_cost(curve: RunCurve) -> float:
    """The training cost averaged over the run's epochs (trapezoids): lower fell faster."""
    keep = np.isfinite(curve.losses) & np.isfinite(curve.epochs)
    x, y = curve.epochs[keep], curve.losses[keep]
    if len(x) < 2 or x[-1] <= x[0]:
        return float(np.mean(y)) if len(y) else float("inf")
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


# --- claims ---------------------------------------------------------------------------------


def _name(key: str) -> str:
    return OPTIMIZERS[key].label


def _best_or_pending(
    results: Results, variant: str, keys: Sequence[str]
) -> dict[str, Best] | Verdict:
    """The variant's best runs of these optimizers, or PENDING until their grids are done."""
    if not results.complete(variant, keys):
        done = sum(results.finished.get((variant, k), 0) for k in keys)
        grid = sum(len(results.preset.grids[k]) for k in keys)
        return Verdict(PENDING, f"{done} of {grid} runs finished")
    missing = [k for k in keys if (variant, k) not in results.best]
    if missing:
        return Verdict(FAIL, f"{', '.join(map(_name, missing))}: every α diverged")
    return {k: results.best[(variant, k)] for k in keys}


def _numbers(best: Mapping[str, Best], attribute: str) -> str:
    return ", ".join(
        f"{_name(k)} {getattr(b, attribute):.4f} (α={b.lr:g})" for k, b in best.items()
    )


def lowest(
    variant: str, keys: Sequence[str], attribute: str = "final_cost"
) -> Callable[[Results], Verdict]:
    """Claim: Adam's ``attribute`` (final or mean training cost) is the lowest of ``keys``."""

    def check(results: Results) -> Verdict:
        best = _best_or_pending(results, variant, keys)
        if isinstance(best, Verdict):
            return best
        winner = min(best, key=lambda k: getattr(best[k], attribute))
        return Verdict(PASS if winner == "adam" else FAIL, _numbers(best, attribute))

    return check


def matches(variant: str, other: str, tolerance: float = 0.1) -> Callable[[Results], Verdict]:
    """Claim: Adam's final training cost is at most ``other``'s, or within ``tolerance`` of it."""

    def check(results: Results) -> Verdict:
        best = _best_or_pending(results, variant, ("adam", other))
        if isinstance(best, Verdict):
            return best
        adam, rival = best["adam"].final_cost, best[other].final_cost
        ok = adam <= rival * (1 + tolerance)
        return Verdict(PASS if ok else FAIL, _numbers(best, "final_cost"))

    return check


def beats(variant: str, other: str) -> Callable[[Results], Verdict]:
    """Claim: Adam's final training cost is below ``other``'s."""
    return lowest(variant, ("adam", other))


def corrected_key(beta1: float, beta2: float, corrected: bool) -> str:
    """Fig. 4's variant key of one (β1, β2, bias correction) setting."""
    return f"b1={beta1:g} b2={beta2:g} {'corrected' if corrected else 'uncorrected'}"


def _points_or_pending(
    results: Results, variants: Sequence[str]
) -> dict[str, dict[float, Point]] | Verdict:
    """Each variant's grid points (α → point), or PENDING until every α of them finished."""
    if not all(results.complete(v, results.experiment.optimizers) for v in variants):
        done = sum(results.finished.get((v, "adam"), 0) for v in variants)
        grid = len(variants) * len(results.preset.grids["adam"])
        return Verdict(PENDING, f"{done} of {grid} runs finished")
    out: dict[str, dict[float, Point]] = {v: {} for v in variants}
    for (variant, _, lr), point in results.points.items():
        if variant in out:
            out[variant][lr] = point
    return out


def _cost(value: float) -> str:
    return f"{value:.1f}" if np.isfinite(value) else "diverged"


def unstable_without_correction(beta2: float, margin: float = 0.5) -> Callable[[Results], Verdict]:
    """Claim (§3, Fig. 4): without bias correction, β2 = ``beta2`` is unstable at large α. For
    each β1: at the largest α where the corrected run has a loss after a few epochs, the
    uncorrected one diverged or its loss then is at least ``1 + margin`` times the corrected."""

    def check(results: Results) -> Verdict:
        beta1s = sorted({float(v.setting("beta1")) for v in results.experiment.variants})
        keys = [corrected_key(b1, beta2, c) for b1 in beta1s for c in (True, False)]
        points = _points_or_pending(results, keys)
        if isinstance(points, Verdict):
            return points
        ok, details = True, []
        for b1 in beta1s:
            corrected = points[corrected_key(b1, beta2, True)]
            uncorrected = points[corrected_key(b1, beta2, False)]
            stable = [lr for lr, p in corrected.items() if np.isfinite(p.early_cost)]
            if not stable:
                ok = False
                details.append(f"β1={b1:g}: the corrected runs diverged at every α")
                continue
            lr = max(stable)
            fixed, raw = corrected[lr].early_cost, uncorrected[lr].early_cost
            ok &= not np.isfinite(raw) or raw >= (1 + margin) * fixed
            details.append(f"β1={b1:g}, α={lr:g}: {_cost(raw)} without, {_cost(fixed)} with")
        return Verdict(PASS if ok else FAIL, "; ".join(details))

    return check


def correction_never_worse(tolerance: float = 0.05) -> Callable[[Results], Verdict]:
    """Claim (Fig. 4): with bias correction the best loss after all epochs (over α) is at least
    as good as without (within ``tolerance``), for every β1 and β2."""

    def check(results: Results) -> Verdict:
        settings = sorted(
            {
                (float(v.setting("beta1")), float(v.setting("beta2")))
                for v in results.experiment.variants
            }
        )
        keys = [corrected_key(b1, b2, c) for b1, b2 in settings for c in (True, False)]
        points = _points_or_pending(results, keys)
        if isinstance(points, Verdict):
            return points
        ok, details = True, []
        for b1, b2 in settings:
            best = [
                min(p.final_cost for p in points[corrected_key(b1, b2, c)].values())
                for c in (True, False)
            ]
            ok &= best[0] <= best[1] * (1 + tolerance) or not np.isfinite(best[1])
            details.append(f"β1={b1:g} β2={b2:g}: {_cost(best[0])} with, {_cost(best[1])} without")
        return Verdict(PASS if ok else FAIL, "; ".join(details))

    return check


# --- the registry ---------------------------------------------------------------------------

FIG1_OPTIMIZERS = ("adam", "nesterov", "adagrad")
FIG2_OPTIMIZERS = ("adam", "adagrad", "rmsprop", "nesterov", "adadelta")
FIG3_OPTIMIZERS = ("adam", "adagrad", "nesterov")
ONE = (Variant("plain", "no dropout"),)
DROPOUT = (Variant("dropout", "with dropout", 0.5), Variant("plain", "without dropout"))
FIG4_BETA1 = (0.0, 0.9)
FIG4_BETA2 = (0.99, 0.999, 0.9999)
BIAS_CORRECTION = tuple(
    Variant(
        corrected_key(b1, b2, corrected),
        f"β1={b1:g}, β2={b2:g}, {'with' if corrected else 'without'} bias correction",
        settings=(("beta1", b1), ("beta2", b2), ("bias_correction", corrected)),
    )
    for b1 in FIG4_BETA1
    for b2 in FIG4_BETA2
    for corrected in (True, False)
)


def _grid(low: float, points: int) -> tuple[float, ...]:
    """``points`` α values from ``low`` up, half a decade apart: 1, 3, 10, 30, … × ``low``."""
    return tuple(float(f"{low * 10 ** (i // 2) * (3 if i % 2 else 1):.3g}") for i in range(points))


PAPER_EXPERIMENTS: dict[str, PaperExperiment] = {
    experiment.key: experiment
    for experiment in (
        PaperExperiment(
            key="fig1",
            title="Figure 1 (left): logistic regression on MNIST",
            section="Kingma & Ba 2015, §6.1",
            model="logreg",
            schedule="inv_sqrt",
            optimizers=FIG1_OPTIMIZERS,
            variants=ONE,
            what=(
                "L2-free multiclass logistic regression, minibatch 128, step size decayed as "
                "α_t = α/√t; Adam against SGD with Nesterov momentum and Adagrad, each at its "
                "best α from a grid. The paper: Adam converges as fast as SGD with Nesterov "
                "momentum, and both faster than Adagrad."
            ),
            presets={
                "quick": Preset(
                    "quick",
                    "quick (2 epochs on 10,000 images)",
                    epochs=2,
                    train_subset=10_000,
                    test_subset=1_000,
                    grids={
                        "adam": (0.01, 0.03, 0.1),
                        "nesterov": (0.1, 0.3, 1.0),
                        "adagrad": (0.03, 0.1, 0.3),
                    },
                    note="A couple of minutes on two CPU cores.",
                ),
                "full": Preset(
                    "full",
                    "full (the paper's 45 epochs on 60,000 images)",
                    epochs=45,
                    train_subset=60_000,
                    test_subset=10_000,
                    grids={
                        "adam": _grid(1e-3, 7),
                        "nesterov": _grid(0.01, 7),
                        "adagrad": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
                    },
                    note="Hours on a CPU: meant for a cluster (RAY_ADDRESS).",
                ),
            },
            claims=(
                Claim(
                    "Adam's training cost is the lowest of the three after {epochs} epoch(s)",
                    lowest("plain", FIG1_OPTIMIZERS),
                ),
                Claim(
                    "Adam matches SGD with Nesterov momentum (final cost at most 10 % higher)",
                    matches("plain", "nesterov"),
                ),
                Claim("Adam beats Adagrad (lower final training cost)", beats("plain", "adagrad")),
            ),
        ),
        PaperExperiment(
            key="fig2",
            title="Figure 2: multilayer neural networks on MNIST",
            section="Kingma & Ba 2015, §6.2",
            model="mlp",
            schedule="constant",
            optimizers=FIG2_OPTIMIZERS,
            variants=DROPOUT,
            what=(
                "The 784-1000-1000-10 ReLU network, minibatch 128, with and without dropout; "
                "Adam, Adagrad, RMSprop, SGD with Nesterov momentum and AdaDelta, each at its "
                "best α. The paper: Adam's cost falls fastest, with dropout and without."
            ),
            presets={
                "quick": Preset(
                    "quick",
                    "quick (1 epoch on 3,000 images)",
                    epochs=1,
                    train_subset=3_000,
                    test_subset=500,
                    grids={
                        "adam": (1e-3, 3e-3, 1e-2),
                        "adagrad": (3e-3, 1e-2, 3e-2),
                        "rmsprop": (3e-4, 1e-3, 3e-3),
                        "nesterov": (1e-2, 3e-2, 0.1),
                        "adadelta": (0.3, 1.0, 3.0),
                    },
                    note="A few minutes on two CPU cores.",
                ),
                "full": Preset(
                    "full",
                    "full (50 epochs on 60,000 images; the paper's plot runs to 200)",
                    epochs=50,
                    train_subset=60_000,
                    test_subset=10_000,
                    grids={
                        "adam": _grid(1e-4, 5),
                        "adagrad": _grid(1e-3, 5),
                        "rmsprop": _grid(1e-5, 5),
                        "nesterov": _grid(1e-3, 5),
                        "adadelta": _grid(0.1, 5),
                    },
                    note="A GPU cluster's job (RAY_ADDRESS); a run is capped at 50 epochs.",
                ),
            },
            claims=(
                Claim(
                    "With dropout, Adam's training cost falls fastest of the five "
                    "(lowest mean cost over {epochs} epoch(s))",
                    lowest("dropout", FIG2_OPTIMIZERS, "mean_cost"),
                ),
                Claim(
                    "Without dropout, Adam's training cost falls fastest of the five",
                    lowest("plain", FIG2_OPTIMIZERS, "mean_cost"),
                ),
                Claim(
                    "With dropout, Adam ends with the lowest training cost",
                    lowest("dropout", FIG2_OPTIMIZERS),
                ),
            ),
        ),
        PaperExperiment(
            key="fig3",
            title="Figure 3: convolutional neural networks on CIFAR-10",
            section="Kingma & Ba 2015, §6.3",
            model="cnn-paper",
            dataset="cifar10",
            fallback="fashion-mnist",
            schedule="constant",
            optimizers=FIG3_OPTIMIZERS,
            variants=(Variant("dropout", "with dropout", 0.5),),
            what=(
                "The c64-c64-c128-1000 network (three 5×5 convolutions with 3×3 max-pooling of "
                "stride 2, then 1000 ReLU units), dropout on the input and the fully connected "
                "layer, minibatch 128; Adam, Adagrad and SGD with Nesterov momentum, each at its "
                "best α. The paper: Adam and SGD converge faster than Adagrad, Adam marginally "
                "ahead of SGD."
            ),
            presets={
                "quick": Preset(
                    "quick",
                    "quick (1 epoch on 1,000 images)",
                    epochs=1,
                    train_subset=1_000,
                    test_subset=200,
                    grids={
                        "adam": (1e-4, 3e-4, 1e-3),
                        "adagrad": (1e-3, 3e-3, 1e-2),
                        "nesterov": (3e-3, 1e-2, 3e-2),
                    },
                    note="A few minutes on two CPU cores: the CNN is slow on a CPU.",
                ),
                "full": Preset(
                    "full",
                    "full (the paper's 45 epochs on 50,000 images)",
                    epochs=45,
                    train_subset=50_000,
                    test_subset=10_000,
                    grids={
                        "adam": _grid(1e-4, 5),
                        "adagrad": _grid(1e-3, 5),
                        "nesterov": _grid(1e-3, 5),
                    },
                    note="A GPU cluster's job (RAY_ADDRESS).",
                ),
            },
            claims=(
                Claim(
                    "Adam beats Adagrad (lower final training cost)", beats("dropout", "adagrad")
                ),
                Claim(
                    "Adam matches SGD with Nesterov momentum (final cost at most 10 % higher)",
                    matches("dropout", "nesterov"),
                ),
                Claim(
                    "Adam's training cost falls fastest of the three (lowest mean cost over "
                    "{epochs} epoch(s))",
                    lowest("dropout", FIG3_OPTIMIZERS, "mean_cost"),
                ),
            ),
        ),
        PaperExperiment(
            key="fig4",
            title="Figure 4: bias correction, a variational auto-encoder on MNIST",
            section="Kingma & Ba 2015, §6.4 and §3",
            model="vae",
            schedule="constant",
            optimizers=("adam",),
            variants=BIAS_CORRECTION,
            figure="alpha",
            what=(
                "A VAE (one hidden layer of 500 softplus units, a 50-d Gaussian latent) trained "
                "with Adam for every β1 ∈ {0, 0.9}, β2 ∈ {0.99, 0.999, 0.9999} and α, with and "
                "without the bias correction of §3; the loss is the −ELBO per image in nats. "
                "The paper: without the correction, β2 close to 1 makes the first steps too "
                "large and training unstable, while with it the loss is as good or better "
                "everywhere."
            ),
            presets={
                "quick": Preset(
                    "quick",
                    "quick (3 epochs on 2,000 images)",
                    epochs=3,
                    train_subset=2_000,
                    test_subset=500,
                    grids={"adam": (1e-4, 1e-3, 1e-2)},
                    early_epoch=1,
                    note="A few minutes on two CPU cores.",
                ),
                "full": Preset(
                    "full",
                    "full (50 epochs on 60,000 images; the paper's plot runs to 100)",
                    epochs=50,
                    train_subset=60_000,
                    test_subset=10_000,
                    grids={"adam": (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)},
                    early_epoch=10,
                    note="A GPU cluster's job (RAY_ADDRESS); a run is capped at 50 epochs.",
                ),
            },
            claims=(
                Claim(
                    "Without bias correction, β2 = 0.9999 is unstable at large α (diverges, or "
                    "its loss after a few epochs is ≥ 1.5 × the corrected run's)",
                    unstable_without_correction(0.9999),
                ),
                Claim(
                    "With bias correction, the best loss after {epochs} epoch(s) is at least as "
                    "good as without (within 5 %), for every β1 and β2",
                    correction_never_worse(),
                ),
            ),
        ),
    )
}
DEFAULT_EXPERIMENT = "fig1"
PRESETS = ("quick", "full")
