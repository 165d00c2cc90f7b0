"""The sign-up form cannot be used to mail our text, with a stranger's words, to anybody."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.webclient import subscribe, wait_for_mail

INJECTED_NAME = "Eve\r\n\r\n<h1>body</h1>"
INJECTED_OUTLET = "Visit evil.example now"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    limits = SignUpLimits("memory://", "3/hour", "30/minute")
    with TestClient(
        create_app(pipeline.app, limits), base_url=pipeline.settings.base_url
    ) as client:
        yield client


def test_confirmation_email_carries_nothing_typed_on_the_form(
    pipeline: Stack, web: TestClient
) -> None:
    victim = "stranger@example.net"
    subscribe(web, victim, name=INJECTED_NAME, outlet=INJECTED_OUTLET)
    [confirmation] = wait_for_mail(pipeline, victim)
    text_part = confirmation.get_body(("plain",))
    html_part = confirmation.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = str(text_part.get_content()), str(html_part.get_content())
    for typed in ("Eve", "<h1>body", "&lt;h1&gt;body", INJECTED_OUTLET, "evil.example"):
        assert typed not in text
        assert typed not in html
    assert "Eve" not in str(confirmation["To"])
    assert "Hello," in text  # a neutral greeting
