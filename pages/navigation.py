"""The app's script (see ``app.py``): sets the page config once and routes to the pages."""

import streamlit as st

from optviz.ui import preload_charts

st.set_page_config(page_title="optviz: optimizers, visualized", page_icon="🧭", layout="wide")

pages = [
    st.Page("explorer.py", title="Trajectory explorer", icon=":material/route:", default=True),
    st.Page("landscapes.py", title="Landscapes", icon=":material/landscape:"),
    st.Page("mnist.py", title="Live MNIST", icon=":material/model_training:"),
    st.Page("experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("paper_lab.py", title="Paper lab", icon=":material/lab_research:"),
]
navigation = st.navigation(pages)
preload_charts()  # every page draws Plotly charts
navigation.run()
