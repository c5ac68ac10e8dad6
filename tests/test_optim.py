"""The optimizers against their oracles: torch.optim, the Adam paper's Algorithms 1 and 2 in NumPy,
and Lion's pseudo-code in NumPy (it has no torch.optim twin).

One table of (our class, twin, kwargs) rows drives the equivalence tests and one table of invalid
inputs drives the error tests: adding an optimizer adds rows, not test functions.
"""

from __future__ import annotations

import copy
import inspect
import re

import numpy as np
import pytest
import torch
from oracles import LionAlgorithm2, float64_scalars

from optviz.optim import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    AMSGrad,
    Lion,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSprop,
)
from optviz.optim.base import BATCH_DIM

SHAPES = [(5,), (3, 4), (2, 3, 2)]
STEPS = 60


# (id, our class, torch factory, kwargs). Non-default values exercise every term of each update.
TWINS = [
    ("sgd", SGD, torch.optim.SGD, {"lr": 0.1}),
    ("sgd-wd", SGD, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.1}),
    ("momentum", Momentum, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    (
        "momentum-damp",
        Momentum,
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    ),
    (
        "nesterov",
        Nesterov,
        lambda params, **kw: torch.optim.SGD(params, nesterov=True, **kw),
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    ),
    ("adagrad", Adagrad, torch.optim.Adagrad, {"lr": 0.3}),
    (
        "adagrad-decay",
        Adagrad,
        torch.optim.Adagrad,
        {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6},
    ),
    ("adadelta", Adadelta, torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    ("adadelta-wd", Adadelta, torch.optim.Adadelta, {"lr": 0.5, "rho": 0.95, "weight_decay": 0.1}),
    ("rmsprop", RMSprop, torch.optim.RMSprop, {"lr": 0.01}),
    (
        "rmsprop-momentum-centered",
        RMSprop,
        torch.optim.RMSprop,
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "eps": 1e-6},
    ),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.01}),
    (
        "adam-wd",
        Adam,
        torch.optim.Adam,
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05},
    ),
    ("adamax", Adamax, torch.optim.Adamax, {"lr": 0.01}),
    (
        "adamax-wd",
        Adamax,
        torch.optim.Adamax,
        {"lr": 0.02, "betas": (0.5, 0.9), "weight_decay": 0.1},
    ),
    ("adamw", AdamW, torch.optim.AdamW, {"lr": 0.01}),
    (
        "adamw-wd",
        AdamW,
        torch.optim.AdamW,
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.5},
    ),
    (
        "amsgrad",
        AMSGrad,
        lambda params, **kw: torch.optim.Adam(params, amsgrad=True, **kw),
        {"lr": 0.01},
    ),
    (
        "amsgrad-wd",
        AMSGrad,
        lambda params, **kw: torch.optim.Adam(params, amsgrad=True, **kw),
        {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-6, "weight_decay": 0.05},
    ),
    ("nadam", NAdam, float64_scalars(torch.optim.NAdam), {"lr": 0.01}),
    (
        "nadam-wd",
        NAdam,
        float64_scalars(torch.optim.NAdam),
        {"lr": 0.02, "betas": (0.8, 0.99), "momentum_decay": 0.05, "weight_decay": 0.05},
    ),
    (
        "nadam-decoupled",
        NAdam,
        float64_scalars(torch.optim.NAdam),
        {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    ("radam", RAdam, torch.optim.RAdam, {"lr": 0.01}),
    (
        "radam-wd",
        RAdam,
        torch.optim.RAdam,
        {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.05},
    ),
    (
        "radam-decoupled",
        RAdam,
        torch.optim.RAdam,
        {"lr": 0.02, "betas": (0.5, 0.99), "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    ("adafactor", Adafactor, torch.optim.Adafactor, {"lr": 0.05}),
    (
        "adafactor-all",
        Adafactor,
        torch.optim.Adafactor,
        {"lr": 0.3, "beta2_decay": -0.5, "eps": (1e-4, 1e-2), "d": 2.0, "weight_decay": 0.1},
    ),
    ("lion", Lion, LionAlgorithm2, {"lr": 0.01}),
    ("lion-wd", Lion, LionAlgorithm2, {"lr": 0.02, "betas": (0.5, 0.9), "weight_decay": 0.5}),
]
TWIN_IDS = [row[0] for row in TWINS]


def make_params(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
        for shape in SHAPES
    ]


def two_groups(params: list[torch.Tensor], kwargs: dict) -> list[dict]:
    """Two param groups, the second with half the learning rate, to exercise the group loop."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}]


def train(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: int, seed: int):
    """Steps on a loss whose gradient depends on θ (so errors would feed back), plus noise."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum(
            ((p - 0.5) ** 2 * torch.arange(1, p.numel() + 1).view(p.shape)).sum() for p in params
        )
        loss.backward()
        for p in params:
            p.grad.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
        optimizer.step()


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), [row[1:] for row in TWINS], ids=TWIN_IDS)
def test_matches_torch_twin_over_many_steps_in_float64(ours, theirs, kwargs):
    our_params, their_params = make_params(), make_params()
    our_opt = ours(two_groups(our_params, kwargs), **kwargs)
    their_opt = theirs(two_groups(their_params, kwargs), **kwargs)
    train(our_opt, our_params, STEPS, seed=1)
    train(their_opt, their_params, STEPS, seed=1)
    for mine, reference in zip(our_params, their_params, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    # Same state keys and values, so state_dict() diffs against the reference.
    for mine, reference in zip(our_params, their_params, strict=True):
        our_state, their_state = our_opt.state[mine], their_opt.state[reference]
        assert set(our_state) - {"step"} == set(their_state) - {"step"}
        for key, value in their_state.items():
            if key == "step":
                assert our_state["step"] == int(value)
            else:
                torch.testing.assert_close(our_state[key], value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), [row[1:] for row in TWINS], ids=TWIN_IDS)
