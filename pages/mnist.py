"""Placeholder until the mnist page lands."""

import streamlit as st

st.title("mnist")
