"""Feed ingest against real Atom and RSS files served over HTTP on 127.0.0.1.

The files in tests/data are built from the seed newsroom items. Most tests use a
SQLite file and record what the session's after-commit hook would enqueue; the
last two run on the real pipeline (both backends, a real worker and SMTP sink).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from alerts.cli import feeds as feeds_cli
from alerts.cli.root import app as alerts_app
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import Feed, Item, ItemStatus, utcnow
from alerts.core.taxonomy import Taxonomy
from alerts.dev.sink import free_port
from alerts.feeds.fetch import make_client
from alerts.feeds.guard import AddressPolicy
from alerts.feeds.ingest import PollResult, external_id, poll_all, poll_feed
from alerts.feeds.registry import add_feed
from alerts.feeds.topic_map import InvalidTopicMap, TopicMap
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.fan_out_rule import fan_out_due
from tests.conftest import Stack
from tests.factories import journalist

DATA = Path(__file__).parent / "data"
TOPIC_MAP = DATA / "topic-map.json"
TAXONOMY = Taxonomy()
# The newsroom server of these tests listens on 127.0.0.1, which the default refuses.
LOCAL = AddressPolicy(allow_private=True)
runner = CliRunner()

FORMATS = {
    "atom": ("newsroom.atom", "application/atom+xml; charset=utf-8"),
    "rss": ("newsroom.rss", "application/rss+xml; charset=utf-8"),
}

HTML_TITLE_PLAIN = 'Mexico: “Open season” on journalists & "third reporter" killed in a month'
# What each titled entry of the files must become: (status, countries, topics).
EXPECTED = {
    "Trump's policies are not deterring refugees at the border, just making crossings deadlier": (
        ItemStatus.PUBLISHED,
        ["MX", "US"],
        ["asylum", "refugees-and-migrants"],
    ),
    "Mexico: Fresh evidence of execution by military highlights flawed security strategy": (
        ItemStatus.PUBLISHED,
        ["MX"],
        ["military-and-police", "unlawful-killings"],
    ),
    HTML_TITLE_PLAIN: (ItemStatus.PUBLISHED, ["MX"], ["freedom-of-expression", "journalists"]),
    "The Day of the Disappeared: Enforced disappearances persist globally": (
        ItemStatus.DRAFT,
        [],
        [],
    ),
    "Human Rights Groups Call on U.S. to Withhold Aid to Mexican Military": (
        ItemStatus.PUBLISHED,
        ["MX", "US"],
        ["military-and-police"],
    ),
    "Surviving Death: Police and Military Torture of Women in Mexico": (ItemStatus.DRAFT, [], []),
}

NEW_TITLE = "Mexico: Sexual violence routinely used as torture to secure confessions"
NEW_ENTRY = {
    "atom": f"""  <entry>
    <id>tag:ngo.example,2016-06-27:sexual-violence</id>
    <title type="text">{NEW_TITLE}</title>
    <link href="https://ngo.example/news/sexual-violence"/>
    <updated>2016-06-27T10:00:00Z</updated>
    <category term="mexico" label="Mexico"/>
    <category term="torture" label="Torture"/>
  </entry>
""",
    "rss": f"""    <item>
      <title>{NEW_TITLE}</title>
      <link>https://ngo.example/news/sexual-violence</link>
      <guid isPermaLink="false">tag:ngo.example,2016-06-27:sexual-violence</guid>
      <category>Mexico</category>
      <category>Torture</category>
    </item>
""",
}


# --- a newsroom web server ---------------------------------------------------------------


@dataclass
class Resource:
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    honours_validators: bool = True


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int


class _Server(ThreadingHTTPServer):
    feeds: FeedServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        feeds = self.server.feeds
        resource = feeds.resources.get(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = _status(resource, headers)
        feeds.record(Seen(self.path, headers, status))
        if resource is None or status >= 400:
            self.send_error(status)
            return
        self.send_response(status)
        if resource.etag:
            self.send_header("ETag", resource.etag)
        if resource.last_modified:
            self.send_header("Last-Modified", resource.last_modified)
        if status == 304:
            self.end_headers()
            return
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(len(resource.body)))
        self.end_headers()
        self.wfile.write(resource.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read FeedServer.seen instead


def _status(resource: Resource | None, headers: dict[str, str]) -> int:
    if resource is None:
        return 404
    if resource.status != 200 or not resource.honours_validators:
        return resource.status
    # RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since counts only without it.
    if "if-none-match" in headers:
        tags = {tag.strip() for tag in headers["if-none-match"].split(",")}
        return 304 if resource.etag in tags or "*" in tags else 200
    if "if-modified-since" in headers and resource.last_modified:
        since = parsedate_to_datetime(headers["if-modified-since"])
        return 304 if parsedate_to_datetime(resource.last_modified) <= since else 200
    return 200


class FeedServer:
    """http.server on 127.0.0.1 in a thread: serves feeds, answers 304, keeps every request."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.feeds = self
        # A short poll interval: shutdown() waits for it at the end of every test.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, content_type: str, **fields: Any) -> str:
        self.resources[path] = Resource(body, content_type, **fields)
        return self.url(path)

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    try:
        yield feeds
    finally:
        feeds.stop()


