"""The app in a real Chromium: every page in the navigation opens, by click and by link, with no
exception and no JS error, and the page talks to nobody but its own server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    navigations_shown,
    offsite_requests,
    open_app,
)

NAV_LINKS = '[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]'
APP_NAVIGATION = [  # icon name, title
    "route Trajectory explorer",
    "landscape Landscapes",
    "model_training Live MNIST",
    "science Experiments",
    "lab_research Paper lab",
]


@dataclass(frozen=True)
class NavLink:
    title: str
    href: str
    current: bool


def navigation(page: Any) -> list[NavLink]:
    """Every link in the app's page navigation, read in one evaluation."""
    links = page.locator(NAV_LINKS).evaluate_all(
        """links => links.map((a) => [a.innerText.trim().split(/\\s+/).join(" "),
                                      a.getAttribute("href"), a.getAttribute("aria-current")])"""
    )
    return [NavLink(title, str(href), current == "page") for title, href, current in links]


@pytest.mark.ray  # Live MNIST starts Ray in the server
def test_every_page_in_the_navigation_opens_without_errors(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    assert_no_app_errors(page, app_server_process)
    pages = navigation(page)
    assert [link.title for link in pages] == APP_NAVIGATION

    # Every page in turn, then back to the first, so each one is reached by a click.
    for index in [*range(1, len(pages)), 0]:
        with expect_rerun(page):
            page.locator(NAV_LINKS).nth(index).click()
        # Compare paths: a page may put its settings into the query string.
        href = pages[index].href
        assert urlsplit(page.url).path == urlsplit(href).path, f"{href} led to {page.url}"
        assert [link.current for link in navigation(page)] == [
            i == index for i in range(len(APP_NAVIGATION))
        ]
        assert page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count()
        assert_no_app_errors(page, app_server_process)

    assert offsite_requests(page) == []


@pytest.mark.ray
def test_every_page_opens_from_a_direct_link_without_errors(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    for index, link in enumerate(navigation(page)):
        page.goto("about:blank")
        open_app(page, link.href)
        current = [other.current for other in navigation(page)]
        assert current == [i == index for i in range(len(APP_NAVIGATION))], (
            f"{link.href} did not open {link.title}"
        )
        assert_no_app_errors(page, app_server_process)


@pytest.mark.ray
def test_a_direct_link_on_a_fresh_server_opens_its_page_through_app_py(
    streamlit_server: Callable[..., StreamlitServer], page: Any
) -> None:
    """The first visit of a fresh server is a link to a page: app.py's router opens it, with the
    app's page config."""
    server = streamlit_server()
    open_app(page, f"{server.url}/mnist")
    pages = navigation(page)
    assert [link.title for link in pages] == APP_NAVIGATION
    assert [link.current for link in pages] == [t.endswith("Live MNIST") for t in APP_NAVIGATION]
    assert page.title() == "optviz: optimizers, visualized"  # app.py's page config
    assert_no_app_errors(page, server)


@pytest.mark.ray
def test_a_direct_link_on_a_fresh_server_shows_only_the_apps_navigation(
    streamlit_server: Callable[..., StreamlitServer], page: Any
) -> None:
    server = streamlit_server()
    open_app(page, f"{server.url}/mnist")
    assert navigations_shown(page) == [APP_NAVIGATION]
