"""Preference links expire and offer a fresh one by email; unsubscribe links never expire."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from alerts.core.models import Journalist, JournalistStatus
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import SECRET, Stack
from tests.factories import journalist
from tests.webclient import csrf, h1, link, path, wait_for_mail

HUNDRED_DAYS = 100 * 24 * 3600


class _SignedLongAgo(TimestampSigner):
    """Signs exactly as the application does, a hundred days ago."""

    def get_timestamp(self) -> int:
        return int(time.time()) - HUNDRED_DAYS


def _old_token(purpose: str, payload: object) -> str:
    serializer = URLSafeTimedSerializer(
        SECRET, salt=f"newsroom-alerts.{purpose}", signer=_SignedLongAgo
    )
    return str(serializer.dumps(payload))


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    limits = SignUpLimits("memory://", "3/hour", "30/minute")
    with TestClient(
        create_app(pipeline.app, limits), base_url=pipeline.settings.base_url
    ) as client:
        yield client


def test_expired_preference_link_offers_a_fresh_one(pipeline: Stack, web: TestClient) -> None:
    address = "reader@example.net"
    with pipeline.session() as session:
        person = journalist(session, address, ([], []))
        session.commit()
        person_id = person.id
    old = _old_token("preferences", person_id)

    page = web.get(f"/preferences/{old}")
    assert page.status_code == 410
    assert h1(page.text) == "This link has expired"
    assert address not in page.text  # an expired link opens nobody's data
    assert web.get(f"/preferences/{old}/export").status_code == 410
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action and action.group(1).endswith(f"/preferences/{old}/fresh-link")

    sent = web.post(path(action.group(1)), data={"csrf_token": csrf(page.text)})
    assert sent.status_code == 200 and h1(sent.text) == "Check your inbox", sent.text
    [fresh] = wait_for_mail(pipeline, address)
    assert fresh["Subject"] == "Your new link to your press alerts preferences"
    new_link = link(fresh, "preferences")
    assert old not in new_link
    opened = web.get(path(new_link))
    assert opened.status_code == 200 and address in opened.text

    # Without the form's CSRF token, or with a forged token, nothing is sent.
    assert web.post(path(action.group(1)), data={}).status_code == 403
    forged = web.post(
        f"/preferences/{old[:-4]}AAAA/fresh-link", data={"csrf_token": csrf(page.text)}
    )
    assert forged.status_code == 400
    time.sleep(1)
    assert len(wait_for_mail(pipeline, address)) == 1


def test_unsubscribe_links_work_long_after_preference_links_expire(
    pipeline: Stack, web: TestClient
) -> None:
    address = "leaver@example.net"
    with pipeline.session() as session:
        person = journalist(session, address, ([], []))
        session.commit()
        person_id = person.id
    old = _old_token("unsubscribe", person_id)
    assert web.get(f"/u/{old}").status_code == 200
    done = web.post(f"/u/{old}", data={"List-Unsubscribe": "One-Click"})  # RFC 8058
    assert done.status_code == 200
    with pipeline.session() as session:
        status = session.scalar(select(Journalist.status).where(Journalist.id == person_id))
    assert status == JournalistStatus.UNSUBSCRIBED
