"""Stochastic gradient descent."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from optviz.optim.base import Hyperparameter, Optimizer, check, descend_, with_weight_decay


class SGD(Optimizer):
    r"""Plain stochastic gradient descent: step against the gradient, scaled by the learning rate.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        \theta_t &= \theta_{t-1} - \alpha g_t

    α is ``lr``.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate α (default: 1e-3, as ``torch.optim.SGD``).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = SGD([theta], lr=0.1)
        >>> for _ in range(100):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-6)
        True

    Reference: Robbins & Monro, *A Stochastic Approximation Method* (1951).
    """

    def __init__(
        self, params, lr: Hyperparameter = 1e-3, weight_decay: Hyperparameter = 0.0
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        grad = with_weight_decay(grad, param, group["weight_decay"])
        descend_(param, group["lr"], grad)  # θ_t = θ_{t−1} − α g_t
