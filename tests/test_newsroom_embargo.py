"""Nothing public tells that a draft, a scheduled item or an embargoed item exists.

Seen from outside: every list (with each filter), a search for a word of its
title, the feed, its id and the ids around it answer byte for byte as before it
was written. After the embargo lifts (and the schedule comes) it is everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.core.models import Item, NoticeKind, utcnow
from alerts.items.embargoes import embargo, lift_due, move_embargo
from alerts.items.lifecycle import publish_due, schedule
from alerts.newsroom.listing import PAGE_SIZE
from alerts.newsroom.slugs import slugify
from tests.conftest import Stack
from tests.factories import journalist
from tests.newsroom_helpers import client_of, draft, release, titles

SECRET_TITLE = "Norway: Quokkaflux embargoed revelation"
SCHEDULED_TITLE = "Norway: Zebrastripe scheduled statement"
DRAFT_TITLE = "Norway: Wombatine draft notes"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def _public_urls(first_hidden_id: int) -> list[str]:
    lists = [
        "/news",
        "/news?page=2",
        "/news?country=NO",
        "/news?country=MX",
        "/news?region=europe",
        "/news?region=americas",
        "/news?topic=torture",
        "/news?topic=asylum",
        "/news?kind=report",
        "/news?kind=press_release",
        "/news?language=en",
        "/news?language=es",
        "/news?country=NO&topic=torture&kind=report&language=es",
    ]
    searches = [
        f"/news?q={word}"
        for word in ("quokkaflux", "Zebrastripe", "wombatine", "norway", "revelation")
    ]
    feeds = ["/news/feed.atom" + url.removeprefix("/news") for url in lists + searches]
    pages = [f"/news/{n}" for n in range(first_hidden_id - 1, first_hidden_id + 5)]
    return lists + searches + feeds + pages


def _answers(web: TestClient, urls: list[str]) -> dict[str, tuple[int, bytes, str | None]]:
    answers = {}
    for url in urls:
        response = web.get(url, follow_redirects=True)
        answers[url] = (response.status_code, response.content, response.headers.get("etag"))
    return answers


def test_hidden_items_are_not_there_until_they_lift(pipeline: Stack, web: TestClient) -> None:
    now = utcnow()
    with pipeline.session() as session:
        # Verified press receive the embargoed item, so a notice follows its move.
        vera = journalist(session, "vera@paper.example", (["NO"], []))
        vera.verified_at = now
        # A full page of visible releases: one more would add a second page.
        for day in range(PAGE_SIZE):
            release(
                session,
                day,
                title=f"Visible release {day:02d}",
                countries=["MX"] if day % 2 else ["NO"],
                topics=["asylum"],
            )
        session.commit()
        last_visible = session.scalar(select(func.max(Item.id)))
    assert last_visible is not None
    urls = _public_urls(last_visible + 1)
    before = _answers(web, urls)
    assert titles(web.get("/news").text)[0] == "Visible release 19"

    hidden_fields = {"countries": ["NO"], "topics": ["torture"], "kind": "report"}
    with pipeline.session() as session:
        secret = draft(session, title=SECRET_TITLE, body="Quokkaflux details.", **hidden_fields)
        embargo(session, secret, now + timedelta(hours=6), now)
        planned = draft(session, title=SCHEDULED_TITLE, language="es", **hidden_fields)
        schedule(planned, now + timedelta(hours=6), now)
        draft(session, title=DRAFT_TITLE, **hidden_fields)
        session.commit()
        secret_id, planned_id = secret.id, planned.id
    pipeline.wait_for_item(secret_id)  # the verified journalist has it
    with pipeline.session() as session:
        held = session.get(Item, secret_id)
        assert held is not None
        move_embargo(session, held, now + timedelta(hours=8), now)
        session.commit()
    with pipeline.session() as session:
        notice = session.scalar(select(Item).where(Item.corrects_id == secret_id))
        assert notice is not None and notice.kind == NoticeKind.EMBARGO_MOVED
        assert notice.title == SECRET_TITLE  # the notice names it: it must stay hidden too
        notice_id = notice.id
    pipeline.wait_for_item(notice_id)
    assert secret_id == last_visible + 1 and notice_id <= last_visible + 4

    after = _answers(web, urls)
    for url in urls:
        assert after[url] == before[url], url
    unknown = web.get("/news/999999")
    for item_id in (secret_id, planned_id, notice_id):
        for ref in (f"{item_id}", f"{item_id}-{slugify(SECRET_TITLE)}", f"{item_id}-x"):
            answer = web.get(f"/news/{ref}", follow_redirects=False)
            assert (answer.status_code, answer.content) == (404, unknown.content), ref

    # The embargo lifts and the schedule comes: everywhere at once.
    with pipeline.session() as session:
        assert lift_due(session, now + timedelta(hours=9)) == [secret_id]
        assert publish_due(session, now + timedelta(hours=9)) == [planned_id]
        session.commit()
    everything = titles(web.get("/news").text)
    assert everything[:2] == [SCHEDULED_TITLE, SECRET_TITLE]  # same time: the newer id first
    assert DRAFT_TITLE not in everything
    assert 'rel="next"' in web.get("/news").text  # now there are two pages
    assert titles(web.get("/news?q=quokkaflux").text) == [SECRET_TITLE]
    assert titles(web.get("/news?q=zebrastripe").text) == [SCHEDULED_TITLE]
    assert titles(web.get("/news?q=wombatine").text) == []
    assert set(titles(web.get("/news?country=NO&topic=torture&kind=report").text)) == {
        SECRET_TITLE,
        SCHEDULED_TITLE,
    }
    assert titles(web.get("/news?language=es").text) == [SCHEDULED_TITLE]
    feed = feedparser.parse(web.get("/news/feed.atom?q=quokkaflux").content)
    assert [entry.title for entry in feed.entries] == [SECRET_TITLE]
    assert web.get("/news/feed.atom").headers["etag"] != before["/news/feed.atom"][2]
    page = web.get(f"/news/{secret_id}", follow_redirects=True)
    assert page.status_code == 200 and "Quokkaflux details." in page.text
    # Notices stay email-only, even about an item now public.
    assert web.get(f"/news/{notice_id}").content == unknown.content
