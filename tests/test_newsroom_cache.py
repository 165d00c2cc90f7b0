"""Rendered newsroom lists and feeds are served again only while nothing they show
has changed (web/newsroom_cache.py, migration 0018's version).

The version is moved by the database, so writes from outside the application (raw
SQL, as a CMS would) are seen too; a writer of items never waits on another for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import feedparser
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from alerts.core.db import make_engine
from alerts.core.migrate import upgrade
from alerts.core.models import Item
from alerts.items import translations
from alerts.items.translations import TranslationFields
from alerts.newsroom.version import current_version
from alerts.web.newsroom_cache import CachedPage, PageCache
from tests.conftest import Stack
from tests.newsroom_helpers import client_of, release, titles

MX = "/news?country=MX"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


@pytest.fixture
def mexico(pipeline: Stack) -> int:
    with pipeline.session() as session:
        item_id = release(
            session, title="Mexico: the first title", countries=["MX"], topics=["asylum"]
        )
        session.commit()
    return item_id


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _version(stack: Stack) -> int:
    version = current_version(stack.app.runtime.engine)
    assert version is not None
    return version


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE items SET title = 'Mexico: changed by hand' WHERE id = :id",
        "INSERT INTO item_countries (item_id, country) VALUES (:id, 'GT')",
        "DELETE FROM item_countries WHERE item_id = :id",
        "INSERT INTO item_topics (item_id, topic) VALUES (:id, 'torture')",
        "DELETE FROM item_topics WHERE item_id = :id",
        "DELETE FROM items WHERE id = :id",
    ],
)
def test_every_write_to_what_the_newsroom_shows_moves_the_version(
    pipeline: Stack, mexico: int, statement: str
) -> None:
    before = _version(pipeline)
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(text(statement), {"id": mexico})
    assert _version(pipeline) > before


def test_a_translation_moves_the_version(pipeline: Stack, mexico: int) -> None:
    before = _version(pipeline)
    with pipeline.session() as session:
        item = session.get_one(Item, mexico)
        translations.put(session, item, "es", TranslationFields(title="México: el título"))
        session.commit()
    assert _version(pipeline) > before


def test_writes_elsewhere_and_rolled_back_writes_leave_it(pipeline: Stack, mexico: int) -> None:
    before = _version(pipeline)
    with pipeline.app.runtime.engine.connect() as connection:
        connection.execute(
            text("UPDATE items SET title = 'never kept' WHERE id = :id"), {"id": mexico}
        )
        connection.rollback()
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(text("DELETE FROM journalists"))
    assert _version(pipeline) == before


def test_a_cached_list_costs_one_statement_and_any_write_renders_it_again(
    pipeline: Stack, web: TestClient, mexico: int
) -> None:
    first = web.get(MX)
    assert titles(first.text) == ["Mexico: the first title"]
    assert "set-cookie" not in first.headers  # one rendering serves every reader
    with statements(pipeline.app.runtime.engine) as seen:
        again = web.get(MX)
    assert again.content == first.content
    assert len(seen) == 1 and "newsroom_version" in seen[0], seen
    # Another application edits the row directly: the next answer shows it.
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(
            text("UPDATE items SET title = 'Mexico: edited elsewhere' WHERE id = :id"),
            {"id": mexico},
        )
    assert titles(web.get(MX).text) == ["Mexico: edited elsewhere"]
    # A new country on another release puts it in the list.
    with pipeline.session() as session:
        other = release(session, 1, title="Guatemala and Mexico", countries=["GT"])
        session.commit()
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO item_countries (item_id, country) VALUES (:id, 'MX')"), {"id": other}
        )
    assert titles(web.get(MX).text) == ["Guatemala and Mexico", "Mexico: edited elsewhere"]


def test_the_language_of_the_page_is_part_of_what_is_kept(
    pipeline: Stack, web: TestClient, mexico: int
) -> None:
    english = web.get(MX, headers={"accept-language": "en"})
    spanish = web.get(MX, headers={"accept-language": "es"})
    assert 'lang="es"' in spanish.text and 'lang="en"' in english.text
    assert web.get(MX, headers={"accept-language": "en"}).content == english.content


def test_a_list_answers_304_until_it_changes(pipeline: Stack, web: TestClient, mexico: int) -> None:
    first = web.get(MX)
    etag = first.headers["etag"]
    unchanged = web.get(MX, headers={"if-none-match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE items SET summary = 'New.' WHERE id = :id"), {"id": mexico})
    changed = web.get(MX, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_feed_follows_writes(pipeline: Stack, web: TestClient, mexico: int) -> None:
    first = web.get("/news/feed.atom")
    etag = first.headers["etag"]
    assert web.get("/news/feed.atom", headers={"if-none-match": etag}).status_code == 304
    since = web.get(
        "/news/feed.atom", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert since.status_code == 304
    with pipeline.app.runtime.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE items SET title = 'Mexico: a new title', updated_at = updated_at "
                "WHERE id = :id"
            ),
            {"id": mexico},
        )
    after = web.get("/news/feed.atom", headers={"if-none-match": etag})
    assert after.status_code == 200
    assert [e.title for e in feedparser.parse(after.content).entries] == ["Mexico: a new title"]


def test_with_the_cache_off_every_request_reads_the_database(
    pipeline: Stack, web: TestClient, mexico: int
) -> None:
    on = {url: web.get(url) for url in (MX, "/news/feed.atom")}
    web.app.state.newsroom_cache = PageCache(0)  # type: ignore[attr-defined]
    for url, cached in on.items():
        with statements(pipeline.app.runtime.engine) as seen:
            fresh = web.get(url)
        assert fresh.content == cached.content
        assert fresh.headers["etag"] == cached.headers["etag"]
        assert not any("newsroom_version" in s for s in seen) and len(seen) >= 2
    feed_etag = on["/news/feed.atom"].headers["etag"]
    assert web.get("/news/feed.atom", headers={"if-none-match": feed_etag}).status_code == 304


def test_the_cache_is_bounded_and_only_serves_its_own_version() -> None:
    cache = PageCache(10_000)
    page = CachedPage(version=7, status=200, body=b"x" * 1000, media_type="text/html", headers=())
    cache.put(("list", "a", "en"), page)
    assert cache.get(("list", "a", "en"), 7) is page
    assert cache.get(("list", "a", "en"), 8) is None
    assert cache.get(("list", "a", "en"), 7) is None  # dropped when it was found stale
    assert cache.get(("list", "b", "en"), None) is None
    for n in range(30):
        cache.put(("list", str(n), "en"), page)
    kept = [n for n in range(30) if cache.get(("list", str(n), "en"), 7)]
    assert kept == list(range(20, 30))  # 10 pages of 1,000 bytes: the newest
    cache.put(("feed", "huge", ""), CachedPage(7, 200, b"y" * 5000, "text/html", ()))
    assert cache.get(("feed", "huge", ""), 7) is None  # over an eighth: never kept


def test_writers_of_items_do_not_wait_on_each_other(postgres_url: str) -> None:
    """The version row is written at commit: an open transaction that changed one item
    does not hold up another transaction changing another one (PostgreSQL's row locks;
    SQLite has one writer at a time whatever we do)."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            first = release(session, title="First")
            second = release(session, 1, title="Second")
            session.commit()
        url = postgres_url.replace("postgresql+psycopg", "postgresql")
        before = current_version(engine)
        assert before is not None
        with psycopg.connect(url) as a, psycopg.connect(url) as b:
            a.execute("UPDATE items SET title = 'First, edited' WHERE id = %s", (first,))
            b.execute("SET lock_timeout = '3s'")
            b.execute("UPDATE items SET title = 'Second, edited' WHERE id = %s", (second,))
            b.commit()  # fails with a lock timeout if a held the version row
            after_b = current_version(engine)
            assert after_b is not None and after_b > before
            a.commit()
        last = current_version(engine)
        assert last is not None and last > after_b
    finally:
        engine.dispose()
