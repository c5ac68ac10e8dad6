"""Adam: Kingma & Ba's Algorithm 1, with the bias correction optional for the §3 ablation."""

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


class Adam(Optimizer):
    r"""Adam: momentum on the gradient, RMS scaling by the squared gradient, both bias-corrected.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t &= m_t / (1 - \beta_1^t) \\
        \hat v_t &= v_t / (1 - \beta_2^t) \\
        \theta_t &= \theta_{t-1} - \alpha \, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    α, β1, β2, ε are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``; m and v are the states
    ``exp_avg`` and ``exp_avg_sq``. With ``bias_correction=False`` the hats are dropped
    (m̂ = m, v̂ = v): the paper's §3 / Figure 4 ablation, whose first steps blow up when β2 → 1
    because v starts near 0.

    The step Δ_t = α m̂_t/√v̂_t is roughly bounded (§2.1): |Δ_t| ≤ α(1 − β1)/√(1 − β2) when
    (1 − β1) > √(1 − β2), else |Δ_t| ≤ α. The code keeps the bias corrections as scalars folded
    into the last step (the "more efficient order" of §2, which PyTorch uses too), so m̂ and v̂
    never exist as tensors; the result equals Algorithm 1 to float round-off.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 1e-3).
        betas: decay rates (β1, β2) of the moment estimates, each in [0, 1)
            (default: (0.9, 0.999)).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).
        bias_correction: divide the moments by (1 − β^t) (default: True).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Adam([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015, Algorithm 1.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        bias_correction: bool = True,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "bias_correction": bias_correction,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_avg_sq"] = torch.zeros_like(param)  # v_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t = group["betas"], state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        decay_square_(v, grad, beta2)  # v_t = β2 v_{t−1} + (1 − β2) g_t²
        # m̂_t = m_t / (1 − β1^t) and v̂_t = v_t / (1 − β2^t): the corrections stay scalars folded
        # into the last two lines, so no tensor the size of θ is made for them (paper §2's order).
        bias1, bias2 = (1 - beta1**t, 1 - beta2**t) if group["bias_correction"] else (1.0, 1.0)
        denom = (v / bias2).sqrt_().add_(group["eps"])  # √v̂_t + ε
        descend_(param, group["lr"] / bias1, m, denom)  # θ_t = θ_{t−1} − α m̂_t / (√v̂_t + ε)


def check_adam_family(
    lr: Hyperparameter,
    betas: tuple[Hyperparameter, Hyperparameter],
    eps: Hyperparameter,
    weight_decay: Hyperparameter,
) -> None:
    """PyTorch's validation for Adam and Adamax, with its messages."""
    check(0.0 <= lr, "Invalid learning rate: {}", lr)
    check(0.0 <= eps, "Invalid epsilon value: {}", eps)
    check((0.0 <= betas[0]) & (betas[0] < 1.0), "Invalid beta parameter at index 0: {}", betas[0])
    check((0.0 <= betas[1]) & (betas[1] < 1.0), "Invalid beta parameter at index 1: {}", betas[1])
    check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
