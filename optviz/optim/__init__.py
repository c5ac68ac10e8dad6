"""The eight optimizers of the Adam paper's comparison, written from scratch on ``torch.optim``.

Each is a ``torch.optim.Optimizer`` subclass with PyTorch's argument names, defaults, validation
messages and state keys, so it drops into any training loop, and each equals its ``torch.optim``
twin to float64 round-off (see ``tests/test_optim.py``). ``OPTIMIZERS`` describes them for the UI.
"""

from optviz.optim.adadelta import Adadelta
from optviz.optim.adagrad import Adagrad
from optviz.optim.adam import Adam
from optviz.optim.adamax import Adamax
from optviz.optim.base import Optimizer
from optviz.optim.momentum import Momentum, Nesterov
from optviz.optim.registry import OPTIMIZERS, HyperParam, OptimizerSpec, StateSpec, StepBound
from optviz.optim.rmsprop import RMSprop
from optviz.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "HyperParam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "OptimizerSpec",
    "RMSprop",
    "StateSpec",
    "StepBound",
]
