"""AMSGrad: Adam that never lets its second moment shrink (PyTorch's ``Adam(amsgrad=True)``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.adam import check_adam_family
from optviz.optim.base import (
    Hyperparameter,
    Optimizer,
    decay_square_,
    descend_,
    with_weight_decay,
)


class AMSGrad(Optimizer):
    r"""AMSGrad: Adam divided by the running maximum of its second moment, so steps never grow.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        u_t &= \max(u_{t-1}, v_t) \\
        \hat m_t &= m_t / (1 - \beta_1^t) \\
        \hat u_t &= u_t / (1 - \beta_2^t) \\
        \theta_t &= \theta_{t-1} - \alpha \, \hat m_t / (\sqrt{\hat u_t} + \epsilon)

    α, β1, β2, ε are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``; m, v and u are the states
    ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq``.

    Reddi et al. show Adam can fail to converge when rare large gradients are forgotten as v
    decays; keeping the largest v so far makes the effective learning rate α/√u non-increasing.
    Convention: PyTorch's. The paper's Algorithm 2 has no bias correction and takes the max of
    v itself; PyTorch takes the max of the raw v and divides it by the current (1 − β2^t), and
    keeps Adam's bias-corrected m̂. Since u ≥ v, each step is at most Adam's for the same m and
    v, so Adam's §2.1 bound holds.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 1e-3).
        betas: decay rates (β1, β2), each in [0, 1) (default: (0.9, 0.999)).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = AMSGrad([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Reddi, Kale & Kumar, *On the Convergence of Adam and Beyond*, ICLR 2018,
    Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_avg_sq"] = torch.zeros_like(param)  # v_0 = 0
        state["max_exp_avg_sq"] = torch.zeros_like(param)  # u_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t = group["betas"], state["step"]
        m, v, u = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        decay_square_(v, grad, beta2)  # v_t = β2 v_{t−1} + (1 − β2) g_t²
        torch.maximum(u, v, out=u)  # u_t = max(u_{t−1}, v_t)
        denom = (u / (1 - beta2**t)).sqrt_().add_(group["eps"])  # √û_t + ε
        descend_(param, group["lr"] / (1 - beta1**t), m, denom)  # θ_t = θ − α m̂_t / (√û_t + ε)
