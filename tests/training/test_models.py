"""The paper's networks: every model maps a batch of digits to ten logits."""

from __future__ import annotations

import pytest
import torch

from optviz.training.models import MODELS, parameter_count


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_every_model_maps_a_batch_of_digits_to_ten_logits(key: str, dropout: float) -> None:
    model = MODELS[key].build(dropout)
    logits = model(torch.rand(7, 784))
    assert logits.shape == (7, 10)
    assert torch.isfinite(logits).all()


def test_the_mlp_is_the_papers_784_1000_1000_10_network() -> None:
    # (784·1000 + 1000) + (1000·1000 + 1000) + (1000·10 + 10) weights and biases
    assert parameter_count(MODELS["mlp"].build(0.0)) == 1_796_010


def test_logistic_regression_is_one_linear_layer() -> None:
    assert parameter_count(MODELS["logreg"].build(0.0)) == 784 * 10 + 10


def test_every_model_names_its_place_in_the_paper() -> None:
    for spec in MODELS.values():
        assert "Kingma & Ba" in spec.reference
        assert spec.label
