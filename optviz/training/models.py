"""The networks of the Adam paper's experiments, in a registry like ``OPTIMIZERS``.

Every model is built for one dataset (``ModelSpec.build(dropout, shape, classes)``, shape the
image's (C, H, W)) and takes its images flattened, ``(B, C·H·W)`` in [0, 1] (MNIST: ``(B, 784)``),
as ``data.to_float`` makes them; a convolutional model reshapes them itself. What it returns, and
so how it is trained and scored, is its spec's ``task``:

* ``"classify"``: logits ``(B, classes)``; loss cross-entropy, scored by accuracy.
* ``"vae"``: ``(logits, mean, log_var)``: Bernoulli logits for every pixel and the Gaussian
  posterior's parameters; loss the negative evidence lower bound (−ELBO) per image, in nats,
  and no accuracy.

``training_loss`` and ``summed_loss`` are the one place each task's loss is computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Shape = tuple[int, int, int]  # one image: channels, height, width
Task = Literal["classify", "vae"]
MNIST_SHAPE: Shape = (1, 28, 28)


def _conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class CNN(nn.Module):
    """Two 5×5 conv + max-pool blocks and a linear classifier (≈ 21 k parameters on MNIST).

    The paper's §6.3 CNN (c64-c64-c128-1000 on CIFAR-10) is ``PaperCNN``; this is the same shape
    of network scaled down so a CPU trains it on digits in seconds.
    """

    def __init__(self, dropout: float = 0.0, shape: Shape = MNIST_SHAPE, classes: int = 10) -> None:
        super().__init__()
        self.shape = shape
        height, width = shape[1:]
        for _ in range(2):  # 5×5 conv, then 2×2 pool
            height, width = _conv_out(height, 5) // 2, _conv_out(width, 5) // 2
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], 16, kernel_size=5),  # MNIST: (B, 16, 24, 24)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 12, 12)
            nn.Conv2d(16, 32, kernel_size=5),  # (B, 32, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 4, 4)
            nn.Flatten(),  # (B, 512)
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(32 * height * width, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x.view(-1, *self.shape)))


class PaperCNN(nn.Module):
    """The paper's CNN (§6.3): three stages of 5×5 convolution (64, 64, 128 filters, ReLU) and
    3×3 max-pooling with stride 2, then a fully connected layer of 1000 ReLU units and the
    classifier: c64-c64-c128-1000. Convolutions keep the size (padding 2) and each pool halves
    it, rounding up (padding 1): 32 → 16 → 8 → 4 on CIFAR-10 (2.37 M parameters), 28 → 14 → 7 → 4
    on MNIST. Dropout on the input and on the fully connected layer, as the paper applies it.
    """

    def __init__(self, dropout: float = 0.0, shape: Shape = MNIST_SHAPE, classes: int = 10) -> None:
        super().__init__()
        self.shape = shape
        height, width = shape[1:]
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        channels = shape[0]
        for filters in (64, 64, 128):
            layers += [
                nn.Conv2d(channels, filters, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ]
            channels = filters
            height, width = _conv_out(height, 3, 2, 1), _conv_out(width, 3, 2, 1)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(channels * height * width, 1000),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1000, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x.view(-1, *self.shape)))


class VAE(nn.Module):
    """The paper's variational auto-encoder (§6.4, Figure 4): an encoder of one hidden layer of
    500 softplus units to a 50-d Gaussian latent (mean and log-variance), a decoder of 500
    softplus units to Bernoulli logits for every pixel. The prior is N(0, I).

    ``forward(x, noise)`` returns ``(logits, mean, log_var)`` for the reparameterised sample
    z = mean + exp(log_var / 2) · ε, ε = ``noise`` or a fresh standard normal draw.
    Dropout is not part of this model; the argument is accepted and ignored.
    """

    def __init__(
        self,
        dropout: float = 0.0,
        shape: Shape = MNIST_SHAPE,
        classes: int = 10,
        *,
        hidden: int = 500,
        latent: int = 50,
    ) -> None:
        super().__init__()
        pixels = math.prod(shape)
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.Softplus())
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.Softplus(), nn.Linear(hidden, pixels)
        )

    def forward(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        h = self.encoder(x)
        mean, log_var = self.mean(h), self.log_var(h)
        eps = torch.randn_like(mean) if noise is None else noise
        z = mean + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mean, log_var


def negative_elbo(logits: Tensor, x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """−ELBO per image ``(B,)``, in nats: the Bernoulli reconstruction's negative log-likelihood
    of ``x`` (grey levels in [0, 1] as the probabilities' targets), summed over pixels, plus the
    closed-form KL(N(mean, exp(log_var)) ‖ N(0, I)), summed over latent dimensions."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    kl = -0.5 * (1.0 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)
    return reconstruction + kl


def training_loss(task: Task, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The minibatch's mean loss, which the optimizer descends."""
    if task == "vae":
        return _vae_loss(model, x).mean()
    return F.cross_entropy(model(x), y)


def summed_loss(task: Task, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
    """Summed loss over the batch and the number classified right (None: the task has no
    accuracy), both left on the device."""
    if task == "vae":
        return _vae_loss(model, x).sum(), None
    logits = model(x)
    return F.cross_entropy(logits, y, reduction="sum"), (logits.argmax(dim=1) == y).sum()


def _vae_loss(model: nn.Module, x: Tensor) -> Tensor:
    logits, mean, log_var = model(x)
    return negative_elbo(logits, x, mean, log_var)


def logistic_regression(
    dropout: float = 0.0, shape: Shape = MNIST_SHAPE, classes: int = 10
) -> nn.Module:
    """Multiclass logistic regression: one linear layer, softmax inside the loss (§6.1)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(math.prod(shape), classes))


def mlp(dropout: float = 0.0, shape: Shape = MNIST_SHAPE, classes: int = 10) -> nn.Module:
    """784-1000-1000-10 with ReLU, the paper's §6.2 network (dropout on the hidden layers)."""
    return nn.Sequential(
        nn.Linear(math.prod(shape), 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1000, 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1000, classes),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A model as the UI and the training loop see it."""

    key: str
    label: str
    # (dropout probability, image shape (C, H, W), classes) → fresh, randomly initialised model
    factory: Callable[[float, Shape, int], nn.Module]
    reference: str
    description: str
    task: Task = "classify"  # how it is trained and scored (module docstring)

    def build(
        self, dropout: float = 0.0, shape: Shape = MNIST_SHAPE, classes: int = 10
    ) -> nn.Module:
        """A fresh model for images of ``shape`` (MNIST's by default) and ``classes`` classes."""
        return self.factory(dropout, tuple(shape), classes)  # type: ignore[arg-type]

    @property
    def has_accuracy(self) -> bool:
        return self.task == "classify"


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
        ModelSpec(
            "cnn-paper",
            "The paper's CNN (c64-c64-c128-1000)",
            PaperCNN,
            "Kingma & Ba 2015, §6.3 and Figure 3",
            "Three 5×5 conv + 3×3 max-pool stages and 1000 ReLU units: 2.4 M parameters on "
            "CIFAR-10, slow on a CPU.",
        ),
        ModelSpec(
            "vae",
            "Variational auto-encoder (500-50-500, softplus)",
            VAE,
            "Kingma & Ba 2015, §6.4 and Figure 4",
            "Loss is the negative ELBO per image (nats); no accuracy. Figure 4's bias-correction "
            "sweep trains this.",
            task="vae",
        ),
    )
}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
