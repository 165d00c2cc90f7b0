"""Driving the public pages as a browser would: follow forms, keep cookies."""

from __future__ import annotations

import html
import re
import time
from email.message import EmailMessage
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.conftest import Stack


def h1(html: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", html, re.S)
    return match.group(1).strip() if match else ""


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def path(url: str) -> str:
    """The part of an absolute link that a test client (bound to the host) requests."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def subscribe(client: TestClient, email: str, **fields: object) -> str:
    page = client.get("/subscribe")
    data: dict[str, object] = {
        "email": email,
        "name": "Test",
        "outlet": "Wire",
        "language": "en",
        "cadence": "immediate",
        "csrf_token": csrf(page.text),
    } | fields
    response = client.post("/subscribe", data=data)
    assert response.status_code == 200, response.text
    return str(response.text)


def wait_for_mail(stack: Stack, to: str, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r.parsed() for r in stack.received() if to in r.rcpt_tos]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no mail for {to}:\n{stack.worker_log()}"
        time.sleep(0.1)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, kind: str) -> str:
    match = re.search(rf"https?://[^/\s]+/{kind}/\S+", text_of(message))
    assert match, f"no /{kind}/ link in:\n{text_of(message)}"
    return match.group(0)


# A link through the click endpoint (ALERTS_TRACK_CLICKS, on by default in the stacks).
_TRACKED = re.compile(r"https?://[^\s\"'<>]+/c/[A-Za-z0-9._-]+")


def untracked(stack: Stack, content: str, *, in_html: bool = False) -> str:
    """``content`` with every tracked link replaced by where the click endpoint sends it.

    Tests of what an email links to read the targets this way: the endpoint's own 302,
    so a link that would lead somewhere else fails them as it would a reader.
    """
    from alerts.web import create_app

    with TestClient(create_app(stack.app), base_url=stack.settings.base_url) as client:

        def target(found: re.Match[str]) -> str:
            answer = client.get(path(found.group(0)), follow_redirects=False)
            assert answer.status_code == 302, (found.group(0), answer.status_code)
            location = str(answer.headers["location"])
            return html.escape(location) if in_html else location

        return _TRACKED.sub(target, content)
