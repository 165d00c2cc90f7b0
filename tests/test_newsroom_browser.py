"""A reader's walk through the newsroom in real headless Chromium (Debian's, via Playwright):
the list, a filter, a release, then "get these by email" to a sign-up form already filled in.

Screenshots land in build/test-artifacts/browser/<set-up>/newsroom/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import Stack
from tests.newsroom_helpers import release
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, Shots


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def test_newsroom_filter_release_and_sign_up(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    with pipeline.session() as session:
        release(
            session,
            0,
            title="Mexico: asylum seekers held at the border",
            summary="Families wait for months in camps.",
            body="Officials **detained** hundreds of people.\n\n- One\n- Two",
            countries=["MX"],
            topics=["asylum"],
        )
        release(session, 1, title="Chile: torture in police stations", countries=["CL"])
        session.commit()
    context = browser.new_context(viewport={"width": 420, "height": 900}, locale="en-GB")
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name / "newsroom")

    page.goto(f"{live_server}/news")
    assert page.get_by_role("heading", level=1).inner_text() == "Newsroom"
    assert page.get_by_role("link", name="Chile: torture in police stations").is_visible()
    shots.take("newsroom")

    page.get_by_label("Country").select_option("MX")
    page.get_by_label("Topic").select_option("asylum")
    page.get_by_role("button", name="Show releases").click()
    page.wait_for_load_state()
    assert "country=MX" in page.url and "topic=asylum" in page.url
    assert page.get_by_role("link", name="Chile: torture in police stations").count() == 0
    shots.take("filtered")

    page.get_by_role("link", name="Mexico: asylum seekers held at the border").click()
    page.wait_for_load_state()
    assert page.url.endswith("-mexico-asylum-seekers-held-at-the-border")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Mexico: asylum seekers held at the border"
    )
    assert page.locator("article strong").inner_text() == "detained"
    assert page.locator('meta[property="og:title"]').get_attribute("content") == (
        "Mexico: asylum seekers held at the border"
    )
    shots.take("release")

    page.go_back()
    page.get_by_role("link", name="Get these by email").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Subscribe to press alerts"
    chosen = page.locator("#new-countries").evaluate(  # the form field behind the picker
        "select => [...select.selectedOptions].map(option => option.value)"
    )
    assert chosen == ["MX"]
    assert page.get_by_label("Asylum").is_checked()
    assert not page.get_by_label("Torture").is_checked()
    shots.take("subscribe-prefilled")
    context.close()
