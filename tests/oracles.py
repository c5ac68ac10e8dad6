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
