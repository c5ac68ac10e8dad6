"""Adadelta: Adagrad without a global learning rate to tune, and without the ever-growing sum."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.base import (
    Hyperparameter,
    Optimizer,
    check,
    decay_square_,
    descend_,
    with_weight_decay,
)


class Adadelta(Optimizer):
    r"""Adadelta: scale each step by RMS[Δθ]/RMS[g], two decaying averages, so units match.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        v_t &= \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} \, g_t \\
        u_t &= \rho u_{t-1} + (1 - \rho) \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \alpha \Delta_t

    α, ρ, ε are ``lr``, ``rho``, ``eps``; v and u are the states ``square_avg`` and
    ``acc_delta``.

    Zeiler's paper has no α (it is 1, PyTorch's default); PyTorch adds it as a multiplier.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: multiplier α of the step (default: 1.0).
        rho: decay ρ of both running averages (default: 0.9).
        eps: ε inside both square roots (default: 1e-6).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Adadelta([theta], lr=1.0, rho=0.9, eps=1e-2)
        >>> for _ in range(300):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701 (2012).
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1.0,
        rho: Hyperparameter = 0.9,
        eps: Hyperparameter = 1e-6,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check((0.0 <= rho) & (rho <= 1.0), "Invalid rho value: {}", rho)
        check(0.0 <= eps, "Invalid epsilon value: {}", eps)
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["square_avg"] = torch.zeros_like(param)  # v_0 = 0
        state["acc_delta"] = torch.zeros_like(param)  # u_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        rho, eps = group["rho"], group["eps"]
        v, u = state["square_avg"], state["acc_delta"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        decay_square_(v, grad, rho)  # v_t = ρ v_{t−1} + (1 − ρ) g_t²
        delta = u.add(eps).sqrt_().div_(v.add(eps).sqrt_()).mul_(grad)  # Δ_t = √(u+ε)/√(v_t+ε) g_t
        decay_square_(u, delta, rho)  # u_t = ρ u_{t−1} + (1 − ρ) Δ_t²
        descend_(param, group["lr"], delta)  # θ_t = θ_{t−1} − α Δ_t
