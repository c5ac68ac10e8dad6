"""SGD with (heavy-ball) momentum, and its Nesterov variant."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from optviz.optim.base import Hyperparameter, Optimizer, check, descend_, with_weight_decay


class Momentum(Optimizer):
    r"""SGD with momentum: a velocity buffer accumulates past gradients, the step follows it.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \qquad (b_1 = g_1) \\
        \theta_t &= \theta_{t-1} - \alpha b_t

    α, μ, τ are ``lr``, ``momentum``, ``dampening``; b is the state ``momentum_buffer``.

    Convention: PyTorch's, b ← μb + g then θ ← θ − αb, not Sutskever et al.'s v ← μv − αg then
    θ ← θ + v. The two agree for a constant α; they differ when α changes during training.
    Unlike ``torch.optim.SGD`` (default ``momentum=0``), the default here is 0.9: a ``Momentum``
    optimizer without momentum would be plain SGD.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate α (default: 1e-3).
        momentum: momentum factor μ (default: 0.9).
        dampening: dampening τ for the momentum (default: 0).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Momentum([theta], lr=0.05, momentum=0.9)
        >>> for _ in range(300):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-6)
        True

    Reference: Polyak, *Some methods of speeding up the convergence of iteration methods* (1964);
    Sutskever et al., *On the importance of initialization and momentum in deep learning* (2013).
    """

    nesterov = False  # torch.optim.SGD's flag; Nesterov's look-ahead adds one check

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        momentum: Hyperparameter = 0.9,
        dampening: float = 0.0,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        # torch.optim.SGD's checks, in its order, so the first bad value names the same error.
        check(0.0 <= lr, "Invalid learning rate: {}", lr)
        check(0.0 <= momentum, "Invalid momentum value: {}", momentum)
        check(0.0 <= weight_decay, "Invalid weight_decay value: {}", weight_decay)
        if self.nesterov:  # with dampening fixed at 0, only the momentum can fail this
            check(momentum > 0, "Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        mu, tau = group["momentum"], group["dampening"]
        grad = with_weight_decay(grad, param, group["weight_decay"])
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = grad.clone()  # b_1 = g_1
        else:
            buf.mul_(mu).add_(grad, alpha=1 - tau)  # b_t = μ b_{t−1} + (1 − τ) g_t
        descend_(param, group["lr"], self.direction(grad, buf, mu))  # θ_t = θ_{t−1} − α b_t

    def direction(self, grad: Tensor, buf: Tensor, mu: Hyperparameter) -> Tensor:
        """The vector the step follows: the momentum buffer itself."""
        return buf


class Nesterov(Momentum):
    r"""Nesterov's accelerated gradient, in PyTorch's form: step along g + μb, a look-ahead.

    .. math::
        g_t &= \nabla_\theta f_t(\theta_{t-1}) \\
        b_t &= \mu b_{t-1} + g_t \qquad (b_1 = g_1) \\
        \theta_t &= \theta_{t-1} - \alpha (g_t + \mu b_t)

    α, μ are ``lr``, ``momentum``; b is the state ``momentum_buffer``.

    Convention: ``torch.optim.SGD(..., nesterov=True)``, which evaluates the gradient at θ and
    folds the look-ahead into the step (Sutskever et al. 2013, eq. 3–4 rewritten), instead of
    evaluating it at θ + μv. Dampening is not allowed, as in PyTorch.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate α (default: 1e-3).
        momentum: momentum factor μ, must be > 0 (default: 0.9).
        weight_decay: L2 penalty λ added to the gradient, g ← g + λθ (default: 0).

    Example:
        >>> import torch
        >>> theta = torch.tensor([3.0, -2.0], requires_grad=True)
        >>> optimizer = Nesterov([theta], lr=0.05, momentum=0.9)
        >>> for _ in range(300):
        ...     optimizer.zero_grad()
        ...     (theta**2).sum().backward()
        ...     _ = optimizer.step()
        >>> bool(theta.abs().max() < 1e-6)
        True

    Reference: Nesterov, *A method for solving the convex programming problem with convergence
    rate O(1/k²)* (1983); Sutskever et al. (2013).
    """

    nesterov = True

    def __init__(
        self,
        params,
        lr: Hyperparameter = 1e-3,
        momentum: Hyperparameter = 0.9,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        super().__init__(params, lr, momentum, dampening=0.0, weight_decay=weight_decay)

    def direction(self, grad: Tensor, buf: Tensor, mu: Hyperparameter) -> Tensor:
        """The look-ahead g_t + μ b_t."""
        return grad + mu * buf
