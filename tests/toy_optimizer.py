"""A toy optimizer that exists only in the tests: one class and one registry entry, the whole of
what adding an optimizer takes. ``register(monkeypatch)`` adds it to ``OPTIMIZERS`` for one test.

Signum (sign descent with momentum; Bernstein et al., 2018) is small and unlike the eight: its
step is ±α per coordinate whatever the gradient's size, so its bound is exact.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from optviz.optim import OPTIMIZERS, HyperParam, Optimizer, OptimizerSpec, StateSpec, StepBound
from optviz.optim.base import check, descend_

KEY = "signum"


class Signum(Optimizer):
    r"""Signum: step by the sign of a running mean of the gradient.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        m_t &= \beta m_{t-1} + (1 - \beta) g_t \\
        \hat m_t &= m_t / (1 - \beta^t) \\
        \theta_t &= \theta_{t-1} - \alpha \, \mathrm{sign}(\hat m_t)

    α, β are ``lr``, ``beta``; m is the state ``exp_avg``.

    Reference: Bernstein, Wang, Azizzadenesheli & Anandkumar, *signSGD: Compressed Optimisation
    for Non-Convex Problems* (ICML 2018).
    """

    def __init__(
        self, params: Any, lr: float = 1e-3, beta: float = 0.9, bias_correction: bool = True
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check((0.0 <= beta) & (beta < 1.0), "Invalid beta value: {}", beta)
        super().__init__(params, {"lr": lr, "beta": beta, "bias_correction": bias_correction})

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        beta, m = group["beta"], state["exp_avg"]
        m.lerp_(grad, 1 - beta)  # m_t = β m + (1 − β) g
        # sign(m̂) = sign(m): the correction is a positive scale, kept for the internals panel.
        descend_(param, group["lr"], m.sign())


SPEC = OptimizerSpec(
    KEY,
    Signum,
    "Signum",
    "#2CA02C",
    (
        HyperParam("lr", r"\alpha", 1e-3, 1e-5, 10.0, "log", "Step size α."),
        HyperParam("beta", r"\beta", 0.9, 0.0, 0.999, "decay", "β: decay of the mean m."),
        HyperParam("bias_correction", r"1 - \beta^t", True, scale="bool"),
    ),
    state=(StateSpec("exp_avg", "m", "mean of g", corrected_by="beta"),),
    step_bound=lambda h: StepBound(float(h["lr"]), "α", "sign step"),
    bias_correction="bias_correction",
    paper_settings={"lr": 1e-4},
)


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add the toy to ``OPTIMIZERS`` until the test ends."""
    monkeypatch.setitem(OPTIMIZERS, KEY, SPEC)
