"""Oracles the optimizer tests share beyond torch.optim itself.

``LionAlgorithm2``: Lion has no torch.optim twin, so its oracle is its paper's pseudo-code in
NumPy, behind torch.optim's interface so that it fills the same table rows as a torch twin.
``float64_scalars``: a torch.optim class that keeps its scalar state in float64.
"""

from __future__ import annotations

import numpy as np
import torch


class LionAlgorithm2(torch.optim.Optimizer):
    """Lion's oracle: the paper's Algorithm 2 line by line in NumPy, behind torch.optim's
    interface so that it fills a row of ``TWINS`` (state ``exp_avg`` and a tensor step, as
    torch.optim keeps them)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                state["step"] += 1
                theta, g, m = p.numpy(), p.grad.numpy(), state["exp_avg"].numpy()
                c = beta1 * m + (1 - beta1) * g  # update model parameters
                theta = theta - lr * (np.sign(c) + wd * theta)
                m = beta2 * m + (1 - beta2) * g  # update EMA of g_t
                p.copy_(torch.from_numpy(theta))
                state["exp_avg"].copy_(torch.from_numpy(m))


def float64_scalars(cls):
    """``cls`` keeping its scalar state in float64: torch.optim.NAdam holds its running product
    of μ_t in the default dtype (float32), which would bound the agreement at 1e-7, not round-off.
    """

    class Float64Scalars(cls):
        def step(self, closure=None):
            default = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                return super().step(closure)
            finally:
                torch.set_default_dtype(default)

    return Float64Scalars


def projected_online_1d(method, coefficients, lr, betas, eps, x0, box):
    """Reddi, Kale & Kumar's online problem in NumPy: f_t(x) = c_t·x on F = ``box``, step t
    with α_t = lr/√t, then the projection onto F (for a box the clamp, in any diagonal metric).

    ``method``: "sgd", or "adam", "amsgrad", "adamax" in torch.optim's conventions (Adam's bias
    corrections; AMSGrad's max of the raw v divided by the current 1 − β2^t; AdaMax's
    u_t = max(β2·u, |g| + ε)). Returns x_0 … x_T.
    """
    beta1, beta2 = betas
    x, m, v, u = x0, 0.0, 0.0, 0.0
    path = [x]
    for t, g in enumerate(coefficients, start=1):  # ∇f_t(x) = c_t
        alpha = lr / np.sqrt(t)
        if method == "sgd":
            x = x - alpha * g
        else:
            m = beta1 * m + (1 - beta1) * g
            if method == "adamax":
                u = max(beta2 * u, abs(g) + eps)
                x = x - alpha / (1 - beta1**t) * m / u
            else:
                v = beta2 * v + (1 - beta2) * g * g
                u = max(u, v) if method == "amsgrad" else v
                x = x - alpha / (1 - beta1**t) * m / (np.sqrt(u / (1 - beta2**t)) + eps)
        x = min(max(x, box[0]), box[1])
        path.append(x)
    return np.array(path)
