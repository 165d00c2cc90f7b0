"""/ops in headless Chromium during a publish: progress advances to 100 %."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from alerts.core.models import utcnow
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)


def test_ops_page_follows_a_publish(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    with pipeline.session() as session:
        for n in range(60):
            journalist(session, f"o{n}@example.net", ([], []))
        key = create_key(session, "night shift", "operator", utcnow())[1]
        session.commit()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / f"ops-{pipeline.name}")
    page.goto(f"{live_server}/staff/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/ops")
    expect(page.get_by_role("heading", level=1)).to_have_text("Operations")
    expect(page.locator("#broker")).to_have_text("reachable")
    shots.take("ops-idle")

    with pipeline.session() as session:
        published_item(session, title="Breaking: watched by ops")
        session.commit()
    row = page.locator("#items tbody tr", has_text="Breaking: watched by ops")
    expect(row).to_be_visible(timeout=15_000)  # the page refreshes itself
    seen = [row.locator(".sent").inner_text()]
    shots.take("ops-during")
    expect(row.locator(".sent")).to_have_text("60 / 60", timeout=60_000)
    seen.append(row.locator(".sent").inner_text())
    shots.take("ops-done")
    assert all(re.fullmatch(r"\d+ / 60", text) for text in seen)

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deliveries of item")
    expect(page.locator("tbody tr")).to_have_count(60)
    expect(page.locator("tbody")).to_contain_text("250 2.0.0 Ok")
    shots.take("ops-item")
    context.close()
