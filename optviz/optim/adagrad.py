"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.base import Hyperparameter, Optimizer, check, descend_, with_weight_decay


class Adagrad(Optimizer):
    r"""Adagrad: divide each coordinate's step by the root of its running sum of squared gradients.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        \alpha_t &= \alpha / (1 + (t - 1)\eta) \\
        G_t &= G_{t-1} + g_t^2 \\
        \theta_t &= \theta_{t-1} - \alpha_t \, g_t / (\sqrt{G_t} + \epsilon)

    α, η, ε are ``lr``, ``lr_decay``, ``eps``; G is the state ``sum``, G_0 is
    ``initial_accumulator_value``.

    G only grows, so steps shrink for ever: good for sparse features, too timid late in training
    (the problem RMSprop, Adadelta and Adam address).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate α (default: 1e-2).
        lr_decay: learning-rate decay η (default: 0).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).
        initial_accumulator_value: G_0 (default: 0).
        eps: ε added to the denominator for numerical stability (default: 1e-10).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Adagrad([theta], lr=1.0)
        >>> for _ in range(300):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-3)
        True

    Reference: Duchi, Hazan & Singer, *Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization*, JMLR 12 (2011).
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-2,
        lr_decay: Hyperparameter = 0.0,
        weight_decay: Hyperparameter = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: Hyperparameter = 1e-10,
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check(0.0 <= lr_decay, "Invalid lr_decay value: {}", lr_decay)
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        check(
            0.0 <= initial_accumulator_value,
            "Invalid initial_accumulator_value value: {}",
            initial_accumulator_value,
        )
        check(0.0 <= eps, "Invalid epsilon value: {}", eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["sum"] = torch.full_like(param, group["initial_accumulator_value"])  # G_0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        t, G = state["step"], state["sum"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])  # α_t = α / (1 + (t − 1) η)
        G.addcmul_(grad, grad)  # G_t = G_{t−1} + g_t²
        std = G.sqrt().add_(group["eps"])  # √G_t + ε
        descend_(param, lr_t, grad, std)  # θ_t = θ_{t−1} − α_t g_t / (√G_t + ε)
