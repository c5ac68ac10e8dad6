"""The app in a real Chromium: every page in the navigation opens, by click and by link, with no
exception and no JS error, and the page talks to nobody but its own server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    offsite_requests,
    open_app,
)

NAV_LINKS = '[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]'


def navigation(page: Any) -> list[tuple[str, str]]:
    """(title, href) of every link in the app's page navigation."""
    links = page.locator(NAV_LINKS)
    return [
        (" ".join(links.nth(i).inner_text().split()), str(links.nth(i).get_attribute("href")))
        for i in range(links.count())
    ]


@pytest.mark.browser
def test_every_page_in_the_navigation_opens_without_errors(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    assert_no_app_errors(page, app_server_process)
    pages = navigation(page)
    assert len(pages) >= 2, f"expected the app's pages in the navigation, found {pages}"

    # Every page in turn, then back to the first, so each one is reached by a click.
    for index in [*range(1, len(pages)), 0]:
        title, href = pages[index]
        link = page.locator(NAV_LINKS).nth(index)
        with expect_rerun(page):
            link.click()
        # Compare paths: a page may put its settings into the query string.
        assert urlsplit(page.url).path == urlsplit(href).path, f"{title!r} led to {page.url}"
        assert link.get_attribute("aria-current") == "page"
        assert page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count()
        assert_no_app_errors(page, app_server_process)

    assert offsite_requests(page) == []


@pytest.mark.browser
def test_every_page_opens_from_a_direct_link_without_errors(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    for index, (title, href) in enumerate(navigation(page)):
        page.goto("about:blank")
        open_app(page, href)
        current = page.locator(NAV_LINKS).nth(index)
        assert current.get_attribute("aria-current") == "page", f"{href} did not open {title!r}"
        assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_a_direct_link_is_the_first_visit_of_a_fresh_server(
    streamlit_server: Callable[..., StreamlitServer], page: Any
) -> None:
    """Before app.py has ever run, Streamlit would run pages/mnist.py alone (its pages/ folder
    mode): file names as navigation, no page config. The pages route through app.py instead."""
    server = streamlit_server()
    open_app(page, f"{server.url}/mnist")
    titles = [title for title, _ in navigation(page)]  # icon names come first: "route Traj…"
    assert len(titles) == 2, titles
    assert titles[0].endswith("Trajectory explorer") and titles[1].endswith("Live MNIST")
    assert page.locator(NAV_LINKS).nth(1).get_attribute("aria-current") == "page"
    assert_no_app_errors(page, server)
