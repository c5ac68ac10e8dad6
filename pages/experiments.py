"""Experiments: three known results about Adam and its successors, each one click and one URL.

Thin page: ``optviz.experiments`` sets up and races each experiment (cached in ``optviz.views``,
shared by every session), ``optviz.figures.experiments`` draws it; the choice and its settings
live in the URL (``links.ExperimentState``).
"""

import dataclasses

import streamlit as st

from optviz import experiments, links
from optviz.figures import race_figure
from optviz.figures.experiments import fixed_points_figure, online_figure
from optviz.optim import OPTIMIZERS
from optviz.views import online_race, rotation_gaps, rotation_race, weight_decay_race

PREFIX = "experiments"
TITLES = {
    "reddi": "Adam fails, AMSGrad converges",
    "decay": "Adam + L2 vs AdamW",
    "rotation": "Rotation",
}


def key(name: str) -> str:
    return f"{PREFIX}_{name}"


def load_link() -> None:
    link, warnings = links.experiment_from_query(st.query_params.to_dict())
    st.session_state[key("state")] = link
    st.session_state[key("warnings")] = warnings


def remembered(name: str) -> str:
    """The widget key of setting ``name``, holding the value last chosen: Streamlit forgets the
    state of a widget not drawn (another experiment's), the page's ``ExperimentState`` does not."""
    st.session_state.setdefault(key(name), getattr(st.session_state[key("state")], name))
    return key(name)


def remember(**values: object) -> None:
    state = st.session_state[key("state")]
    st.session_state[key("state")] = dataclasses.replace(state, **values)


def final_positions(result, digits: int = 2) -> str:
    return ", ".join(
        f"{OPTIMIZERS[k].label} x_T = {result.paths[i, 0, -1, 0]:+.{digits}f}"
        for i, (k, _) in enumerate(result.runs)
    )


def reddi() -> None:
    left, right = st.columns(2)
    setting = left.radio(
        "Setting", links.ONLINE_SETTINGS, key=remembered("setting"), horizontal=True
    )
    steps = right.select_slider(
        "Steps T", links.ONLINE_STEPS, key=remembered("steps"), format_func=lambda n: f"{n:,}"
    )
    remember(setting=setting, steps=steps)
    beta1, beta2 = experiments.online_betas(setting)
    st.markdown(
        "**Setup.** Reddi, Kale & Kumar, *On the Convergence of Adam and Beyond* (ICLR 2018), "
        "Theorem 1 and §5. An online problem: at step t the learner holds x ∈ F = [−1, 1] and "
        "suffers a linear loss; the average loss is least at x* = −1. Every optimizer takes "
        "α_t = α/√t and is projected back onto F after each step (u_t is its update direction: "
        "g_t for SGD, m̂_t/(√v̂_t + ε) for Adam …); R_T is its regret."
    )
    st.latex(experiments.online_problem(setting, 1).latex)
    st.latex(
        r"x_t = \Pi_F\big(x_{t-1} - \alpha_t\,u_t\big),\quad \alpha_t = \frac{\alpha}{\sqrt t},"
        r"\quad R_T = \sum_{t=1}^{T} f_t(x_{t-1}) - f_t(x^*),\quad x^* = -1"
    )
    st.markdown(
        f"Settings: α = {experiments.ONLINE_LR:g}, β1 = {beta1:g}, β2 = {beta2:.3g}"
        + (f" = 1/(1 + C²), C = {experiments.ONLINE_C:g}" if setting == "deterministic" else "")
        + f", ε = 1e-8, x_0 = 0; SGD the same α_t. Adam, AMSGrad, SGD and AdaMax, {steps:,} steps."
    )
    with st.spinner(f"Racing {steps:,} online steps…"):
        race = online_race(setting, steps)
    st.plotly_chart(online_figure(race.result, race.average_regret))
    st.caption(f"After {steps:,} steps: {final_positions(race.result)}.")
    if setting == "stochastic":
        st.caption(
            "Adam and AdaMax settle at +1, the worst point. AMSGrad, whose step never grows, "
            "drifts back towards −1 only slowly: Reddi et al. ran millions of steps."
        )


