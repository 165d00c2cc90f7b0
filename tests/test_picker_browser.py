"""The country and region picker in real headless Chromium: search, pick, submit; and the
same form without JavaScript still subscribes. Screenshots under
build/test-artifacts/browser/<set-up>/picker/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from alerts.core.models import Journalist, utcnow
from alerts.core.tokens import Purpose
from alerts.items.lifecycle import publish_item
from tests.conftest import Stack
from tests.factories import journalist
from tests.newsroom_helpers import draft
from tests.test_accessibility import AXE, BLOCKING, RUN
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


def _recent_releases(pipeline: Stack) -> None:
    """Three releases of the last few days (the list looks back 30 days), and an older one."""
    now = utcnow()
    with pipeline.session() as session:
        for days, title, countries, topics in (
            (3, "Mexico: asylum at the border", ["MX"], ["asylum"]),
            (2, "Chile: torture in custody", ["CL"], ["torture"]),
            (1, "Norway: asylum rules", ["NO"], ["asylum"]),
            (45, "Chile: an older report", ["CL"], ["torture"]),
        ):
            item = draft(session, title=title, countries=countries, topics=topics)
            publish_item(session, item, now - timedelta(days=days))
        session.commit()


RECENT = "Recently this would have sent you:"


def test_the_form_shows_what_a_choice_would_have_sent(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    _recent_releases(pipeline)
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/subscribe?countries=americas&topics=asylum")
    recent = page.get_by_role("region", name=RECENT)
    assert recent.get_by_role("link").all_inner_texts() == ["Mexico: asylum at the border"]
    page.goto(f"{live_server}/subscribe?countries=MX&countries=NO")
    recent = page.get_by_role("region", name=RECENT)
    assert recent.get_by_role("link").all_inner_texts() == [
        "Norway: asylum rules",
        "Mexico: asylum at the border",
    ]
    page.goto(f"{live_server}/subscribe")
    assert page.get_by_role("region", name=RECENT).count() == 0
    # Without the script, choosing changes nothing on the page; the form still subscribes.
    page.get_by_label("Countries and regions").select_option(["CL"])
    assert page.get_by_role("region", name=RECENT).count() == 0
    context.close()


def _links(page: Page, box: str) -> list[str]:
    return page.locator(f"#{box} a").all_inner_texts()


def test_choosing_updates_the_list_live(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    _recent_releases(pipeline)
    context = browser.new_context(bypass_csp=True, viewport={"width": 420, "height": 900})
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name / "picker")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/news/matching" in r.url else None)
    page.goto(f"{live_server}/subscribe?lang=en")
    assert _links(page, "new-recent") == []
    page.get_by_role("searchbox", name="Search countries and regions").fill("chil")
    page.get_by_role("checkbox", name="Chile", exact=True).check()
    recent = page.get_by_role("region", name=RECENT)
    expect(recent.get_by_role("link")).to_have_text(["Chile: torture in custody"])
    # The older Chilean report is past the 30 days.
    page.get_by_role("searchbox", name="Search countries and regions").fill("")
    page.get_by_role("checkbox", name="Americas", exact=True).check()
    page.get_by_role("checkbox", name="Asylum", exact=True).check()
    expect(recent.get_by_role("link")).to_have_text(["Mexico: asylum at the border"])
    shots.take("recent-live")
    problems = _audit(page, None)
    page.get_by_role("checkbox", name="Americas", exact=True).uncheck()
    expect(page.locator("#new-recent p.hint")).to_have_text(
        "Nothing published in the last 30 days matches this choice."
    )
    page.get_by_role("checkbox", name="Chile", exact=True).uncheck()
    page.get_by_role("checkbox", name="Asylum", exact=True).uncheck()
    expect(page.locator("#new-recent")).to_be_empty()
    assert asked and all("lang=en" in url for url in asked)
    # The choice still posts as the plain form would.
    chosen = page.locator("#new-countries").evaluate(
        "select => [...select.selectedOptions].map(option => option.value)"
    )
    assert chosen == []

    # The preferences page: each subscription's form shows its own list and follows its
    # choice, in the journalist's language.
    with pipeline.session() as session:
        person = journalist(session, "live@paper.example", (["NO"], []), language="es")
        session.commit()
        token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person.id)
        [sub_id] = [sub.id for sub in person.subscriptions]
    page.goto(f"{live_server}/preferences/{token}")
    box = f"sub{sub_id}-recent"
    page.locator("details summary").first.click()
    assert _links(page, box) == ["Norway: asylum rules"]
    page.get_by_role("checkbox", name="México", exact=True).check()
    expect(page.locator(f"#{box} a")).to_have_text(
        ["Norway: asylum rules", "Mexico: asylum at the border"]
    )
    expect(page.locator(f"#{box} h3")).to_have_text(
        "Recientemente, esta elección le habría enviado:"
    )
    shots.take("preferences-live")
    problems += _audit(page, None)
    assert problems == []
    context.close()


def _audit(page: Page, url: str | None) -> list[str]:
    """axe-core on the page as it is now (after the live update), serious and critical."""
    if url is not None:
        page.goto(url)
    page.add_script_tag(path=str(AXE))
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in page.evaluate(RUN)
        if v["impact"] in BLOCKING
    ]
