"""AdaMax: Adam with the infinity norm in place of the L2 norm (the paper's Algorithm 2)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.adam import check_adam_family
from optviz.optim.base import Hyperparameter, Optimizer, descend_, with_weight_decay


class Adamax(Optimizer):
    r"""AdaMax: scale the step by an exponentially weighted infinity norm of past gradients.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        u_t &= \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
        \theta_t &= \theta_{t-1} - \frac{\alpha}{1 - \beta_1^t} \, m_t / u_t

    α, β1, β2, ε are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``; m and u are the states
    ``exp_avg`` and ``exp_inf``.

    Convention: PyTorch adds ε inside the max (the paper's Algorithm 2 has none), which keeps u
    positive when a gradient coordinate is exactly 0. u needs no bias correction: it is a max, not
    an average, so it is not biased towards its zero start. The step is bounded by α, |Δ_t| ≤ α.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 2e-3, the paper's choice for AdaMax).
        betas: decay rates (β1, β2), each in [0, 1) (default: (0.9, 0.999)).
        eps: ε added inside the max (default: 1e-8).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Adamax([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015, §7.1,
    Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 2e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_inf"] = torch.zeros_like(param)  # u_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t = group["betas"], state["step"]
        m, u = state["exp_avg"], state["exp_inf"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        torch.maximum(u.mul_(beta2), grad.abs().add_(group["eps"]), out=u)  # u_t = max(β2 u, |g|+ε)
        descend_(param, group["lr"] / (1 - beta1**t), m, u)  # θ_t = θ_{t−1} − α/(1 − β1^t) m_t/u_t