def decay() -> None:
    h, c, lam = experiments.CURVATURES, experiments.CENTRE, experiments.DECAY
    st.markdown(
        "**Setup.** Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019). "
        "Adam with an L2 penalty adds λθ to the gradient, which Adam then rescales per "
        "coordinate; AdamW subtracts αλθ outside the adaptive step. On an ill-conditioned "
        "quadratic they converge to different points:"
    )
    st.latex(experiments.decay_surface().latex)
    st.latex(
        r"\text{Adam + L2: } \theta_i^* = \frac{h_i c_i}{h_i + \lambda} \qquad"
        r"\text{AdamW: } \frac{g_i}{|g_i| + \epsilon} = -\lambda\theta_i"
        r"\ \Rightarrow\ \theta_i^* \approx \min\!\left(c_i, \tfrac{1}{\lambda}\right)"
    )
    st.markdown(
        f"Settings: h = {h}, c = {c}, λ = {lam:g} for both, α = {experiments.DECAY_LR:g}, "
        f"β1 = 0.9, β2 = {experiments.DECAY_BETA2:g}, ε = 1e-8, {experiments.DECAY_STEPS:,} "
        "steps from (0, 0). The L2 penalty shrinks the flat coordinate (h = 1) far more than "
        "the steep one; decoupled decay caps every coordinate at 1/λ alike."
    )
    result = weight_decay_race()
    points = [
        ("Adam + L2 fixed point", experiments.l2_fixed_point()),
        ("AdamW fixed point", experiments.decoupled_fixed_point()),
    ]
    st.plotly_chart(fixed_points_figure(result, points), width="content")
    st.caption(
        "Final points: "
        + ", ".join(
            f"{OPTIMIZERS[k].label} ({result.paths[i, 0, -1, 0]:.3f}, "
            f"{result.paths[i, 0, -1, 1]:.3f}), predicted ({p[1][0]:.3f}, {p[1][1]:.3f})"
            for i, ((k, _), p) in enumerate(zip(result.runs, points, strict=True))
        )
        + "."
    )


def rotation() -> None:
    angle = st.slider(
        "Rotation φ (degrees)", -links.MAX_ANGLE, links.MAX_ANGLE, step=5, key=remembered("angle")
    )
    remember(angle=angle)
    st.markdown(
        "**Setup.** The quadratic diag(1, 20), turned by φ, with the start point turned too. "
        "Gradient descent and momentum are rotation invariant: their paths turn with the "
        "problem. Adam, Lion and Adagrad scale each coordinate on its own (Kingma & Ba 2015, "
        "§2: per-parameter step sizes), so their paths change shape when the valley no longer "
        "lies along an axis."
    )
    st.latex(experiments.rotated_quadratic(angle).latex)
    st.markdown(
        "Settings: "
        + ", ".join(f"{OPTIMIZERS[k].label} α = {h['lr']:g}" for k, h in experiments.ROTATION_RUNS)
        + f" (momentum μ = 0.9), {experiments.ROTATION_STEPS} steps."
    )
    st.plotly_chart(race_figure(rotation_race(angle)), width="content")
    gaps = rotation_gaps(angle)
    st.caption(
        "Largest distance from the path at 0°, turned by φ: "
        + ", ".join(f"{OPTIMIZERS[k].label} {gap:.2g}" for k, gap in gaps.items())
        + "."
    )


if key("state") not in st.session_state:
    load_link()

st.title("Experiments")
for warning in st.session_state[key("warnings")]:
    st.warning(warning, icon="🔗")
experiment = st.radio(
    "Experiment",
    links.EXPERIMENTS,
    format_func=TITLES.get,
    key=remembered("experiment"),
    horizontal=True,
)
remember(experiment=experiment)
st.subheader(TITLES[experiment])
{"reddi": reddi, "decay": decay, "rotation": rotation}[experiment]()
st.query_params.from_dict(links.experiment_to_query(st.session_state[key("state")]))
