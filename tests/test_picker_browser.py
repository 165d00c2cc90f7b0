"""The country and region picker in real headless Chromium: search, pick, submit; and the
same form without JavaScript still subscribes. Screenshots under
build/test-artifacts/browser/<set-up>/picker/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select

from alerts.core.models import Journalist
from tests.conftest import Stack
from tests.newsroom_helpers import release
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, Shots
from tests.webclient import link, wait_for_mail


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def _subscriptions(pipeline: Stack, email: str) -> list[list[str]]:
    with pipeline.session() as session:
        person = session.scalar(select(Journalist).where(Journalist.email == email))
        assert person is not None
        return [sorted(s.countries) for s in person.subscriptions]


def test_search_pick_and_subscribe(pipeline: Stack, live_server: str, browser: Browser) -> None:
    email = "picker@wire.example"
    context = browser.new_context(viewport={"width": 420, "height": 900}, locale="en-GB")
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name / "picker")
    page.goto(f"{live_server}/subscribe")
    search = page.get_by_role("searchbox", name="Search countries and regions")
    search.fill("mex")
    mexico = page.get_by_role("checkbox", name="Mexico", exact=True)
    assert mexico.is_visible()
    assert not page.get_by_role("checkbox", name="Chile", exact=True).is_visible()
    shots.take("searched")
    mexico.check()
    search.fill("")
    page.get_by_role("checkbox", name="Americas", exact=True).check()
    chosen = page.locator("#new-countries").evaluate(
        "select => [...select.selectedOptions].map(option => option.value)"
    )
    assert sorted(chosen) == ["MX", "americas"]
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
    [confirmation] = wait_for_mail(pipeline, email)
    page.goto(link(confirmation, "confirm"))
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_load_state()
    [countries] = _subscriptions(pipeline, email)
    assert "MX" in countries and "AR" in countries  # Americas: its countries, Mexico among them
    context.close()


def test_without_javascript_the_plain_list_subscribes(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    email = "plain@wire.example"
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/subscribe")
    assert page.get_by_role("searchbox").count() == 0
    page.get_by_label("Countries and regions").select_option(["MX", "CL"])
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
    [confirmation] = wait_for_mail(pipeline, email)
    page.goto(link(confirmation, "confirm"))
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_load_state()
    assert _subscriptions(pipeline, email) == [["CL", "MX"]]
    context.close()


def test_the_form_shows_what_a_choice_would_have_sent(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    with pipeline.session() as session:
        release(
            session, 0, title="Mexico: asylum at the border", countries=["MX"], topics=["asylum"]
        )
        release(session, 1, title="Chile: torture in custody", countries=["CL"], topics=["torture"])
        release(session, 2, title="Norway: asylum rules", countries=["NO"], topics=["asylum"])
        session.commit()
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/subscribe?countries=americas&topics=asylum")
    recent = page.get_by_role("region", name="Recently this would have sent you:")
    assert recent.get_by_role("link").all_inner_texts() == ["Mexico: asylum at the border"]
    page.goto(f"{live_server}/subscribe?countries=MX&countries=NO")
    recent = page.get_by_role("region", name="Recently this would have sent you:")
    assert recent.get_by_role("link").all_inner_texts() == [
        "Norway: asylum rules",
        "Mexico: asylum at the border",
    ]
    page.goto(f"{live_server}/subscribe")
    assert page.get_by_role("region", name="Recently this would have sent you:").count() == 0
    context.close()
