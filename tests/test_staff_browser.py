"""Comms staff in headless Chromium: sign in, compose, preview, reach, publish, progress."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from alerts.core.models import utcnow
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.factories import journalist
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)


def test_compose_preview_publish_and_watch_progress(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    with pipeline.session() as session:
        for n in range(12):
            journalist(session, f"reader{n}@example.net", (["MX"], []))
        journalist(session, "elsewhere@example.net", (["FR"], []))
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / f"staff-{pipeline.name}")

    page.goto(f"{live_server}/staff")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    shots.take("sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items")
    shots.take("items-empty")

    page.get_by_role("link", name="Compose a new item").click()
    # Its scripts have run: the language tabs' fields are hidden until a language is added.
    page.wait_for_load_state()
    page.get_by_role("textbox", name="Title", exact=True).fill(
        "Mexico: <b>journalists</b> under threat"
    )
    page.get_by_role("textbox", name="Summary", exact=True).fill(
        "A new report documents attacks on reporters."
    )
    page.get_by_label("Countries").select_option(["MX"])
    page.get_by_label("Topics").select_option(["journalists"])
    shots.take("compose")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#reach")).to_contain_text("Would reach 12 journalist(s) now")
    preview = page.frame_locator("#preview")
    # The title is shown as text, never as markup, in the preview as in emails.
    expect(preview.locator("h1")).to_have_text("Mexico: <b>journalists</b> under threat")
    shots.take("draft-with-preview")

    # Live preview: typing in the form saves the draft and re-renders the email.
    page.get_by_label("Summary").fill("Updated: attacks on reporters rose in 2026.")
    expect(preview.locator(".summary")).to_have_text(
        "Updated: attacks on reporters rose in 2026.", timeout=10_000
    )
    shots.take("live-preview")

    page.get_by_role("button", name="Publish now").click()
    expect(page.locator("#status")).to_have_text("published")
    expect(page.locator("#progress-text")).to_have_text(
        "12 sent, 0 pending, 0 failed, 0 cancelled, of 12", timeout=60_000
    )
    shots.take("published-progress")
    assert sorted(r.rcpt_tos[0] for r in pipeline.received()) == sorted(
        f"reader{n}@example.net" for n in range(12)
    )
    page.goto(f"{live_server}/staff")
    expect(page.locator("tbody tr").first).to_contain_text("12 sent of 12")
    shots.take("items-list")
    context.close()
