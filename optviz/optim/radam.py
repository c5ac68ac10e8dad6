"""RAdam: Adam whose adaptive step is switched on only once v has seen enough gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.adam import check_adam_family
from optviz.optim.base import (
    Hyperparameter,
    Optimizer,
    decay_square_,
    is_zero,
    with_weight_decay,
)


class RAdam(Optimizer):
    r"""RAdam: momentum SGD while v is too young to trust, then Adam scaled by a rectifier r_t.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t &= m_t / (1 - \beta_1^t) \\
        \rho_\infty &= 2 / (1 - \beta_2) - 1, \quad
            \rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t) \\
        r_t &= \sqrt{\frac{(\rho_t - 4)(\rho_t - 2) \rho_\infty}
            {(\rho_\infty - 4)(\rho_\infty - 2) \rho_t}} \\
        \theta_t &= \theta_{t-1} - \alpha \, \hat m_t \cdot
            \begin{cases} r_t \sqrt{1 - \beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t > 5 \\
            1 & \text{otherwise} \end{cases}

    α, β1, β2, ε are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``; m and v are the states
    ``exp_avg`` and ``exp_avg_sq``.

    ρ_t is the length of the simple moving average that v_t's exponential one approximates;
    Liu et al. show the variance of the adaptive factor 1/√v̂ is unbounded while ρ_t ≤ 4 and
    r_t rescales it to the variance it has in the limit. Until ρ_t > 5 (ρ_1 = 1 and ρ_t grows
    by about 1 a step for β2 near 1, so the first 5 or 6 steps) the step is the un-adapted
    momentum step α m̂_t, which has no bound of its own: on a steep surface those first steps
    can be long. Convention: PyTorch's threshold 5 (the paper's Algorithm 2 uses 4), and ε added
    to √v_t before the bias correction. ``decoupled_weight_decay=True`` decays θ as AdamW does.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 1e-3).
        betas: decay rates (β1, β2), each in [0, 1) (default: (0.9, 0.999)).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: weight decay λ (default: 0).
        decoupled_weight_decay: decay θ directly, as AdamW (default: False).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = RAdam([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Liu, Jiang, He, Chen, Liu, Gao & Han, *On the Variance of the Adaptive Learning
    Rate and Beyond*, ICLR 2020, Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_avg_sq"] = torch.zeros_like(param)  # v_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t, lr = group["betas"], state["step"], group["lr"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if group["decoupled_weight_decay"] and not is_zero(group["weight_decay"]):
            param.mul_(1 - lr * group["weight_decay"])  # θ ← (1 − αλ) θ, as AdamW
        elif not group["decoupled_weight_decay"]:
            grad = with_weight_decay(grad, param, group["weight_decay"])
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        decay_square_(v, grad, beta2)  # v_t = β2 v_{t−1} + (1 − β2) g_t²
        bias2 = 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1  # ρ_∞
        rho_t = rho_inf - 2 * t * beta2**t / bias2  # ρ_t
        step = m / (1 - beta1**t) * lr  # α m̂_t, the whole step while ρ_t ≤ 5
        rectified = isinstance(rho_t, Tensor) or rho_t > 5.0
        if rectified:
            # r_t; where ρ_t ≤ 5 (a sweep's tensor ρ_t only) the root may be NaN, and is unused.
            r = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            adaptive = bias2**0.5 / v.sqrt().add_(group["eps"])  # √(1 − β2^t) / (√v_t + ε)
            adapted = step * adaptive * r
            step = torch.where(rho_t > 5.0, adapted, step) if isinstance(rho_t, Tensor) else adapted
        param.sub_(step)  # θ_t = θ_{t−1} − α m̂_t (· r_t √(1 − β2^t)/(√v_t + ε) if ρ_t > 5)
