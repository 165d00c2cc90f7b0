"""The mailbox view over the sink's Maildir, and rendered emails at phone width.

Screenshots land in build/test-artifacts/browser/mailbox/ for people to look at.
"""

from __future__ import annotations

import mailbox
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, ViewportSize, expect

from alerts.core.taxonomy import Taxonomy
from alerts.dev.mailbox_view import create_mailbox_app
from alerts.dev.sink import free_port
from alerts.mail.rendering import build_message, make_environment, render_item
from tests.seed_emails import SEED, seed_message, signed_recipient
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)
from tests.test_rendering import SENDER, _item, _recipient

PHONE: ViewportSize = {"width": 375, "height": 812}
SHOTS = ARTIFACTS / "mailbox"


def _fits_the_phone(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling of the whole page."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def _maildir(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "maildir"
    rendered = render_item(
        make_environment(),
        _item("Mexico: <b>report</b> out now"),
        Taxonomy(),
        SENDER,
        "https://alerts.ngo.example",
    )
    raw = build_message(rendered, _recipient(name="Ana"), SENDER)
    key = mailbox.Maildir(folder, create=True).add(mailbox.MaildirMessage(raw))
    return folder, key


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_mailbox_app(folder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def seed_mailbox(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """The view over a Maildir holding two seed alerts (en, es); its URL and their keys."""
    folder = tmp_path / "maildir"
    box = mailbox.Maildir(folder, create=True)
    english = box.add(seed_message(0, "en", signed_recipient(1, "Ana Torres", 1)))
    time.sleep(0.01)  # keys sort by arrival
    spanish = box.add(seed_message(3, "es", signed_recipient(2, "Júlia Núñez", 2)))
    with _serve(folder) as url:
        yield url, english, spanish


def test_lists_and_shows_captured_messages(tmp_path: Path) -> None:
    folder, key = _maildir(tmp_path)
    with TestClient(create_mailbox_app(folder)) as client:
        index = client.get("/")
        assert "1 message(s)" in index.text
        assert "Mexico: &lt;b&gt;report&lt;/b&gt; out now" in index.text  # text, not markup
        page = client.get(f"/m/{key}")
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in page.text
        assert "<h2>Text</h2>" in page.text and "Manage your preferences" in page.text
        html = client.get(f"/m/{key}/html")
        assert html.headers["content-security-policy"].startswith("default-src 'none'")
        assert client.get(f"/m/{key}/raw").text.startswith("Content-Type: multipart/alternative")
        assert client.get("/m/nope").status_code == 404


def test_screenshots_of_the_mailbox_and_emails_at_phone_width(
    seed_mailbox: tuple[str, str, str],
    browser: Browser,  # noqa: F811
) -> None:
    url, english, spanish = seed_mailbox
    for stale in SHOTS.glob("*.png"):
        stale.unlink()
    shots = Shots(browser.new_page(viewport=PHONE), SHOTS)
    page = shots.page
    page.goto(f"{url}/")
    expect(page.get_by_role("link", name=SEED[0].title)).to_be_visible()
    expect(page.get_by_role("link", name=SEED[3].title)).to_be_visible()
    _fits_the_phone(page)
    shots.take("mailbox")
    page.get_by_role("link", name=SEED[0].title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SEED[0].title)
    _fits_the_phone(page)
    shots.take("message")

    page.goto(f"{url}/m/{english}/html")
    expect(page.locator("h1")).to_have_text(SEED[0].title)
    _fits_the_phone(page)
    button = page.get_by_role("link", name="Read it on our website")
    expect(button).to_be_visible()
    shots.take("email-at-phone-width")
    page.goto(f"{url}/m/{spanish}/html")
    expect(page.get_by_role("link", name="Leer en nuestro sitio web")).to_be_visible()
    _fits_the_phone(page)
    shots.take("email-es-at-phone-width")
    page.set_viewport_size({"width": 1024, "height": 768})
    width = page.evaluate("document.querySelector('table.wrap').getBoundingClientRect().width")
    assert width == 600, width  # a column of 600 px at most, centred
    shots.take("email-es-at-desktop-width")
    page.close()

    dark = shots.page = browser.new_page(viewport=PHONE, color_scheme="dark")
    dark.goto(f"{url}/m/{english}/html")
    expect(dark.locator("h1")).to_have_text(SEED[0].title)
    # The kept @media (prefers-color-scheme: dark) block repaints the light frame.
    background = dark.evaluate(
        "getComputedStyle(document.querySelector('td.content')).backgroundColor"
    )
    assert background == "rgb(30, 30, 30)", background
    shots.take("email-at-phone-width-dark")
    dark.close()
