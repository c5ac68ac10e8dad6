"""The networks of the Adam paper's MNIST experiments, in a registry like ``OPTIMIZERS``.

Every model takes flattened pixels ``(B, 784)`` in [0, 1] and returns logits ``(B, 10)``, so the
training loop never needs to know which one it trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


class CNN(nn.Module):
    """Two 5×5 conv + max-pool blocks and a linear classifier (≈ 21 k parameters).

    The paper's §6.3 CNN (c64-c64-c128-1000 on CIFAR-10) is far too slow for a CPU demo; this is
    the same shape of network scaled to 28×28 digits.
    """

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5),  # (B, 16, 24, 24)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 12, 12)
            nn.Conv2d(16, 32, kernel_size=5),  # (B, 32, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 4, 4)
            nn.Flatten(),  # (B, 512)
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x.view(-1, 1, 28, 28)))


def logistic_regression(dropout: float = 0.0) -> nn.Module:
    """Multiclass logistic regression: one linear layer, softmax inside the loss (§6.1)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(784, 10))


def mlp(dropout: float = 0.0) -> nn.Module:
    """784-1000-1000-10 with ReLU, the paper's §6.2 network (dropout on the hidden layers)."""
    return nn.Sequential(
        nn.Linear(784, 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1000, 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1000, 10),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A model as the UI and the training loop see it."""

    key: str
    label: str
    build: Callable[[float], nn.Module]  # dropout probability → fresh, randomly initialised model
    reference: str
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "logreg",
            "Logistic regression (784→10)",
            logistic_regression,
            "Kingma & Ba 2015, §6.1 and Figure 1 (left)",
            "Convex: every optimizer should get there; the race is about speed.",
        ),
        ModelSpec(
            "mlp",
            "MLP 784-1000-1000-10 (ReLU)",
            mlp,
            "Kingma & Ba 2015, §6.2 and Figure 2",
            "1.8 M parameters: the paper's multilayer network, minibatch 128.",
        ),
        ModelSpec(
            "cnn",
            "Small CNN (2 conv layers)",
            CNN,
            "Kingma & Ba 2015, §6.3 (scaled down from CIFAR-10 to MNIST)",
            "Convolutions share weights; gradients differ in scale between layers.",
        ),
    )
}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