def serve_newsroom(
    server: FeedServer,
    fmt: str,
    etag: str | None = '"v1"',
    last_modified: str | None = "Thu, 15 Jun 2017 09:00:00 GMT",
    **fields: Any,
) -> str:
    name, content_type = FORMATS[fmt]
    body = (DATA / name).read_bytes()
    return server.serve(
        f"/{name}", body, content_type, etag=etag, last_modified=last_modified, **fields
    )


def with_new_entry(fmt: str) -> bytes:
    """The same feed with one more entry on top, as a newsroom CMS would publish it."""
    name, _ = FORMATS[fmt]
    text = (DATA / name).read_text(encoding="utf-8")
    first = "  <entry>" if fmt == "atom" else "    <item>"
    return text.replace(first, NEW_ENTRY[fmt] + first, 1).encode("utf-8")


# --- a database on a file, with a recording fan-out hook -------------------------------------


@dataclass
class Store:
    sessions: sessionmaker[Session]
    enqueued: list[int] = field(default_factory=list)  # what the hook sent to the broker

    def items(self) -> list[Item]:
        with self.sessions() as session:
            return list(session.scalars(select(Item).order_by(Item.id)))

    def feed(self, feed_id: int) -> Feed:
        with self.sessions() as session:
            feed = session.get(Feed, feed_id)
            assert feed is not None
            return feed


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feeds-template") / "alerts.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(migrated_db: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "alerts.db"
    shutil.copy(migrated_db, path)  # migrating once per session, not once per test
    engine = make_engine(f"sqlite:///{path}")
    enqueued: list[int] = []
    yield Store(make_session_factory(engine, enqueued.append, fan_out_due), enqueued)
    engine.dispose()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=5, policy=LOCAL) as http:
        yield http


def register(sessions: sessionmaker[Session], url: str, topic_map: Path = TOPIC_MAP) -> int:
    with sessions() as session:
        topic = TopicMap.load(topic_map, TAXONOMY)
        feed = add_feed(session, TAXONOMY, url, "press_release", topic, LOCAL)
        session.commit()
        return feed.id


def poll(store: Store, client: httpx.Client) -> dict[str, Any]:
    return poll_all(store.sessions, TAXONOMY, client, utcnow())


# --- the topic map ------------------------------------------------------------------------


def test_topic_map_matches_categories_whatever_their_case() -> None:
    topic_map = TopicMap.load(TOPIC_MAP, TAXONOMY)
    resolved = topic_map.resolve(
        ["MEXICO", " refugees  and MIGRANTS ", ("Asylum", "asylum-seekers"), ("Global", "global")]
    )
    assert resolved.countries == {"MX"}
    assert resolved.topics == {"refugees-and-migrants", "asylum"}
    assert resolved.unmapped == ("Global",)
    assert TopicMap.from_json(topic_map.to_json(), TAXONOMY) == topic_map


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"categories": {"Gardening": {"topics": ["gardening"]}}}, "unknown topic: gardening"),
        ({"categories": {"Mars": {"countries": ["XX"]}}}, "category 'Mars': unknown country: XX"),
        ({"categories": {"Americas": {"countries": ["americas"]}}}, "unknown country: americas"),
        (
            {"categories": {"Mexico": {"country": ["MX"]}}},
            'category \'Mexico\': unknown key "country" (did you mean "countries"?)',
        ),
        (
            {"categorys": {"Mexico": {"countries": ["MX"]}}},
            'unknown key "categorys" (did you mean "categories"?); known keys: categories',
        ),
        ({"categories": {"Mexico": {}}}, "category 'Mexico' maps to no topic or country"),
        ({"categories": {"Mexico": {"countries": "MX"}}}, "countries must be a list of codes"),
        (
            {"categories": {"Mexico": {"countries": ["MX"]}, "MEXICO": {"countries": ["MX"]}}},
            "categories 'Mexico' and 'MEXICO' are the same",
        ),
        (["Mexico"], 'expected {"categories"'),
    ],
)
def test_a_bad_topic_map_is_refused_with_the_reason(data: object, message: str) -> None:
    with pytest.raises(InvalidTopicMap) as caught:
        TopicMap.parse(data, TAXONOMY)
    assert message in str(caught.value)


