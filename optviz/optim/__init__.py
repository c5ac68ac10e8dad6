"""The eight optimizers of the Adam paper's comparison and six of its successors, written from
scratch on ``torch.optim``.

Each is a ``torch.optim.Optimizer`` subclass with PyTorch's argument names, defaults, validation
messages and state keys, so it drops into any training loop, and each equals its ``torch.optim``
twin to float64 round-off (see ``tests/test_optim.py``; Lion, which has none, equals a NumPy
transcription of its paper's pseudo-code). ``OPTIMIZERS`` describes them for the UI.
"""

from optviz.optim.adadelta import Adadelta
from optviz.optim.adafactor import Adafactor
from optviz.optim.adagrad import Adagrad
from optviz.optim.adam import Adam
from optviz.optim.adamax import Adamax
from optviz.optim.adamw import AdamW
from optviz.optim.amsgrad import AMSGrad
from optviz.optim.base import Optimizer
from optviz.optim.lion import Lion
from optviz.optim.momentum import Momentum, Nesterov
from optviz.optim.nadam import NAdam
from optviz.optim.radam import RAdam
from optviz.optim.registry import (
    OPTIMIZERS,
    HyperParam,
    OptimizerSpec,
    StateSpec,
    StepBound,
    distinct_colors,
)
from optviz.optim.rmsprop import RMSprop
from optviz.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AMSGrad",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "HyperParam",
    "Lion",
    "Momentum",
    "NAdam",
    "Nesterov",
    "Optimizer",
    "OptimizerSpec",
    "RAdam",
    "RMSprop",
    "StateSpec",
    "StepBound",
    "distinct_colors",
]
