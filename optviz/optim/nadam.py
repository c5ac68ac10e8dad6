"""NAdam: Adam with Nesterov momentum, on PyTorch's warming-up momentum schedule μ_t."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.adam import check_adam_family
from optviz.optim.base import (
    Hyperparameter,
    Optimizer,
    check,
    decay_square_,
    descend_,
    is_zero,
    with_weight_decay,
)


class NAdam(Optimizer):
    r"""NAdam: Adam whose momentum looks one step ahead, as Nesterov's does.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        \mu_t &= \beta_1 \left(1 - \tfrac{1}{2} \, 0.96^{t \psi}\right) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &= v_t / (1 - \beta_2^t) \\
        \theta_t &= \theta_{t-1} - \alpha \left(
            \frac{(1 - \mu_t) \, g_t}{1 - \prod_{i \le t} \mu_i}
            + \frac{\mu_{t+1} \, m_t}{1 - \prod_{i \le t+1} \mu_i} \right)
            / (\sqrt{\hat v_t} + \epsilon)

    α, β1, β2, ε, ψ are ``lr``, ``betas[0]``, ``betas[1]``, ``eps``, ``momentum_decay``; m and v
    are the states ``exp_avg`` and ``exp_avg_sq``, and Π μ_i the state ``mu_product``.

    Nesterov's trick applied to Adam: the step uses the momentum it is about to have, μ_{t+1}
    m_t, plus the part of the fresh gradient not yet in it, (1 − μ_t) g_t, each divided out of
    its bias by the product of the μ. Convention: PyTorch's schedule (from Dozat's report), in
    which μ_t rises from β1/2 towards β1 as 0.96^{tψ} decays, so the first steps lean on the
    gradient; ψ = 0.004 by default. ``decoupled_weight_decay=True`` applies λ as AdamW does
    (θ ← (1 − αλ)θ) instead of adding λθ to g. Π μ_i is kept as a float64 tensor (PyTorch keeps
    it in the default dtype, float32 unless changed).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size α (default: 2e-3).
        betas: decay rates (β1, β2), each in [0, 1) (default: (0.9, 0.999)).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: weight decay λ (default: 0).
        momentum_decay: ψ, how fast μ_t warms up to β1 (default: 4e-3).
        decoupled_weight_decay: decay θ directly, as AdamW (default: False).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = NAdam([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR 2016 workshop.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 2e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        momentum_decay: Hyperparameter = 4e-3,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_adam_family(lr, betas, eps, weight_decay)
        check(0.0 <= momentum_decay, "Invalid momentum_decay value: {}", momentum_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["mu_product"] = torch.ones((), dtype=torch.float64)  # empty product Π μ_i = 1
        state["exp_avg"] = torch.zeros_like(param)  # m_0 = 0
        state["exp_avg_sq"] = torch.zeros_like(param)  # v_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        (beta1, beta2), t, lr = group["betas"], state["step"], group["lr"]
        m, v, psi = state["exp_avg"], state["exp_avg_sq"], group["momentum_decay"]
        if group["decoupled_weight_decay"] and not is_zero(group["weight_decay"]):
            param.mul_(1 - lr * group["weight_decay"])  # θ ← (1 − αλ) θ, as AdamW
        elif not group["decoupled_weight_decay"]:
            grad = with_weight_decay(grad, param, group["weight_decay"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))  # μ_t
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))  # μ_{t+1}
        state["mu_product"] = product = state["mu_product"] * mu  # Π_{i≤t} μ_i
        if product.dim() == 0:  # number hyperparameters: scalars, for the fused ops
            product = product.item()
        m.lerp_(grad, 1 - beta1)  # m_t = β1 m_{t−1} + (1 − β1) g_t
        decay_square_(v, grad, beta2)  # v_t = β2 v_{t−1} + (1 − β2) g_t²
        denom = (v / (1 - beta2**t)).sqrt_().add_(group["eps"])  # √v̂_t + ε
        descend_(param, lr * (1.0 - mu) / (1.0 - product), grad, denom)  # the fresh gradient
        descend_(param, lr * mu_next / (1.0 - product * mu_next), m, denom)  # the look-ahead
