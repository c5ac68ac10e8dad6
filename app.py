"""optviz: the app's entry point. Sets the page config once and routes to the pages."""

import streamlit as st

from optviz.training.lifecycle import recover_previous_app

st.set_page_config(page_title="optviz: optimizers, visualized", page_icon="🧭", layout="wide")


@st.cache_resource(show_spinner=False)
def recovered_from_previous_app() -> int:
    """Once per app process, whichever page opens first: runs a crashed app left "running" are
    marked failed and its Ray's leftover processes killed (not only once Live MNIST opens)."""
    return recover_previous_app()


recovered_from_previous_app()

pages = [
    st.Page(
        "pages/explorer.py", title="Trajectory explorer", icon=":material/route:", default=True
    ),
    st.Page("pages/mnist.py", title="Live MNIST", icon=":material/model_training:"),
]
st.navigation(pages).run()
