"""optviz's entry point: ``streamlit run app.py`` serves the ``st.App`` below.

The app's script is ``pages/navigation.py`` (page config and the ``st.navigation`` router), kept
in ``pages/`` so that no ``pages/`` folder sits beside it: Streamlit puts a main script with a
``pages/`` folder beside it into its older pages-folder mode until the script has run once, so a
direct link to a page on a fresh server would first show a navigation of file names.

``lifespan`` runs once per server, before any page is opened and after the last: at start-up it
marks failed the runs a crashed app left "running" and kills its Ray's leftovers, and starts
warming the engine up beside the server (``views.warm_up``); at shutdown it fails this app's live
runs and stops its local Ray.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

from optviz.training.lifecycle import recover_previous_app


@asynccontextmanager
async def lifespan(_: st.App) -> AsyncIterator[None]:
    await asyncio.to_thread(recover_previous_app)
    # Beside the server, not before it: the first visitor's page loads meanwhile.
    threading.Thread(target=_warm_up, name="optviz-warm-up", daemon=True).start()
    yield
    cluster = sys.modules.get("optviz.training.cluster")  # imported (with Ray) by Live MNIST only
    if cluster is not None:
        await asyncio.to_thread(cluster.shutdown)


def _warm_up() -> None:
    from optviz import views  # imports torch: in this thread, not in the server's start-up

    views.warm_up()


app = st.App("pages/navigation.py", lifespan=lifespan)
