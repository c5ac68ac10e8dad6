"""The few Streamlit widgets both pages share, built from the ``OPTIMIZERS`` registry.

Sliders are ``select_slider``s over each hyperparameter's grid (``HyperParam.options``), so arrow
keys step through values a person would type (1e-3, 2e-3, 5e-3 … for rates; 0.9, 0.99, 0.999 …
for decays) instead of crawling through a linear range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from optviz.optim import HyperParam, OptimizerSpec


def format_value(value: float) -> str:
    return f"{value:g}"


def widget_key(spec: OptimizerSpec, hp: HyperParam, key_prefix: str) -> str:
    return f"{key_prefix}_{spec.key}_{hp.name}"


def set_hyperparameters(spec: OptimizerSpec, values: Mapping[str, Any], *, key_prefix: str) -> None:
    """Put values into the widgets' session state (presets, links); call before the widgets."""
    for hp in spec.hyperparams:
        if hp.name in values:
            value = values[hp.name]
            st.session_state[widget_key(spec, hp, key_prefix)] = (
                bool(value) if hp.scale == "bool" else hp.snap(float(value))
            )


def hyperparameter_inputs(spec: OptimizerSpec, *, key_prefix: str) -> dict[str, float | bool]:
    """Render one optimizer's hyperparameter widgets and return their values by name."""
    values: dict[str, float | bool] = {}
    for hp in spec.hyperparams:
        key = widget_key(spec, hp, key_prefix)
        label = f"${hp.symbol}$ · {hp.name}"
        if hp.scale == "bool":
            st.session_state.setdefault(key, bool(hp.default))
            values[hp.name] = st.toggle(label, key=key, help=hp.help)
        else:
            st.session_state.setdefault(key, float(hp.default))
            values[hp.name] = st.select_slider(
                label,
                options=hp.options(),
                key=key,
                format_func=format_value,
                help=hp.help,
            )
    return values