def test_state_dict_resume_equals_uninterrupted_run(ours, theirs, kwargs):
    straight_params = make_params()
    straight = ours(straight_params, **kwargs)
    train(straight, straight_params, 2 * 20, seed=2)

    first_params = make_params()
    first = ours(first_params, **kwargs)
    generator_seed = 2
    train(first, first_params, 20, seed=generator_seed)
    saved = copy.deepcopy(first.state_dict())
    resumed_params = [p.detach().clone().requires_grad_() for p in first_params]
    resumed = ours(resumed_params, **kwargs)
    resumed.load_state_dict(saved)
    # Continue with the noise stream where the first half left it.
    generator = torch.Generator().manual_seed(generator_seed)
    for _ in range(20):
        for p in resumed_params:
            torch.randn(p.shape, generator=generator, dtype=p.dtype)
    for _ in range(20):
        resumed.zero_grad()
        loss = sum(
            ((p - 0.5) ** 2 * torch.arange(1, p.numel() + 1).view(p.shape)).sum()
            for p in resumed_params
        )
        loss.backward()
        for p in resumed_params:
            p.grad.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
        resumed.step()
    for mine, reference in zip(resumed_params, straight_params, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), [row[1:] for row in TWINS], ids=TWIN_IDS)
def test_torch_state_dict_loads_into_ours_and_continues_identically(ours, theirs, kwargs):
    their_params = make_params()
    their_opt = theirs(their_params, **kwargs)
    train(their_opt, their_params, 10, seed=3)
    our_params = [p.detach().clone().requires_grad_() for p in their_params]
    our_opt = ours(our_params, **kwargs)
    our_opt.load_state_dict(copy.deepcopy(their_opt.state_dict()))
    train(their_opt, their_params, 10, seed=4)
    train(our_opt, our_params, 10, seed=4)
    for mine, reference in zip(our_params, their_params, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_step_evaluates_closure_and_returns_its_loss():
    theta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (theta**2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert theta.detach().tolist() == pytest.approx([0.9, 1.9])  # Adam's first step is α·sign(g)


def test_parameters_without_gradient_are_left_alone():
    used = torch.ones(2, requires_grad=True)
    unused = torch.ones(2, requires_grad=True)
    optimizer = Adam([used, unused], lr=0.1)
    (used**2).sum().backward()
    optimizer.step()
    assert unused.tolist() == [1.0, 1.0] and unused not in optimizer.state
    assert used.tolist() != [1.0, 1.0]


# --- The paper's algorithms, transcribed line by line in NumPy ---------------------------------


def adam_algorithm_1(theta, grads, alpha, beta1, beta2, eps, bias_correction=True):
    m = np.zeros_like(theta)  # m_0 ← 0
    v = np.zeros_like(theta)  # v_0 ← 0
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t) if bias_correction else m
        v_hat = v / (1 - beta2**t) if bias_correction else v
        theta = theta - alpha * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def adamax_algorithm_2(theta, grads, alpha, beta1, beta2):
    m = np.zeros_like(theta)
    u = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        u = np.maximum(beta2 * u, np.abs(g))
        theta = theta - (alpha / (1 - beta1**t)) * m / u
    return theta


def run_on_gradients(optimizer_cls, theta0, grads, **kwargs):
    theta = torch.tensor(theta0, requires_grad=True)
    optimizer = optimizer_cls([theta], **kwargs)
    for g in grads:
        theta.grad = torch.tensor(g)
        optimizer.step()
    return theta.detach().numpy()


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize(("beta1", "beta2"), [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
def test_adam_equals_algorithm_1(bias_correction, beta1, beta2):
    rng = np.random.default_rng(0)
    theta0, grads = rng.normal(size=7), rng.normal(size=(100, 7))
    hyper = {"alpha": 0.01, "beta1": beta1, "beta2": beta2, "eps": 1e-8}
    expected = adam_algorithm_1(theta0, grads, bias_correction=bias_correction, **hyper)
    got = run_on_gradients(
        Adam,
        theta0,
        grads,
        lr=0.01,
        betas=(beta1, beta2),
        eps=1e-8,
        bias_correction=bias_correction,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_adamax_equals_algorithm_2():
    rng = np.random.default_rng(1)
    theta0, grads = rng.normal(size=7), rng.normal(size=(100, 7))
    expected = adamax_algorithm_2(theta0, grads, alpha=0.002, beta1=0.9, beta2=0.999)
    # ε = 0: the paper's Algorithm 2 has none (PyTorch adds it inside the max).
    got = run_on_gradients(Adamax, theta0, grads, lr=0.002, betas=(0.9, 0.999), eps=0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_adam_first_step_is_alpha_with_bias_correction_and_blows_up_without():
    """§3: without the correction the first step is α(1 − β1)/√(1 − β2), ≈ 3.16α at defaults."""
    grads = np.array([[0.3, -2.0]])
    corrected = run_on_gradients(Adam, np.zeros(2), grads, lr=0.01, eps=0.0)
    uncorrected = run_on_gradients(
        Adam, np.zeros(2), grads, lr=0.01, eps=0.0, bias_correction=False
    )
    np.testing.assert_allclose(np.abs(corrected), [0.01, 0.01])
    np.testing.assert_allclose(np.abs(uncorrected), 0.01 * 0.1 / np.sqrt(0.001) * np.ones(2))


@pytest.mark.parametrize(("beta1", "beta2"), [(0.9, 0.999), (0.99, 0.999), (0.5, 0.5)])
def test_adam_effective_step_respects_section_2_1_bound(beta1, beta2):
    """|Δ_t| ≤ α(1 − β1)/√(1 − β2) if (1 − β1) > √(1 − β2), else ≤ α (within float slack)."""
    rng = np.random.default_rng(2)
    # Sparse, heavy-tailed gradients: the case that pushes Δ towards its bound.
    grads = rng.standard_cauchy(size=(300, 50)) * (rng.random((300, 50)) < 0.1)
    theta = torch.zeros(50, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1.0, betas=(beta1, beta2), eps=0.0)
    bound = (1 - beta1) / np.sqrt(1 - beta2) if (1 - beta1) > np.sqrt(1 - beta2) else 1.0
    largest = 0.0
    for g in grads:
        before = theta.detach().clone()
        theta.grad = torch.tensor(g)
        optimizer.step()
        step = (theta.detach() - before).abs()
        largest = max(largest, float(step[torch.isfinite(step)].max()))
    assert 0 < largest <= bound * (1 + 1e-9)


# --- Tensor hyperparameters: B configurations in one optimizer ----------------------------------

SWEEPS = {
    "sgd": {"lr": [0.01, 0.1, 0.3]},
    "momentum": {"lr": [0.01, 0.05, 0.1], "momentum": [0.0, 0.5, 0.95]},
    "nesterov": {"lr": [0.01, 0.05, 0.1], "momentum": [0.1, 0.5, 0.95]},
    "adagrad": {"lr": [0.1, 0.5, 1.0], "eps": [1e-10, 1e-3, 1e-1]},
    "adadelta": {"lr": [0.5, 1.0, 2.0], "rho": [0.5, 0.9, 0.99], "eps": [1e-6, 1e-4, 1e-2]},
    "rmsprop": {"lr": [0.001, 0.01, 0.1], "alpha": [0.5, 0.9, 0.99], "momentum": [0.3, 0.5, 0.9]},
    "adam": {"lr": [0.001, 0.01, 0.1], "beta1": [0.0, 0.5, 0.9], "beta2": [0.5, 0.99, 0.999]},
    "adamax": {"lr": [0.002, 0.02, 0.2], "beta1": [0.0, 0.5, 0.9], "beta2": [0.5, 0.99, 0.999]},
    "adamw": {
        "lr": [0.001, 0.01, 0.1],
        "beta1": [0.0, 0.5, 0.9],
        "beta2": [0.5, 0.99, 0.999],
        "weight_decay": [0.0, 0.1, 0.5],
    },
    "amsgrad": {"lr": [0.001, 0.01, 0.1], "beta1": [0.0, 0.5, 0.9], "beta2": [0.5, 0.99, 0.999]},
    "nadam": {
        "lr": [0.002, 0.02, 0.2],
        "beta1": [0.0, 0.5, 0.9],
        "beta2": [0.5, 0.99, 0.999],
        "momentum_decay": [4e-3, 0.05, 0.5],
    },
    # β2 = 0.5 and 0.8 never rectify (ρ_∞ ≤ 9 reached slowly), 0.999 does from step 6.
    "radam": {"lr": [0.001, 0.01, 0.1], "beta1": [0.0, 0.5, 0.9], "beta2": [0.5, 0.8, 0.999]},
    "adafactor": {
        "lr": [0.01, 0.1, 1.0],
        "beta2_decay": [-0.8, -0.5, 0.0],
        "eps2": [1e-3, 0.1, 1.0],
        "d": [1.0, 2.0, 10.0],
    },
    "lion": {
        "lr": [0.001, 0.01, 0.1],
        "beta1": [0.0, 0.5, 0.9],
        "beta2": [0.5, 0.99, 0.999],
        "weight_decay": [0.0, 0.1, 0.5],
    },
}


def test_every_registered_optimizer_has_a_sweep_row():
    assert set(SWEEPS) == set(OPTIMIZERS)


@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_tensor_hyperparameters_equal_separate_runs(key):
    spec, sweep = OPTIMIZERS[key], SWEEPS[key]
    B = len(next(iter(sweep.values())))
    theta0 = torch.randn(B, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def run(theta_init, hparams, steps=40):
        theta = theta_init.clone().requires_grad_()
        # Each row of θ is one configuration's point (as each column is in the engine).
        optimizer = spec.build([{"params": [theta], BATCH_DIM: 0}], hparams)
        for _ in range(steps):
            optimizer.zero_grad()
            (theta[..., 0] ** 2 + 5 * theta[..., 1] ** 2 + theta.prod(-1)).sum().backward()
            optimizer.step()
        return theta.detach()

    batched = run(
        theta0, {k: torch.tensor(v, dtype=torch.float64)[:, None] for k, v in sweep.items()}
    )
    for b in range(B):
        single = run(theta0[b : b + 1], {k: v[b] for k, v in sweep.items()})
        torch.testing.assert_close(batched[b : b + 1], single, rtol=1e-12, atol=1e-14)


# --- Invalid inputs: PyTorch's messages --------------------------------------------------------

INVALID = [
    (SGD, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (SGD, {"lr": float("nan")}, "Invalid learning rate: nan"),
    (SGD, {"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    (Momentum, {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    (Nesterov, {"momentum": 0.0}, "Nesterov momentum requires a momentum and zero dampening"),
    # torch.optim.SGD checks lr, momentum and weight_decay before Nesterov's own condition.
    (Nesterov, {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    (Nesterov, {"lr": -1.0, "momentum": 0.0}, "Invalid learning rate: -1.0"),
    (Nesterov, {"momentum": 0.0, "weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    (Momentum, {"lr": -1.0, "momentum": -0.5}, "Invalid learning rate: -1.0"),
    (Adagrad, {"lr_decay": -1.0}, "Invalid lr_decay value: -1.0"),
    (Adagrad, {"initial_accumulator_value": -1.0}, "Invalid initial_accumulator_value value: -1.0"),
    (Adagrad, {"eps": -1e-3}, "Invalid epsilon value: -0.001"),
    (Adadelta, {"rho": 1.5}, "Invalid rho value: 1.5"),
    (Adadelta, {"rho": -0.1}, "Invalid rho value: -0.1"),
    (Adadelta, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (Adadelta, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    (Adagrad, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (RMSprop, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (RMSprop, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    (RMSprop, {"alpha": -0.1}, "Invalid alpha value: -0.1"),
    (RMSprop, {"momentum": -0.1}, "Invalid momentum value: -0.1"),
    (Adam, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (Adam, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    (Adam, {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    (Adam, {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    (Adam, {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    (Adamax, {"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
    (Adamax, {"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
    (Adamax, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (Adamax, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    (Adam, {"lr": torch.tensor([[0.1], [-0.1]])}, "Invalid learning rate"),
    (AdamW, {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    (AdamW, {"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    (AMSGrad, {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    (NAdam, {"momentum_decay": -0.1}, "Invalid momentum_decay value: -0.1"),
    (NAdam, {"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
    (RAdam, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (RAdam, {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    (Adafactor, {"lr": -1.0}, "Learning rate should be >= 0 but is: -1.0"),
    (Adafactor, {"beta2_decay": 0.5}, "beta2_decay should be <= 0 but is: 0.5"),
    (Adafactor, {"eps": (-1.0, 1e-3)}, "epsilon1 should be >= 0 but is: -1.0"),
    (Adafactor, {"eps": (None, -1.0)}, "epsilon2 should be >= 0 but is: -1.0"),
    (Adafactor, {"d": 0.5}, "Clipping threshold d should be >= 1 but is: 0.5"),
    (Adafactor, {"weight_decay": -0.1}, "weight_decay should be >= 0 but is: -0.1"),
    (Lion, {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (Lion, {"betas": (1.0, 0.99)}, "Invalid beta parameter at index 0: 1.0"),
    (Lion, {"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
]


@pytest.mark.parametrize(("cls", "kwargs", "message"), INVALID)
def test_invalid_hyperparameters_raise_pytorchs_message(cls, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        row
        for row in INVALID
        if "nan" not in row[2] and "Invalid learning rate" != row[2] and row[0] is not Lion
    ],
)
def test_torch_twin_rejects_the_same_values_with_the_same_message(cls, kwargs, message):
    """Guards the table itself: each row is something PyTorch rejects too, and the first check
    to fail is the same one (same order of checks), so the messages are equal.

    Not the NaN row (torch.optim.SGD's ``lr < 0.0`` lets NaN through; ours rejects it), the
    per-element tensor row (torch.optim takes only 1-element tensor hyperparameters), nor Lion's
    rows (its twin is the paper's pseudo-code, which checks nothing; its messages are PyTorch's
    for the same arguments of Adam).
    """
    twin = {c: t for _, c, t, _ in TWINS}[cls]
    with pytest.raises(ValueError) as theirs:
        twin([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    assert str(ours.value) == str(theirs.value) == message


def test_registry_rejects_unknown_hyperparameter_names():
    with pytest.raises(ValueError, match="Adam has no hyperparameter momentum"):
        OPTIMIZERS["adam"].build([torch.zeros(2, requires_grad=True)], {"momentum": 0.9})


@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_registry_entry_is_complete_and_builds_with_defaults(key):
    spec = OPTIMIZERS[key]
    assert spec.key == key and spec.label and spec.color.startswith("#")
    assert spec.latex.count(r"\theta_t") == 1 and spec.reference
    optimizer = spec.build([torch.zeros(2, requires_grad=True)])
    assert isinstance(optimizer, spec.cls)
    for hp in spec.hyperparams:
        assert hp.validate(hp.default) == hp.default
        if hp.scale != "bool":
            assert hp.low <= hp.default <= hp.high
            with pytest.raises(ValueError):
                hp.validate(float("nan"))
            with pytest.raises(ValueError):
                hp.validate(hp.high * 10 + 1)


def _as_sweep(cls, kwargs):
    """An INVALID row's arguments with each number (or member of a pair) that differs from the
    class default given as a ``(2, 1)`` tensor: the default (0 for Adafactor's ε1, None by
    default) in one configuration, the bad value in the other."""
    defaults = inspect.signature(cls).parameters
    swept = {}
    for name, value in kwargs.items():
        default = defaults[name].default
        if isinstance(value, tuple):
            swept[name] = tuple(
                v if v == d or v is None else torch.tensor([[d or 0.0], [v]], dtype=torch.float64)
                for v, d in zip(value, default, strict=True)
            )
        else:
            swept[name] = torch.tensor([[default], [value]], dtype=torch.float64)
    return swept


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [row for row in INVALID if not any(isinstance(v, torch.Tensor) for v in row[1].values())],
)
def test_tensor_hyperparameters_are_validated_element_wise_with_pytorchs_message(
    cls, kwargs, message
):
    """Every hyperparameter that may be a tensor (α, ε, ρ, μ, β1, β2, …): one bad element among
    good ones is refused with the message PyTorch gives for that argument."""
    prefix = message.split(":")[0]
    with pytest.raises(ValueError, match="^" + re.escape(prefix)):
        cls([torch.zeros(2, 2, requires_grad=True)], **_as_sweep(cls, kwargs))
    good = {name: torch.tensor([[0.5], [0.5]], dtype=torch.float64) for name in ("lr",)}
    cls([torch.zeros(2, 2, requires_grad=True)], **good)  # a tensor of good values is taken
