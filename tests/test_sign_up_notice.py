"""The sign-up form cannot be used to mail our text, with a stranger's words, to anybody."""

from __future__ import annotations

import base64
import contextlib
import re
import zlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.core.models import Journalist
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from alerts.worker.app import SEND_NOTICE, URGENT
from tests.conftest import Stack
from tests.factories import journalist
from tests.webclient import csrf, link, path, subscribe, text_of, wait_for_mail

# How Celery logs a notice task that sent nothing because it was stale.
STALE = re.compile(rf"{re.escape(SEND_NOTICE)}\[[^\]]+\] succeeded in [0-9.]+s: 'stale'")

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


def test_confirmation_link_does_not_reveal_the_choices(pipeline: Stack, web: TestClient) -> None:
    address = "opaque@example.net"
    subscribe(
        web,
        address,
        name="Zebulon Quuxley",
        outlet="Quux Wire",
        topics=["asylum"],
        timezone="Asia/Kathmandu",
    )
    [confirmation] = wait_for_mail(pipeline, address)
    token = link(confirmation, "confirm").rsplit("/", 1)[1]
    revealed = b""
    for part in token.split("."):
        with contextlib.suppress(ValueError):
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            revealed += raw
            with contextlib.suppress(zlib.error):
                revealed += zlib.decompress(raw)
    for typed in (b"Zebulon", b"Quux", b"Kathmandu", b"asylum"):
        assert typed not in revealed
    # Still applied once the owner of the mailbox confirms.
    page = web.get(path(link(confirmation, "confirm")))
    assert web.post(path(link(confirmation, "confirm")), data={"csrf_token": csrf(page.text)})
    with pipeline.session() as session:
        person = session.scalars(select(Journalist).where(Journalist.email == address)).one()
        assert (person.name, person.outlet, person.timezone) == (
            "Zebulon Quuxley",
            "Quux Wire",
            "Asia/Kathmandu",
        )
        assert [s.topics for s in person.subscriptions] == [["asylum"]]


def test_a_notice_asked_for_before_the_journalist_existed_is_not_theirs(
    pipeline: Stack,
) -> None:
    # SQLite hands an id out again once the last row is gone: a confirmation still
    # queued for the erased row must not reach the person who got the id next.
    with pipeline.session() as session, session.begin():
        person = journalist(session, "next@example.net", ([], []), status="pending")
        session.flush()
        person_id, created = person.id, person.created_at
    dropped = len(STALE.findall(pipeline.worker_log()))
    before = (created - timedelta(minutes=1)).isoformat()
    pipeline.app.send_task(SEND_NOTICE, args=[person_id, "confirm", None, before], queue=URGENT)
    pipeline.wait_until(
        lambda: len(STALE.findall(pipeline.worker_log())) > dropped, what="the old notice dropped"
    )
    pipeline.app.enqueue_notice(person_id, "confirm")  # asked for now: theirs
    [confirmation] = wait_for_mail(pipeline, "next@example.net")
    assert "/confirm/" in text_of(confirmation)
