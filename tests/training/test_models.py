"""The paper's networks: every classifier maps a batch of images to one logit per class, for
MNIST's and CIFAR-10's shapes; the VAE's loss is the negative ELBO, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.training.models import (
    MODELS,
    VAE,
    negative_elbo,
    parameter_count,
    summed_loss,
    training_loss,
)

CLASSIFIERS = [key for key, spec in MODELS.items() if spec.task == "classify"]
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@pytest.mark.parametrize("key", CLASSIFIERS)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_every_model_maps_a_batch_of_digits_to_ten_logits(key: str, dropout: float) -> None:
    model = MODELS[key].build(dropout)
    logits = model(torch.rand(7, 784))
    assert logits.shape == (7, 10)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("key", CLASSIFIERS)
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_every_classifier_is_built_for_the_datasets_shape_and_classes(
    key: str, shape: tuple[int, int, int]
) -> None:
    model = MODELS[key].build(0.0, shape, 7)
    logits = model(torch.rand(3, math.prod(shape)))  # flat (B, C·H·W), as to_float makes them
    assert logits.shape == (3, 7)


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_the_vae_returns_pixel_logits_and_a_50_d_gaussian(shape: tuple[int, int, int]) -> None:
    model = MODELS["vae"].build(0.0, shape)
    logits, mean, log_var = model(torch.rand(4, math.prod(shape)))
    assert logits.shape == (4, math.prod(shape))
    assert mean.shape == log_var.shape == (4, 50)
    assert MODELS["vae"].task == "vae" and not MODELS["vae"].has_accuracy


def test_the_vae_is_the_papers_784_500_50_500_784_network() -> None:
    encoder = (784 * 500 + 500) + 2 * (500 * 50 + 50)  # hidden layer; mean and log-variance
    decoder = (50 * 500 + 500) + (500 * 784 + 784)
    assert parameter_count(MODELS["vae"].build()) == encoder + decoder


def test_the_papers_cnn_is_c64_c64_c128_1000_on_cifar10() -> None:
    model = MODELS["cnn-paper"].build(0.0, (3, 32, 32), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(64, (5, 5))] * 2 + [(128, (5, 5))]
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3
    conv = (3 * 64 * 25 + 64) + (64 * 64 * 25 + 64) + (64 * 128 * 25 + 128)
    dense = (128 * 4 * 4 * 1000 + 1000) + (1000 * 10 + 10)  # 32 → 16 → 8 → 4
    assert parameter_count(model) == conv + dense


def test_the_vae_loss_is_the_negative_elbo_computed_by_hand() -> None:
    """A 2-pixel, 1-hidden, 1-latent VAE with set weights, its −ELBO written out in NumPy."""
    torch.manual_seed(0)
    model = VAE(0.0, (1, 1, 2), hidden=1, latent=1).double()
    x = torch.tensor([[0.25, 1.0]], dtype=torch.float64)
    eps = torch.tensor([[0.5]], dtype=torch.float64)
    logits, mean, log_var = model(x, eps)
    got = negative_elbo(logits, x, mean, log_var).item()

    def p(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().astype(np.float64)

    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    xs = p(x)[0]
    h = softplus(p(model.encoder[0].weight) @ xs + p(model.encoder[0].bias))
    mu = p(model.mean.weight) @ h + p(model.mean.bias)
    lv = p(model.log_var.weight) @ h + p(model.log_var.bias)
    z = mu + np.exp(lv / 2) * 0.5
    hd = softplus(p(model.decoder[0].weight) @ z + p(model.decoder[0].bias))
    out = p(model.decoder[2].weight) @ hd + p(model.decoder[2].bias)
    prob = 1 / (1 + np.exp(-out))
    log_likelihood = np.sum(xs * np.log(prob) + (1 - xs) * np.log(1 - prob))
    kl = np.sum(0.5 * (mu**2 + np.exp(lv) - 1 - lv))
    assert got == pytest.approx(kl - log_likelihood, rel=1e-12)
    # The loop's losses are this, averaged over the batch (training) or summed (evaluation).
    torch.manual_seed(1)
    mean_loss = training_loss("vae", model, x, torch.zeros(1, dtype=torch.long))
    torch.manual_seed(1)
    total, correct = summed_loss("vae", model, x, torch.zeros(1, dtype=torch.long))
    assert mean_loss.item() == pytest.approx(total.item()) and correct is None


@pytest.mark.parametrize("key", ["cnn-paper", "vae"])
def test_a_few_adam_steps_lower_the_new_models_loss(key: str) -> None:
    torch.manual_seed(0)
    spec = MODELS[key]
    model = spec.build(0.0, (1, 28, 28), 10)
    x, y = torch.rand(32, 784), torch.randint(0, 10, (32,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = training_loss(spec.task, model, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_mlp_is_the_papers_784_1000_1000_10_network() -> None:
    # (784·1000 + 1000) + (1000·1000 + 1000) + (1000·10 + 10) weights and biases
    assert parameter_count(MODELS["mlp"].build(0.0)) == 1_796_010


def test_logistic_regression_is_one_linear_layer() -> None:
    assert parameter_count(MODELS["logreg"].build(0.0)) == 784 * 10 + 10


def test_the_small_cnn_keeps_its_mnist_layers() -> None:
    """Shape-aware builders keep MNIST's networks unchanged: the same layers in the same order."""
    weights = [tuple(p.shape) for p in MODELS["cnn"].build(0.0).parameters() if p.ndim > 1]
    assert weights == [(16, 1, 5, 5), (32, 16, 5, 5), (10, 32 * 4 * 4)]


def test_every_model_names_its_place_in_the_paper() -> None:
    for spec in MODELS.values():
        assert "Kingma & Ba" in spec.reference
        assert spec.label
