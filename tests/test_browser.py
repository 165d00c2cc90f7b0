"""A journalist's whole journey in real headless Chromium (Debian's, driven by Playwright).

Screenshots of every page land in build/test-artifacts/browser/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from alerts.core.models import Delivery, Journalist, JournalistStatus
from tests.conftest import Stack
from tests.factories import published_item
from tests.webclient import link, wait_for_mail

CHROMIUM = os.environ.get("ALERTS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts" / "browser"
# As root and on a closed network: no sandbox, and no calls home at start-up.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


class Shots:
    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def test_subscribe_confirm_receive_change_unsubscribe(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    email = "browser.user@example.net"
    context = browser.new_context(viewport={"width": 420, "height": 900}, locale="en-GB")
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name)

    page.goto(f"{live_server}/subscribe")
    shots.take("subscribe")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Name", exact=True).fill("Bea Browser")
    page.get_by_label("Outlet").fill("Web Wire")
    page.get_by_role("checkbox", name="Mexico", exact=True).check()  # the picker
    page.get_by_label("Asylum").check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
    shots.take("check-inbox")

    [confirmation] = wait_for_mail(pipeline, email)
    page.goto(link(confirmation, "confirm"))
    shots.take("confirm")
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "You are subscribed"
    shots.take("confirmed")

    with pipeline.session() as session:
        first = published_item(
            session, title="Mexico: asylum seekers", countries=["MX"], topics=["asylum"]
        )
        session.commit()
    pipeline.wait_for_item(first)
    alert = wait_for_mail(pipeline, email, count=2)[1]
    assert alert["Subject"] == "Mexico: asylum seekers"

    page.goto(link(alert, "preferences"))
    shots.take("preferences")
    page.get_by_text("Change this subscription").click()
    form = page.locator("form", has=page.locator("input[name=subscription_id]"))
    form.get_by_label("Asylum").uncheck()
    form.get_by_label("Torture").check()
    shots.take("preferences-editing")
    form.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert "Your changes are saved." in page.content()
    shots.take("preferences-saved")
    with pipeline.session() as session:
        person = session.scalars(select(Journalist).where(Journalist.email == email)).one()
        assert [s.topics for s in person.subscriptions] == [["torture"]]

    page.goto(str(alert["List-Unsubscribe"]).strip().strip("<>"))
    shots.take("unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
    shots.take("unsubscribed")

    with pipeline.session() as session:
        second = published_item(
            session, title="Mexico: torture", countries=["MX"], topics=["torture"]
        )
        session.commit()
    pipeline.wait_for_item(second)
    time.sleep(1)
    assert len([r for r in pipeline.received() if email in r.rcpt_tos]) == 2
    with pipeline.session() as session:
        person = session.scalars(select(Journalist).where(Journalist.email == email)).one()
        assert person.status == JournalistStatus.UNSUBSCRIBED
        assert session.scalars(select(Delivery).where(Delivery.item_id == second)).all() == []
    context.close()
