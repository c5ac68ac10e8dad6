"""Learning-rate schedules: each closed form s(t) against the torch lr_scheduler it names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optviz.optim import OPTIMIZERS
from optviz.schedules import SCHEDULES, check_schedule

STEPS = 2000
# Parameters that make every schedule change within the steps (cosine goes past its period).
PARAMS = {
    "constant": {},
    "inv_sqrt": {},
    "step": {"step_size": 70, "gamma": 0.7},
    "cosine": {"T_max": 300},
    "warmup": {"start_factor": 0.05, "total_iters": 120},
}


def test_every_schedule_has_test_parameters():
    assert set(PARAMS) == set(SCHEDULES)


@pytest.mark.parametrize("key", SCHEDULES)
def test_factors_equal_torch_schedulers_lr_for_two_param_groups(key):
    spec = SCHEDULES[key]
    rates = (0.3, 0.002)
    groups = [{"params": [torch.zeros(2, dtype=torch.float64)], "lr": lr} for lr in rates]
    optimizer = OPTIMIZERS["adam"].build(groups)  # ours is a torch.optim.Optimizer
    scheduler = spec.build(optimizer, PARAMS[key])
    seen = []
    for _ in range(STEPS):
        seen.append([group["lr"] for group in optimizer.param_groups])  # α_t used by step t
        optimizer.step()
        scheduler.step()
    expected = np.asarray(rates) * spec.factors(STEPS, PARAMS[key])[:, None]
    np.testing.assert_allclose(np.asarray(seen), expected, rtol=1e-12, atol=1e-13)
    assert len(set(np.round(expected[:, 0], 12))) > (1 if key != "constant" else 0)


def test_documented_values():
    assert SCHEDULES["inv_sqrt"].factors(4).tolist() == [1, 1 / np.sqrt(2), 1 / np.sqrt(3), 0.5]
    step = SCHEDULES["step"].factors(5, {"step_size": 2, "gamma": 0.5})
    assert step.tolist() == [1, 1, 0.5, 0.5, 0.25]
    cosine = SCHEDULES["cosine"].factors(11, {"T_max": 10})
    assert cosine[0] == 1 and abs(cosine[10]) < 1e-15 and abs(cosine[5] - 0.5) < 1e-15
    warmup = SCHEDULES["warmup"].factors(6, {"start_factor": 0.2, "total_iters": 4})
    np.testing.assert_allclose(warmup, [0.2, 0.4, 0.6, 0.8, 1, 1])


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (("linear_decay", {}), "unknown schedule"),
        (("step", {"step_size": 0}), "step_size must be between 1"),
        (("step", {"step_size": 2.5}), "step_size must be a whole number"),
        (("step", {"gamma": float("nan")}), "gamma must be a finite number"),
        (("cosine", {"period": 3}), "has no parameter 'period'"),
        (("warmup", {"start_factor": 0}), "start_factor must be between"),
        ("cosine", "a schedule must be (key, parameters)"),
    ],
)
def test_bad_schedules_are_refused_with_a_message(schedule, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_schedule(schedule)


def test_describe_names_the_parameters():
    assert SCHEDULES["cosine"].describe({"T_max": 50}) == "cosine (T_max = 50)"
    assert SCHEDULES["constant"].describe() == "constant"
