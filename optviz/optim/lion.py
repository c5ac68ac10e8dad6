"""Lion: sign descent on an interpolation of momentum and gradient, found by program search."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.base import Hyperparameter, Optimizer, check, descend_, is_zero


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum): every coordinate moves by exactly ±α, the sign of a mix.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        c_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        \theta_t &= \theta_{t-1}
            - \alpha \left( \mathrm{sign}(c_t) + \lambda \theta_{t-1} \right) \\
        m_t &= \beta_2 m_{t-1} + (1 - \beta_2) g_t

    α, β1, β2, λ are ``lr``, ``betas[0]``, ``betas[1]``, ``weight_decay``; m is the state
    ``exp_avg``.

    Found by Chen et al.'s symbolic search over update programs. Two momenta: the step takes the
    sign of c_t, which weights the fresh gradient by 1 − β1 (0.1), while the momentum kept for
    later decays more slowly, β2 = 0.99. The sign makes every coordinate's step exactly α (with
    λ = 0), whatever the gradient's size, so on a 2-D contour Lion moves along the diagonals in
    equal strides; its α should be 3 to 10 times smaller than AdamW's, and λ as much larger.
    No bias correction: m_0 = 0 only shrinks c_t, which the sign ignores.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 1e-4).
        betas: (β1, β2), the mix for the step and the momentum's decay, each in [0, 1)
            (default: (0.9, 0.99)).
        weight_decay: decoupled decay λ, θ ← θ − αλθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Lion([theta], lr=0.05)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le, *Symbolic
    Discovery of Optimization Algorithms*, NeurIPS 2023, Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-4,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.99),
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check(
            (0.0 <= betas[0]) & (betas[0] < 1.0), "Invalid beta parameter at index 0: {}", betas[0]
        )
        check(
            (0.0 <= betas[1]) & (betas[1] < 1.0), "Invalid beta parameter at index 1: {}", betas[1]
        )
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        defaults = {"lr": lr, "betas": betas, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), lr, m = group["betas"], group["lr"], state["exp_avg"]
        direction = m.lerp(grad, 1 - beta1).sign_()  # sign(c_t), c_t = β1 m_{t−1} + (1 − β1) g_t
        if not is_zero(group["weight_decay"]):
            param.mul_(1 - lr * group["weight_decay"])  # θ − αλθ
        descend_(param, lr, direction)  # θ_t = θ_{t−1} − α (sign(c_t) + λθ_{t−1})
        m.lerp_(grad, 1 - beta2)  # m_t = β2 m_{t−1} + (1 − β2) g_t
