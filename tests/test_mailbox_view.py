"""The mailbox view over the sink's Maildir, and one rendered email at phone width."""

from __future__ import annotations

import mailbox
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from alerts.mailbox_view import create_mailbox_app
from alerts.rendering import build_message, make_environment, render_item
from alerts.taxonomy import Taxonomy
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)
from tests.test_rendering import SENDER, _item, _recipient


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


def test_screenshots_of_the_mailbox_and_an_email_at_phone_width(
    tmp_path: Path,
    browser: Browser,  # noqa: F811
) -> None:
    import threading
    import time

    import uvicorn

    from alerts.sink import free_port

    folder, key = _maildir(tmp_path)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_mailbox_app(folder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        shots = Shots(page, ARTIFACTS / "mailbox")
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.get_by_role("link")).to_have_text("Mexico: <b>report</b> out now")
        shots.take("mailbox")
        page.goto(f"http://127.0.0.1:{port}/m/{key}/html")
        expect(page.locator("h1")).to_have_text("Mexico: <b>report</b> out now")
        shots.take("email-at-phone-width")
        page.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
