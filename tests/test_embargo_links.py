"""The web link in an embargoed alert opens that release, and only it, until the lift."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from alerts.core.embargo_links import EmbargoLinks
from alerts.core.models import Item, utcnow
from alerts.items.embargoes import embargo, lift_due
from alerts.items.lifecycle import withdraw
from tests.conftest import SECRET, Stack
from tests.factories import journalist
from tests.newsroom_helpers import client_of, draft
from tests.webclient import path, text_of, wait_for_mail

LIFT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_token_names_one_item_and_expires_at_the_lift() -> None:
    links = EmbargoLinks(SECRET)
    token = links.sign(7, LIFT)
    assert links.opens(token, 7, LIFT - timedelta(seconds=1))
    assert not links.opens(token, 7, LIFT)
    assert not links.opens(token, 8, LIFT - timedelta(hours=1))
    assert not links.opens(token + "x", 7, LIFT - timedelta(hours=1))
    assert not EmbargoLinks("another secret").opens(token, 7, LIFT - timedelta(hours=1))
    # A token of another kind signed with the same secret is refused too.
    assert not links.opens("not-a-token", 7, LIFT - timedelta(hours=1))


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def test_the_verified_journalists_link_opens_the_release_during_the_embargo(
    pipeline: Stack, web: TestClient
) -> None:
    now = utcnow()
    with pipeline.session() as session:
        vera = journalist(session, "vera@paper.example", (["NO"], []))
        vera.verified_at = now
        secret = draft(session, title="Norway: the embargoed report", countries=["NO"])
        other = draft(session, title="Norway: another embargoed one", countries=["NO"])
        for item in (secret, other):
            embargo(session, item, now + timedelta(hours=6), now)
        session.commit()
        secret_id, other_id = secret.id, other.id
    pipeline.wait_for_item(secret_id)
    messages = wait_for_mail(pipeline, "vera@paper.example", count=2)
    [message] = [m for m in messages if "the embargoed report" in str(m["Subject"])]
    text = text_of(message).replace("\r\n", "\n")
    found = re.search(
        r"Read this embargoed release on the web \(please do not share this link\):\n(\S+)", text
    )
    assert found, text
    url = found.group(1)
    assert url.startswith(f"{pipeline.settings.base_url}/news/{secret_id}?lang=en&t=")
    part = message.get_body(("html",))
    assert part is not None and f'href="{html.escape(url)}"' in str(part.get_content())

    page = web.get(path(url), follow_redirects=True)
    assert page.status_code == 200
    assert "<h1>Norway: the embargoed report</h1>" in page.text
    assert "EMBARGOED UNTIL" in page.text and '<meta name="robots" content="noindex">' in page.text
    assert "application/ld+json" not in page.text and "og:title" not in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"

    unknown = web.get("/news/999999")
    token = url.partition("&t=")[2]
    # Without the token, with it on another embargoed item, or altered: like an unknown id.
    for ref in (
        f"/news/{secret_id}",
        f"/news/{other_id}?t={token}",
        f"/news/{secret_id}?t={token[:-2]}",
        f"/news/999999?t={token}",
    ):
        answer = web.get(ref, follow_redirects=True)
        assert (answer.status_code, answer.content) == (404, unknown.content), ref

    # The embargo lifts: the plain address works for everyone, with or without the token.
    with pipeline.session() as session:
        assert lift_due(session, now + timedelta(hours=7)) == sorted([secret_id, other_id])
        session.commit()
    for ref in (f"/news/{secret_id}", path(url)):
        lifted = web.get(ref, follow_redirects=True)
        assert lifted.status_code == 200 and "EMBARGOED UNTIL" not in lifted.text, ref


def test_a_withdrawn_or_expired_embargo_link_opens_nothing(
    pipeline: Stack, web: TestClient
) -> None:
    now = utcnow()
    links = EmbargoLinks(pipeline.settings.secret)
    with pipeline.session() as session:
        item = draft(session, title="Withdrawn before its lift", countries=["NO"])
        embargo(session, item, now + timedelta(hours=6), now)
        soon = draft(session, title="A link signed for an earlier lift", countries=["NO"])
        embargo(session, soon, now + timedelta(hours=6), now)
        session.commit()
        item_id, soon_id = item.id, soon.id
    good = links.sign(item_id, now + timedelta(hours=6))
    assert web.get(f"/news/{item_id}?t={good}", follow_redirects=True).status_code == 200
    # A token whose time is past (an embargo moved later keeps the old link's end).
    past = links.sign(soon_id, now - timedelta(seconds=1))
    unknown = web.get("/news/999999")
    answer = web.get(f"/news/{soon_id}?t={past}", follow_redirects=True)
    assert (answer.status_code, answer.content) == (404, unknown.content)
    with pipeline.session() as session:
        held = session.get(Item, item_id)
        assert held is not None
        withdraw(session, held, now)
        session.commit()
    answer = web.get(f"/news/{item_id}?t={good}", follow_redirects=True)
    assert (answer.status_code, answer.content) == (404, unknown.content)
