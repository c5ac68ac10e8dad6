"""Adafactor: a relative step size and a second moment that need no learning-rate tuning."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optviz.optim.base import BATCH_DIM, Hyperparameter, Optimizer, check, descend_, is_zero


class Adafactor(Optimizer):
    r"""Adafactor: RMS-normalized steps sized relative to θ itself, with update clipping.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        \hat\beta_{2,t} &= 1 - t^{\tau} \\
        v_t &= \hat\beta_{2,t} v_{t-1} + (1 - \hat\beta_{2,t}) g_t^2 \\
        u_t &= g_t / \sqrt{\max(v_t, \epsilon_1^2)} \\
        a_t &= \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1})) \, \min(\alpha, 1/\sqrt{t}) \\
        \theta_t &= \theta_{t-1} - a_t \, u_t / \max(1, \mathrm{RMS}(u_t) / d)

    α, τ, ε1, ε2, d are ``lr``, ``beta2_decay``, ``eps[0]``, ``eps[1]``, ``d``; v is the state
    ``variance`` (``row_var`` and ``col_var`` for a matrix), RMS(x) = ‖x‖₂/√(number of entries).

    Three ideas from Shazeer & Stern: the step is relative, a fraction min(α, 1/√t) of θ's own
    RMS (floored at ε2, so a θ near 0 still moves, slowly); the update u is clipped to RMS ≤ d;
    and β̂2 rises towards 1 as 1 − t^τ, so v_1 = g_1² (no bias correction needed) and the average
    lengthens as training goes on. For a matrix (a weight layer) v is factored into the means of
    g² over its rows and over its columns, R C / mean(R) ≈ v, storing n + m numbers instead of
    nm; a vector keeps the full v.

    Convention: PyTorch's (``torch.optim.Adafactor``): no first moment, ε1 defaults to the
    dtype's machine ε, and weight decay shrinks θ by (1 − αλ) using α, not the relative step.
    A param group with ``BATCH_DIM`` set (the trajectory engine's ``(2, B)`` stack of points) is
    B independent vectors: each keeps a full v and its own RMS(θ) and RMS(u).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: α, the cap on the relative step min(α, 1/√t) (default: 1e-2).
        beta2_decay: τ ≤ 0, β̂2 = 1 − t^τ (default: -0.8).
        eps: (ε1, ε2): the floor on v (None: the dtype's ε) and on RMS(θ) (default: (None, 1e-3)).
        d: clipping threshold on RMS(u), at least 1 (default: 1).
        weight_decay: decoupled decay λ, θ ← (1 − αλ)θ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Adafactor([theta], lr=0.1)
        >>> for _ in range(500):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-2)
        True

    Reference: Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*,
    ICML 2018, Algorithms 4 and 5.
    """

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-2,
        beta2_decay: Hyperparameter = -0.8,
        eps: tuple[Hyperparameter | None, Hyperparameter] = (None, 1e-3),
        d: Hyperparameter = 1.0,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        check(0.0 <= lr, "Learning rate should be >= 0 but is: {}", lr)
        check(0.0 >= beta2_decay, "beta2_decay should be <= 0 but is: {}", beta2_decay)
        if eps[0] is not None:
            check(0.0 <= eps[0], "epsilon1 should be >= 0 but is: {}", eps[0])
        check(0.0 <= eps[1], "epsilon2 should be >= 0 but is: {}", eps[1])
        check(1.0 <= d, "Clipping threshold d should be >= 1 but is: {}", d)
        check(0.0 <= weight_decay, "weight_decay should be >= 0 but is: {}", weight_decay)
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        if param.dim() > 1 and group.get(BATCH_DIM) is None:  # a matrix: v factored
            state["row_var"] = param.new_zeros((*param.shape[:-1], 1))  # R_0 = 0
            state["col_var"] = param.new_zeros((*param.shape[:-2], 1, param.shape[-1]))  # C_0 = 0
        else:
            state["variance"] = torch.zeros_like(param)  # v_0 = 0

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        t, lr, (eps1, eps2), d = state["step"], group["lr"], group["eps"], group["d"]
        eps1 = torch.finfo(param.dtype).eps if eps1 is None else eps1
        one_minus_beta2 = t ** group["beta2_decay"]  # 1 − β̂2_t = t^τ
        rho = torch.clamp(lr, max=t**-0.5) if isinstance(lr, Tensor) else min(lr, 1 / t**0.5)
        alpha = _larger(eps2, _rms(param, group), param) * rho  # a_t
        if not is_zero(group["weight_decay"]):
            param.mul_(1 - lr * group["weight_decay"])  # θ ← (1 − αλ) θ
        if "variance" in state:
            state["variance"].lerp_(grad * grad, one_minus_beta2)  # v_t
            estimate = state["variance"].clone()
        else:  # R_t, C_t: means of g² along rows and columns; v̂ = R C / mean(R)
            row, col = state["row_var"], state["col_var"]
            row.lerp_(
                grad.norm(dim=-1, keepdim=True).square_().div_(grad.size(-1)), one_minus_beta2
            )
            col.lerp_(
                grad.norm(dim=-2, keepdim=True).square_().div_(grad.size(-2)), one_minus_beta2
            )
            estimate = (row @ col).div_(row.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        update = estimate.clamp_(min=eps1 * eps1).rsqrt_().mul_(grad)  # u_t = g/√max(v, ε1²)
        clip = _larger(1.0, _rms(update, group) / d, param)  # max(1, RMS(u_t)/d)
        descend_(param, alpha / clip, update)  # θ_t = θ_{t−1} − a_t u_t / max(1, RMS(u_t)/d)


def _rms(x: Tensor, group: dict[str, Any]) -> float | Tensor:
    """RMS(x) = ‖x‖₂/√n: a number, or per slice (keeping dimensions) if the group is a batch."""
    batch = group.get(BATCH_DIM)
    if batch is None:
        return x.norm(2).item() / x.numel() ** 0.5
    dims = [i for i in range(x.dim()) if i != batch % x.dim()]
    # linalg's norm itself: torch.norm's Python wrapper calls it after some argument checks.
    return (
        torch.linalg.vector_norm(x, dim=dims, keepdim=True) / (x.numel() // x.shape[batch]) ** 0.5
    )


def _larger(a: Hyperparameter, b: float | Tensor, like: Tensor) -> float | Tensor:
    """max(a, b) for numbers, element-wise for tensors (a sweep's or a batch's)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return torch.maximum(a.to(like.dtype), b.to(like.dtype))
    if isinstance(b, Tensor):  # one op with the number as the bound: no tensor made for it
        return b.to(like.dtype).clamp(min=a)
    if isinstance(a, Tensor):
        return a.to(like.dtype).clamp(min=b)
    return max(a, b)
