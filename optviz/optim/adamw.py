"""AdamW: Adam with the weight decay taken out of the gradient and applied to θ directly."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.adam import check_adam_family
from optviz.optim.base import Hyperparameter, Optimizer, decay_square_, descend_, is_zero


class AdamW(Optimizer):
    r"""AdamW: Adam whose weight decay shrinks θ itself instead of joining the gradient.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        \theta'_{t-1} &= (1 - \alpha\lambda) \, \theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t &= m_t / (1 - \beta_1^t) \\
        \hat v_t &= v_t / (1 - \beta_2^t) \\
        \theta_t &= \theta'_{t-1} - \alpha \, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    α, β1, β2, ε, λ are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``, ``weight_decay``; m and v
    are the states ``exp_avg`` and ``exp_avg_sq``.

    With L2 regularization folded into g (Adam's ``weight_decay``) the penalty's gradient λθ is
    divided by √v̂ like the rest of g, so weights with large gradients are barely decayed. AdamW
    decouples the two: θ shrinks by the factor (1 − αλ) every step whatever its gradient, as
    weight decay does in plain SGD. Convention: PyTorch multiplies λ by the learning rate α (the
    paper's Algorithm 2 uses a separate schedule multiplier η_t with α folded out); the default
    λ = 0.01 is PyTorch's.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 1e-3).
        betas: decay rates (β1, β2) of the moment estimates, each in [0, 1)
            (default: (0.9, 0.999)).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: decoupled decay λ, θ ← (1 − αλ)θ (default: 1e-2).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = AdamW([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019,
    Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 1e-2,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_avg_sq"] = torch.zeros_like(param)  # v_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t, lr = group["betas"], state["step"], group["lr"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if not is_zero(group["weight_decay"]):
            param.mul_(1 - lr * group["weight_decay"])  # θ'_{t−1} = (1 − αλ) θ_{t−1}
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        decay_square_(v, grad, beta2)  # v_t = β2 v_{t−1} + (1 − β2) g_t²
        denom = (v / (1 - beta2**t)).sqrt_().add_(group["eps"])  # √v̂_t + ε
        descend_(param, lr / (1 - beta1**t), m, denom)  # θ_t = θ'_{t−1} − α m̂_t / (√v̂_t + ε)
