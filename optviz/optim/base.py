"""The bookkeeping every optviz optimizer shares, written once.

An optimizer file implements two methods and nothing else:

* ``init_state(state, param, group)`` fills a parameter's state the first time it has a gradient;
* ``update(param, grad, state, group)`` applies one step, with ``state["step"]`` already equal to
  t (counted from 1, as in the paper).

Hyperparameters may be Python numbers or tensors that broadcast against the parameter: a learning
rate of shape ``(B, 1)`` for a parameter of shape ``(B, 2)`` steps B configurations at once, which
is how the trajectory engine sweeps hyperparameters in one vectorized pass. The update code is
therefore written with ops that take both (``lerp_``, ``mul_``) or through ``descend_`` and
``decay_square_``, which fuse the common number case as torch.optim does and broadcast otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

Hyperparameter = float | Tensor

# A param group may declare its parameter a stack of independent parameters along one dimension,
# ``{"params": [theta], BATCH_DIM: -1}``: the trajectory engine's ``(2, B)`` positions are B
# points in ℝ², one per run. Element-wise updates (most optimizers) need not care; an update that
# reduces over the parameter (Adafactor's RMS norms and factored moments) reduces within each
# slice instead, so the runs stay independent.
BATCH_DIM = "batch_dim"


def check(condition: bool | Tensor, message: str, value: object = None) -> None:
    """Raise ``ValueError(message.format(value))`` unless ``condition`` holds (for every element
    of a tensor).

    PyTorch's own checks read ``if not 0.0 <= lr``, which is ambiguous for a tensor ``lr`` with
    several elements; this is the same check for both. NaN fails every comparison, so it is
    rejected too. The message is formatted only when the check fails: printing a sweep's tensor
    takes milliseconds, and the tuner builds a sweep per optimizer.
    """
    if not bool(torch.as_tensor(condition).all()):
        raise ValueError(message.format(value))


def is_zero(value: Hyperparameter) -> bool:
    """Whether a hyperparameter is zero everywhere (so its term can be skipped)."""
    if isinstance(value, int | float):
        return value == 0  # the common case, without a trip through the tensor dispatcher
    return not bool(torch.as_tensor(value).ne(0).any())


def with_weight_decay(grad: Tensor, param: Tensor, weight_decay: Hyperparameter) -> Tensor:
    """g ← g + λθ: the L2 penalty folded into the gradient, as torch.optim does."""
    if is_zero(weight_decay):
        return grad
    return grad + weight_decay * param


def decay_square_(avg: Tensor, value: Tensor, decay: Hyperparameter) -> Tensor:
    """avg ← β·avg + (1 − β)·value², in place: the running mean of squares of adaptive methods.

    With a number β this is torch.optim's fused ``mul_``/``addcmul_``; ``addcmul_`` takes its
    scale as a number only, so a tensor β (a sweep) goes through ``lerp_`` and a value² temporary.
    """
    if isinstance(decay, Tensor):
        return avg.lerp_(value.square(), 1 - decay)
    return avg.mul_(decay).addcmul_(value, value, value=1 - decay)


def descend_(
    param: Tensor, lr: Hyperparameter, direction: Tensor, scale: Tensor | None = None
) -> None:
    """θ ← θ − α·direction (/ scale): the last line of every update, the only write to θ.

    With a number α this is one fused in-place op, ``add_``/``addcdiv_`` as torch.optim writes it
    (no temporary the size of θ, which matters on the MNIST page's 1.8 M-parameter MLP). Those ops
    take α as a number only, so a tensor α (a sweep, a scheduled α in the trajectory engine) takes
    the broadcasting form, in separate ops: fused ones round a batch's columns differently with
    its size (vectorised or not), and a sweep's cell must equal the same run alone, bit for bit.
    """
    if isinstance(lr, Tensor):
        param.sub_(lr * direction if scale is None else lr * direction / scale)
    elif scale is None:
        param.add_(direction, alpha=-lr)
    else:
        param.addcdiv_(direction, scale, value=-lr)


class Optimizer(torch.optim.Optimizer):
    """Base class: closure, ``torch.no_grad``, the param-group loop, lazy state and the step count.

    ``state["step"]`` is a Python int (torch.optim keeps a 0-dim tensor; an int keeps the scalar
    arithmetic of bias corrections off the tensor dispatcher). Loading a torch.optim state dict
    converts its tensor steps back to ints.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict) -> None:
        super().__init__(params, defaults)

    def init_state(self, state: dict[str, Any], param: Tensor, group: dict[str, Any]) -> None:
        """Create the per-parameter state (moment buffers …) before the first update."""

    def update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """Apply one step to ``param`` in place; ``state["step"]`` is already t."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.update_all()
        return loss

    def update_all(self) -> None:
        """Update every parameter that has a gradient: the body of ``step``, bare.

        For callers that run thousands of tiny steps under their own ``torch.no_grad()`` (the
        trajectory engine): it skips ``step``'s per-call profiler record and hooks, which cost
        more than a whole update of a 2-D parameter. Training loops should call ``step``.
        """
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[param]
                if not state:
                    self.init_state(state, param, group)
                # .get: torch.optim.SGD's state, loaded into ours, has no step count.
                state["step"] = state.get("step", 0) + 1
                self.update(param, param.grad, state, group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # A state dict saved by a torch.optim twin lacks our extra options (bias_correction).
        for group in self.param_groups:
            for name, value in self.defaults.items():
                group.setdefault(name, value)
        for param_state in self.state.values():
            if isinstance(param_state.get("step"), Tensor):
                param_state["step"] = int(param_state["step"].item())
