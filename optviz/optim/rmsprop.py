"""RMSprop: divide the step by a decaying root-mean-square of recent gradients."""

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
    is_zero,
    with_weight_decay,
)


class RMSprop(Optimizer):
    r"""RMSprop: Adagrad's per-coordinate scaling with a decaying average instead of a sum.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        v_t &= \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \bar g_t &= \rho \bar g_{t-1} + (1 - \rho) g_t
            \qquad \text{(centered only; then } v_t \leftarrow v_t - \bar g_t^2) \\
        b_t &= \mu b_{t-1} + g_t / (\sqrt{v_t} + \epsilon) \\
        \theta_t &= \theta_{t-1} - \alpha b_t

    α, ρ, ε, μ are ``lr``, ``alpha``, ``eps``, ``momentum``; v, ḡ and b are the states
    ``square_avg``, ``grad_avg`` and ``momentum_buffer``. With μ = 0 (the default) there is no
    buffer and θ_t = θ_{t−1} − α g_t / (√v_t + ε).

    Note the names: PyTorch calls the smoothing constant ρ ``alpha``; α here is the learning rate.
    Unlike Adam there is no bias correction, so the first steps, with v still near 0, are large.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate α (default: 1e-2).
        alpha: smoothing constant ρ of the squared-gradient average (default: 0.99).
        eps: ε added to the denominator (default: 1e-8).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).
        momentum: momentum factor μ (default: 0).
        centered: normalise by an estimate of the gradient's variance instead of its second
            moment (default: False).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = RMSprop([theta], lr=0.01)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-1)
        True

    Reference: Tieleman & Hinton, *Lecture 6.5 — RMSProp*, COURSERA: Neural Networks for Machine
    Learning (2012); Graves, *Generating Sequences With Recurrent Neural Networks* (2013) for the
    centered variant.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-2,
        alpha: Hyperparameter = 0.99,
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        momentum: Hyperparameter = 0.0,
        centered: bool = False,
    ) -> None:
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check(0.0 <= eps, "Invalid epsilon value: {}", eps)
        check(0.0 <= momentum, "Invalid momentum value: {}", momentum)
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        check(0.0 <= alpha, "Invalid alpha value: {}", alpha)
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        state["square_avg"] = torch.zeros_like(param)  # v_0 = 0
        if not is_zero(group["momentum"]):
            state["momentum_buffer"] = torch.zeros_like(param)  # b_0 = 0
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(param)  # ḡ_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        rho, v = group["alpha"], state["square_avg"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        decay_square_(v, grad, rho)  # v_t = ρ v_{t−1} + (1 − ρ) g_t²
        if group["centered"]:
            g_bar = state["grad_avg"]
            g_bar.lerp_(grad, 1 - rho)  # ḡ_t = ρ ḡ_{t−1} + (1 − ρ) g_t
            rms = v.addcmul(g_bar, g_bar, value=-1).sqrt_().add_(group["eps"])  # √(v_t − ḡ_t²) + ε
        else:
            rms = v.sqrt().add_(group["eps"])  # √v_t + ε
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"]
            buf.mul_(group["momentum"]).addcdiv_(grad, rms)  # b_t = μ b_{t−1} + g_t/(√v_t + ε)
            descend_(param, group["lr"], buf)  # θ_t = θ_{t−1} − α b_t
        else:
            descend_(param, group["lr"], grad, rms)  # θ_t = θ_{t−1} − α g_t / (√v_t + ε)
