"""The anchor of ``benchmarks/bench_browser.py``: what any Streamlit + Plotly page pays.

The smallest page shaped like the explorer's race: one contour (120 × 120 samples, as the race
draws), four 300-point paths, and one slider that moves one of them. Run it with
``streamlit run benchmarks/anchor_app.py``; the benchmark starts it on a port of its own.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

shift = st.slider("Shift", 0, 100, 0)

grid = np.linspace(-2.0, 2.0, 120)
x, y = np.meshgrid(grid, grid)
fig = go.Figure(go.Contour(x=grid, y=grid, z=np.log1p((1 - x) ** 2 + 100 * (y - x**2) ** 2)))
t = np.linspace(0.0, 1.0, 300)
for k in range(4):
    offset = 0.01 * shift if k == 0 else 0.0  # the slider moves the first path only
    fig.add_scatter(x=-1.5 + 2.5 * t, y=np.sin(6 * t + k) + offset, mode="lines")
st.plotly_chart(fig)