# --- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ALERTS_DATABASE_URL", "ALERTS_BROKER_URL", "ALERTS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTS_FEEDS_ALLOW_PRIVATE", "true")  # the local newsroom server
    result = runner.invoke(alerts_app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _feeds_stored(data_dir: Path) -> int:
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Feed)).scalar_one()
    engine.dispose()
    return int(count)


def _map_file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "map.json"
    path.write_text(content, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://ngo.example/feed"], "feed URL must be an http(s) address, got 'ftp://"),
        (["ngo.example/feed.xml"], "feed URL must be an http(s) address"),
        (["http://[::1/feed.xml"], "is malformed: Invalid IPv6 URL"),
        (["http://ngo.example:99999/feed.xml"], "is malformed: Port out of range"),
        (["https://ngo.example/feed", "--kind", "tweet"], "unknown kind 'tweet'"),
        (
            ["https://ngo.example/feed", "--topic-map", "{map:garden}"],
            "category 'Garden': unknown topic: gardening",
        ),
        (["https://ngo.example/feed", "--topic-map", "{map:broken}"], "not JSON"),
        (
            ["https://ngo.example/feed", "--topic-map", "{map:misspelt}"],
            'category \'Mexico\': unknown key "countires" (did you mean "countries"?)',
        ),
        (["https://ngo.example/feed", "--topic-map", "missing.json"], "cannot read missing.json"),
    ],
)
def test_feed_add_refuses_bad_input_and_stores_nothing(
    data_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    maps = {
        "{map:garden}": '{"categories": {"Garden": {"topics": ["gardening"]}}}',
        "{map:broken}": '{"categories": ',
        "{map:misspelt}": '{"categories": {"Mexico": {"countires": ["MX"]}}}',
    }
    args = [_map_file(tmp_path, maps[a]) if a in maps else a for a in args]
    result = runner.invoke(feeds_cli.app, ["add", *args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output
    assert message in " ".join(result.output.split())
    assert _feeds_stored(data_dir) == 0


def test_feed_add_list_and_poll_from_the_command_line(data_dir: Path, server: FeedServer) -> None:
    url = serve_newsroom(server, "atom")
    added = runner.invoke(feeds_cli.app, ["add", url, "--topic-map", str(TOPIC_MAP)])
    assert added.exit_code == 0, added.output
    assert f"feed 1 added: {url} (10 categories mapped)" in added.output

    again = runner.invoke(feeds_cli.app, ["add", url])
    assert again.exit_code == 2 and "is already registered" in again.output
    assert _feeds_stored(data_dir) == 1

    polled = runner.invoke(feeds_cli.app, ["poll"])
    assert polled.exit_code == 0, polled.output
    output = " ".join(polled.output.split())
    assert "published 4 (" in output and "drafted 2 (" in output and "skipped 1" in output
    assert "no title; skipped" in output
    assert "  categories not in the topic map: Day of the Disappeared, Global\n" in polled.output
    assert "1 feed(s): 4 published, 2 left as drafts for staff, 0 unchanged, 0 failed" in output

    listed = runner.invoke(feeds_cli.app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "press_release" in listed.output and "never" not in listed.output

    server.resources[f"/{FORMATS['atom'][0]}"].status = 500
    failed = runner.invoke(feeds_cli.app, ["poll"])
    assert failed.exit_code == 1
    assert "failed: HTTP 500 Internal Server Error" in failed.output


# --- polling -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_first_poll_publishes_mapped_entries_and_leaves_the_rest_as_drafts(
    store: Store, server: FeedServer, client: httpx.Client, fmt: str
) -> None:
    feed_id = register(store.sessions, serve_newsroom(server, fmt))

    summary = poll(store, client)

    assert (summary["published"], summary["drafted"], summary["skipped"]) == (4, 2, 1)
    [result] = summary["results"]
    assert any("no title; skipped" in p for p in result["problems"])
    assert result["unmapped"] == ["Day of the Disappeared", "Global"]
    items = store.items()
    got = {i.title: (i.status, i.countries, i.topics) for i in items}
    assert got == EXPECTED
    published = [i.id for i in items if i.status == ItemStatus.PUBLISHED]
    assert sorted(result["published"]) == published
    assert store.enqueued == published  # fanned out after commit, drafts never
    assert all(i.kind == "press_release" and i.url for i in items)
    assert all(i.external_id and i.external_id.startswith(f"feed:{feed_id}:") for i in items)
    feed = store.feed(feed_id)
    assert (feed.etag, feed.last_error) == ('"v1"', None)
    assert feed.last_modified == "Thu, 15 Jun 2017 09:00:00 GMT"


def test_an_rss_item_without_a_guid_is_known_by_its_link(
    store: Store, server: FeedServer, client: httpx.Client
) -> None:
    feed_id = register(store.sessions, serve_newsroom(server, "rss"))
    poll(store, client)
    link = "https://ngo.example/news/human-rights-groups-call-on-u-s-to-withhold-aid-to-mexican-m"
    [item] = [i for i in store.items() if i.url == link]
    assert item.external_id == external_id(feed_id, link)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_titles_and_summaries_are_plain_text(
    store: Store, server: FeedServer, client: httpx.Client, fmt: str
) -> None:
    register(store.sessions, serve_newsroom(server, fmt))
    poll(store, client)
    items = store.items()
    [html_item] = [i for i in items if i.title.startswith("Mexico: “Open season”")]
    assert html_item.title == HTML_TITLE_PLAIN
    assert html_item.summary == (
        "The killing of the third journalist in a month in Mexico raises new alarms."
        "\n\nFree expression & safety are at stake."
    )
    for item in items:
        for text in (item.title, item.summary, item.body):
            assert "<" not in text and "&amp;" not in text and "&quot;" not in text, text


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [('"v1"', "Thu, 15 Jun 2017 09:00:00 GMT"), (None, "Thu, 15 Jun 2017 09:00:00 GMT")],
    ids=["etag", "last-modified-only"],
)
def test_second_poll_is_a_conditional_get_that_creates_nothing(
    store: Store,
    server: FeedServer,
    client: httpx.Client,
    etag: str | None,
    last_modified: str,
) -> None:
    url = serve_newsroom(server, "atom", etag=etag, last_modified=last_modified)
    register(store.sessions, url)
    poll(store, client)
    items_before, enqueued_before = len(store.items()), list(store.enqueued)

    summary = poll(store, client)

    first, second = server.requests("/newsroom.atom")
    assert "if-none-match" not in first.headers and "if-modified-since" not in first.headers
    assert second.headers.get("if-none-match") == etag
    assert second.headers["if-modified-since"] == last_modified
    assert second.status == 304
    assert (summary["not_modified"], summary["published"], summary["drafted"]) == (1, 0, 0)
    assert len(store.items()) == items_before
    assert store.enqueued == enqueued_before


def test_a_server_ignoring_validators_still_gets_each_entry_stored_once(
    store: Store, server: FeedServer, client: httpx.Client
) -> None:
    register(store.sessions, serve_newsroom(server, "rss", honours_validators=False))
    for _ in range(3):
        poll(store, client)
    assert [s.status for s in server.requests("/newsroom.rss")] == [200, 200, 200]
    assert len(store.items()) == 6
    assert len(store.enqueued) == 4


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_changed_feed_adds_only_its_new_entry(
    store: Store, server: FeedServer, client: httpx.Client, fmt: str
) -> None:
    url = serve_newsroom(server, fmt)
    feed_id = register(store.sessions, url)
    poll(store, client)
    before = {i.id for i in store.items()}
    name, content_type = FORMATS[fmt]
    server.serve(f"/{name}", with_new_entry(fmt), content_type, etag='"v2"', last_modified=None)

    summary = poll(store, client)

    assert server.requests(f"/{name}")[-1].headers["if-none-match"] == '"v1"'
    [new] = [i for i in store.items() if i.id not in before]
    assert (new.title, new.status, new.countries, new.topics) == (
        NEW_TITLE,
        ItemStatus.PUBLISHED,
        ["MX"],
        ["torture"],
    )
    assert summary["results"][0]["published"] == [new.id] and store.enqueued[-1] == new.id
    assert summary["skipped"] == 7  # the six stored before and the untitled one
    feed = store.feed(feed_id)
    assert (feed.etag, feed.last_modified) == ('"v2"', None)


def test_failing_feeds_are_recorded_and_do_not_stop_the_others(
    store: Store, server: FeedServer, client: httpx.Client
) -> None:
    broken = serve_newsroom(server, "atom", status=500)
    refused = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    not_a_feed = server.serve("/newsroom.html", b"<html><body>News</body></html>", "text/html")
    good = serve_newsroom(server, "rss")
    ids = [register(store.sessions, url) for url in (broken, refused, not_a_feed, good)]

    summary = poll(store, client)  # must not raise

    assert (summary["failed"], summary["updated"], summary["published"]) == (3, 1, 4)
    errors = [store.feed(feed_id).last_error or "" for feed_id in ids]
    assert errors[0] == "HTTP 500 Internal Server Error"
    assert errors[1].startswith("ConnectError:")
    assert errors[2].startswith("not an RSS or Atom feed")
    assert errors[3] == ""
    assert all(store.feed(feed_id).last_polled_at is not None for feed_id in ids)

    server.resources["/newsroom.atom"].status = 200
    summary = poll(store, client)
    assert store.feed(ids[0]).last_error is None
    assert summary["results"][0]["published"]  # the broken feed, now answering


def test_a_topic_map_no_longer_valid_is_reported_not_guessed(
    store: Store, server: FeedServer, client: httpx.Client
) -> None:
    """The press office dropped a topic from ALERTS_TOPICS_FILE after adding the feed."""
    feed_id = register(store.sessions, serve_newsroom(server, "atom"))
    smaller = Taxonomy(topics={k: v for k, v in TAXONOMY.topics.items() if k != "asylum"})
    summary = poll_all(store.sessions, smaller, client, utcnow())
    assert summary["failed"] == 1 and store.items() == []
    assert "unknown topic: asylum" in (store.feed(feed_id).last_error or "")


# --- on the real pipeline (SQLite and PostgreSQL) ---------------------------------------------


def test_two_polls_at_once_store_each_entry_once(
    pipeline: Stack,
    server: FeedServer,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another poll inserts an entry while this one runs: the unique key makes one win."""
    runtime = pipeline.app.runtime
    url = serve_newsroom(server, "atom")
    feed_id = register(runtime.sessions, url)
    # The oldest entry: this poll stores it first, so on SQLite too it has looked for it
    # before the other commits, then waits for the other's write lock to insert it.
    oldest = (
        "tag:ngo.example,2016-06-27:surviving-death-police-and-military-torture-of-women-in-mexi"
    )
    caplog.set_level(logging.INFO, logger="alerts.feeds")

    with runtime.sessions() as other:
        # The other poll has written that entry but not committed yet.
        create_item(
            other,
            TAXONOMY,
            ItemDraft(title="Stored by the other poll", external_id=external_id(feed_id, oldest)),
        )
        other.flush()
        results: list[PollResult] = []
        racing = threading.Thread(
            target=lambda: results.append(
                poll_feed(runtime.sessions, TAXONOMY, client, feed_id, utcnow())
            )
        )
        racing.start()
        _wait_for(lambda: len(server.requests("/newsroom.atom")) == 1)
        time.sleep(1.0)  # let it reach the insert that waits on the other's row
        other.commit()
    racing.join(timeout=60)

    [result] = results
    assert result.status == "updated" and len(result.created) == 5
    assert "another poll stored an entry first" in caplog.text
    with runtime.sessions() as session:
        titles = session.scalars(
            select(Item.title).where(Item.external_id == external_id(feed_id, oldest))
        ).all()
        assert titles == ["Stored by the other poll"]
        assert session.scalar(select(func.count()).select_from(Item)) == 6


def test_a_published_feed_entry_reaches_the_matching_journalist(
    pipeline: Stack, server: FeedServer, client: httpx.Client
) -> None:
    runtime = pipeline.app.runtime
    with runtime.sessions() as session:
        journalist(session, "press-freedom@example.net", (["MX"], ["journalists"]))
        # Would match the Day of the Disappeared entry, which stays a draft.
        journalist(session, "disappeared@example.net", ([], ["enforced-disappearances"]))
        session.commit()
    register(runtime.sessions, serve_newsroom(server, "rss"))

    summary = poll_all(runtime.sessions, runtime.taxonomy, client, utcnow())

    assert summary["published"] == 4
    for item_id in summary["results"][0]["published"]:
        pipeline.wait_for_item(item_id)
    [message] = pipeline.received()
    assert message.rcpt_tos == ("press-freedom@example.net",)
    parsed = message.parsed()
    assert parsed["Subject"] == HTML_TITLE_PLAIN
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert "The killing of the third journalist in a month" in plain.get_content()


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
