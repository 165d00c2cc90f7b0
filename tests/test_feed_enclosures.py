"""A feed entry's image becomes its lead photo: downloaded through the guard, cleaned, stored.

The newsroom server is the local one of tests/test_feeds.py (127.0.0.1), serving
feeds and a phone's JPEG with GPS in its EXIF. Most polls here let the feed's own
server through by exact address and port and nothing else, so a photo on any
other local port meets the guard for real.
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from alerts.cli.root import app as alerts_app
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import Item, ItemStatus, Media, utcnow
from alerts.feeds.fetch import Fetched, make_client
from alerts.feeds.guard import AddressPolicy
from alerts.feeds.ingest import poll_all
from alerts.feeds.lead_photos import LeadPhotos, PhotoFailed, download
from alerts.feeds.parse import parse_feed
from alerts.items.fan_out_rule import fan_out_due
from tests.conftest import Stack
from tests.factories import journalist
from tests.test_feed_guard import Redirector
from tests.test_feeds import TAXONOMY, FeedServer, Store, register
from tests.test_media_files import SERIAL, gps_jpeg

runner = CliRunner()
DESCRIPTION = "Families wait at the border crossing in Tijuana."
CREDIT = "Luis Soto / NGO"


def rss(image_xml: str, title: str = "Families wait at the border") -> bytes:
    """One mapped entry (Mexico: published if nothing goes wrong) naming a photo."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Newsroom</title>
    <link>https://ngo.example/</link>
    <description>Releases</description>
    <item>
      <title>{title}</title>
      <link>https://ngo.example/news/border</link>
      <guid isPermaLink="false">tag:ngo.example,2026:border</guid>
      <description>Crossings are deadlier.</description>
      <category>Mexico</category>
      {image_xml}
    </item>
  </channel>
</rss>
""".encode()


def media_content(url: str) -> str:
    return f"""<media:content url="{url}" medium="image" type="image/jpeg">
        <media:title>Border crossing</media:title>
        <media:description>{DESCRIPTION}</media:description>
        <media:credit role="photographer">{CREDIT}</media:credit>
      </media:content>"""


def atom(url: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
  <title>Newsroom</title>
  <id>tag:ngo.example,2026:feed</id>
  <updated>2026-12-01T10:00:00Z</updated>
  <entry>
    <id>tag:ngo.example,2026:border</id>
    <title>Families wait at the border</title>
    <updated>2026-12-01T10:00:00Z</updated>
    <link href="https://ngo.example/news/border"/>
    <link rel="enclosure" type="image/jpeg" href="{url}"/>
    <media:title>Border crossing</media:title>
    <media:credit>{CREDIT}</media:credit>
    <category term="mexico" label="Mexico"/>
  </entry>
</feed>
""".encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    try:
        yield feeds
    finally:
        feeds.stop()


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("enclosures-template") / "alerts.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(migrated_db: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "alerts.db"
    shutil.copy(migrated_db, path)
    engine = make_engine(f"sqlite:///{path}")
    enqueued: list[int] = []
    yield Store(make_session_factory(engine, enqueued.append, fan_out_due), enqueued)
    engine.dispose()


@pytest.fixture
def photos(tmp_path: Path) -> LeadPhotos:
    return LeadPhotos(tmp_path / "media", max_bytes=5_000_000, timeout=5)


def _port(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


def only_the_feed(feed_url: str) -> httpx.Client:
    """A client whose guard lets through the feed's server and nothing else internal."""
    policy = AddressPolicy(allowed=frozenset({("127.0.0.1", _port(feed_url))}))
    return make_client(timeout=5, policy=policy)


def poll_once(store: Store, client: httpx.Client, photos: LeadPhotos) -> dict[str, Any]:
    return poll_all(store.sessions, TAXONOMY, client, utcnow(), photos)


def media_rows(store: Store) -> list[Media]:
    with store.sessions() as session:
        return list(session.scalars(select(Media)))


def stored_dirs(photos: LeadPhotos) -> list[Path]:
    return sorted(photos.root.iterdir()) if photos.root.exists() else []


# --- the photo is stored --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_the_entrys_photo_becomes_the_lead_photo_without_its_exif(
    store: Store, server: FeedServer, photos: LeadPhotos, fmt: str
) -> None:
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # GPS is in the file
    photo_url = server.serve("/photos/border.jpg", original, "image/jpeg")
    body = rss(media_content(photo_url)) if fmt == "rss" else atom("/photos/border.jpg")
    feed_url = server.serve(f"/feed.{fmt}", body, "application/xml")
    register(store.sessions, feed_url)

    with only_the_feed(feed_url) as client:
        summary = poll_once(store, client, photos)

    [result] = summary["results"]
    assert result["photo_problems"] == [] and result["problems"] == []
    [item] = store.items()
    assert item.status == ItemStatus.PUBLISHED and result["published"] == [item.id]
    assert item.image is not None
    [media] = media_rows(store)
    assert item.image["media_id"] == media.id and media.kind == "image"
    if fmt == "rss":  # media:description is both the alt text and the caption
        assert item.image["alt"] == DESCRIPTION and item.image["caption"] == DESCRIPTION
    else:  # no description: media:title is the alt text, and there is no caption
        assert item.image["alt"] == "Border crossing" and item.image["caption"] == ""
    assert item.image["credit"] == CREDIT
    files = sorted((photos.root / media.id).iterdir())
    assert [f.name for f in files] == ["email.jpg", "email2x.jpg", "web.jpg"]
    for file in files:
        data = file.read_bytes()
        assert len(Image.open(io.BytesIO(data)).getexif()) == 0
        assert b"GPS" not in data and SERIAL.encode() not in data and b"Exif" not in data
    assert len(server.requests("/photos/border.jpg")) == 1


def test_alt_text_falls_back_to_the_entry_title(server: FeedServer) -> None:
    """A bare enclosure has no words of its own: the entry's title is read aloud."""
    body = rss('<enclosure url="/p.jpg" type="image/jpeg" length="1"/>', title="A &amp; B")
    [entry] = parse_feed(Fetched(False, "https://ngo.example/feed.rss", body)).entries
    assert entry.image is not None
    assert (entry.image.url, entry.image.alt) == ("https://ngo.example/p.jpg", "A & B")
    assert (entry.image.caption, entry.image.credit) == ("", "")


def test_a_thumbnail_is_the_fallback_and_a_non_image_enclosure_is_not_a_photo() -> None:
    body = rss(
        '<enclosure url="https://ngo.example/report.pdf" type="application/pdf" length="1"/>'
        '<media:content url="https://ngo.example/clip.mp4" medium="video"/>'
        '<media:thumbnail url="https://ngo.example/thumb.jpg"/>'
        "<media:credit>Desk</media:credit>"
    )
    [entry] = parse_feed(Fetched(False, "https://ngo.example/feed.rss", body)).entries
    assert entry.image is not None
    assert (entry.image.url, entry.image.credit) == ("https://ngo.example/thumb.jpg", "Desk")
    none = rss('<enclosure url="https://ngo.example/report.pdf" type="application/pdf"/>')
    [plain] = parse_feed(Fetched(False, "https://ngo.example/feed.rss", none)).entries
    assert plain.image is None


def test_a_known_entrys_photo_is_not_downloaded_again(
    store: Store, server: FeedServer, photos: LeadPhotos
) -> None:
    photo_url = server.serve("/photos/border.jpg", gps_jpeg(800, 600), "image/jpeg")
    feed_url = server.serve("/feed.rss", rss(media_content(photo_url)), "application/xml")
    register(store.sessions, feed_url)
    with only_the_feed(feed_url) as client:
        poll_once(store, client, photos)
        second = poll_once(store, client, photos)
    assert second["skipped"] == 1 and len(store.items()) == 1
    assert len(server.requests("/photos/border.jpg")) == 1 and len(media_rows(store)) == 1


# --- every failure leaves a draft, with the reason, and nothing stored ----------------------


class _Dripping(BaseHTTPRequestHandler):
    """Headers at once, then a byte every 0.2 s: no single read ever times out."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the poller hung up: what the test wants

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dripping() -> Iterator[str]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/slow.jpg"
    finally:
        http.shutdown()
        http.server_close()


def _svg() -> bytes:
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'


FAILURES: dict[str, tuple[bytes | None, str, str]] = {
    # case: (body served, or None for nothing at that path; content type; the reason)
    "too-big": (b"", "image/jpeg", "larger than the limit of 0.05 MB"),
    "html-page": (b"<html><body>Not found</body></html>", "text/html", "not an image (text/html)"),
    "html-as-jpeg": (b"<html>hello</html>", "image/jpeg", "Not a JPEG, PNG, GIF or WebP image"),
    "svg": (_svg(), "image/svg+xml", "an SVG image, which is not accepted"),
    "svg-as-octets": (_svg(), "application/octet-stream", "SVG is not accepted"),
    "missing": (None, "", "HTTP 404"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_photo_that_cannot_be_had_leaves_a_draft_with_the_reason(
    store: Store, server: FeedServer, tmp_path: Path, case: str
) -> None:
    body, content_type, reason = FAILURES[case]
    photos = LeadPhotos(tmp_path / "media", max_bytes=50_000, timeout=5)
    if case == "too-big":
        body = gps_jpeg(1600, 1200) + b"\0" * 60_000  # over 50 kB whatever Pillow makes of it
    if body is not None:
        server.serve("/photo", body, content_type)
    feed_url = server.serve("/feed.rss", rss(media_content(server.url("/photo"))), "text/xml")
    register(store.sessions, feed_url)
    with only_the_feed(feed_url) as client:
        summary = poll_once(store, client, photos)
    _assert_draft_with_reason(store, summary, photos, reason)


def test_a_photo_dripping_past_the_deadline_is_given_up(
    store: Store, server: FeedServer, tmp_path: Path, dripping: str
) -> None:
    photos = LeadPhotos(tmp_path / "media", max_bytes=5_000_000, timeout=1)
    feed_url = server.serve("/feed.rss", rss(media_content(dripping)), "application/xml")
    register(store.sessions, feed_url)
    # The dripping server is let through too: what stops the download is the deadline.
    allowed = frozenset({("127.0.0.1", _port(feed_url)), ("127.0.0.1", _port(dripping))})
    with make_client(timeout=5, policy=AddressPolicy(allowed=allowed)) as client:
        summary = poll_once(store, client, photos)
    _assert_draft_with_reason(store, summary, photos, "timed out after 1 s")


def test_a_photo_on_an_internal_address_is_refused_without_a_connection(
    store: Store, server: FeedServer, photos: LeadPhotos
) -> None:
    """The feed's server is allowed by address and port; the photo's (another port) is not."""
    other = FeedServer()
    try:
        photo_url = other.serve("/photo.jpg", gps_jpeg(800, 600), "image/jpeg")
        feed_url = server.serve("/feed.rss", rss(media_content(photo_url)), "application/xml")
        register(store.sessions, feed_url)
        with only_the_feed(feed_url) as client:
            summary = poll_once(store, client, photos)
        assert other.requests("/photo.jpg") == []  # never connected
    finally:
        other.stop()
    _assert_draft_with_reason(store, summary, photos, "address refused: 127.0.0.1 is not a public")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/photo.jpg",
        "http://10.0.0.1/photo.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:192.168.1.1]/photo.jpg",
        "http://0x7f000001/photo.jpg",
    ],
)
def test_the_guard_refuses_internal_photo_urls_by_default(url: str, photos: LeadPhotos) -> None:
    """The poller's own client (public addresses only) is what downloads photos."""
    with make_client(timeout=5) as client, pytest.raises(PhotoFailed) as caught:
        download(client, url, photos)
    assert str(caught.value).startswith("address refused: ")
    assert "is not a public address" in str(caught.value)


def _assert_draft_with_reason(
    store: Store, summary: dict[str, Any], photos: LeadPhotos, reason: str
) -> None:
    [item] = store.items()
    assert item.status == ItemStatus.DRAFT and item.image is None  # mapped, yet not published
    # The reason is kept on the draft itself, for staff (tests/test_feed_import_problem.py).
    assert item.import_problem is not None and reason in item.import_problem
    assert store.enqueued == []
    [result] = summary["results"]
    assert result["published"] == [] and result["drafted"] == [item.id]
    [problem] = result["photo_problems"]
    assert problem["item_id"] == item.id and reason in problem["reason"]
    assert any(f"left as draft item {item.id}" in line for line in result["problems"])
    assert media_rows(store) == [] and stored_dirs(photos) == []


# --- the command line -----------------------------------------------------------------------


def test_feed_poll_json_stores_the_photo_and_reports_a_refused_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FeedServer
) -> None:
    for name in ("ALERTS_DATABASE_URL", "ALERTS_BROKER_URL", "ALERTS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTS_FEEDS_ALLOW_PRIVATE", "true")  # the newsroom is on 127.0.0.1
    assert runner.invoke(alerts_app, ["db", "upgrade"]).exit_code == 0
    photo_url = server.serve("/ok.jpg", gps_jpeg(800, 600), "image/jpeg")
    good = server.serve("/good.rss", rss(media_content(photo_url)), "application/xml")
    bad = server.serve("/bad.rss", rss(media_content(server.url("/gone.jpg"))), "text/xml")
    for url in (good, bad):
        added = runner.invoke(alerts_app, ["feed", "add", url, "--topic-map", _topic_map(tmp_path)])
        assert added.exit_code == 0, added.output

    polled = runner.invoke(alerts_app, ["feed", "poll", "--json"])

    assert polled.exit_code == 0, polled.output
    assert '"photo_problems"' in polled.output and "HTTP 404" in polled.output
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(Item.status, Item.image).order_by(Item.id)).all()
        media = conn.execute(select(func.count()).select_from(Media)).scalar_one()
    engine.dispose()
    assert [status for status, _ in rows] == [ItemStatus.PUBLISHED, ItemStatus.DRAFT]
    assert rows[0][1]["credit"] == CREDIT and rows[1][1] is None and media == 1
    [stored] = (tmp_path / "media").iterdir()
    assert (stored / "web.jpg").is_file()


def _topic_map(tmp_path: Path) -> str:
    path = tmp_path / "map.json"
    path.write_text('{"categories": {"Mexico": {"countries": ["MX"]}}}')
    return str(path)


def test_a_transaction_that_does_not_commit_leaves_no_photo_behind(
    store: Store, server: FeedServer, photos: LeadPhotos
) -> None:
    """The photo is stored, then the database refuses the item: the files go with the row.

    A trigger stands in for whatever may fail after the photo is written (a constraint,
    a lost connection); each of the poll's attempts stores the photo again and loses it.
    """
    with store.sessions() as session:
        session.execute(
            text(
                "CREATE TRIGGER refuse_items BEFORE INSERT ON items "
                "BEGIN SELECT RAISE(ABORT, 'items are refused'); END"
            )
        )
        session.commit()
    photo_url = server.serve("/photos/border.jpg", gps_jpeg(800, 600), "image/jpeg")
    feed_url = server.serve("/feed.rss", rss(media_content(photo_url)), "application/xml")
    register(store.sessions, feed_url)

    with only_the_feed(feed_url) as client:
        summary = poll_once(store, client, photos)

    [result] = summary["results"]
    assert result["status"] == "failed" and "items are refused" in (result["error"] or "")
    assert store.items() == [] and media_rows(store) == []
    assert stored_dirs(photos) == []  # neither the photo's folder nor a half-written one
    assert len(server.requests("/photos/border.jpg")) == 1  # downloaded once, stored in each try


# --- on the real pipeline (SQLite and PostgreSQL) ---------------------------------------------


def test_a_feed_entrys_photo_is_in_the_alert_the_journalist_gets(
    pipeline: Stack, server: FeedServer
) -> None:
    runtime = pipeline.app.runtime
    with runtime.sessions() as session:
        journalist(session, "border-desk@example.net", (["MX"], []))
        session.commit()
    photo_url = server.serve("/photos/border.jpg", gps_jpeg(), "image/jpeg")
    feed_url = server.serve("/feed.rss", rss(media_content(photo_url)), "application/xml")
    register(runtime.sessions, feed_url)

    with only_the_feed(feed_url) as client:
        summary = poll_all(
            runtime.sessions, runtime.taxonomy, client, utcnow(), LeadPhotos.of(runtime.settings)
        )

    [item_id] = summary["results"][0]["published"]
    pipeline.wait_for_item(item_id)
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        assert item is not None and item.image is not None
        media_id = item.image["media_id"]
    [message] = pipeline.received()
    parsed = message.parsed()
    html, plain = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html is not None and plain is not None
    assert f"/{media_id}/email.jpg" in html.get_content()
    assert f'alt="{DESCRIPTION}"' in html.get_content()
    assert f"[Photo: {DESCRIPTION} — {CREDIT}]" in " ".join(plain.get_content().split())


def test_a_photo_redirected_to_an_internal_address_is_refused_at_that_hop(
    store: Store, server: FeedServer, photos: LeadPhotos
) -> None:
    """The photo's first server is let through; the one it redirects to is not."""
    other = FeedServer()
    redirector = Redirector(other.serve("/photo.jpg", gps_jpeg(800, 600), "image/jpeg"))
    try:
        feed_url = server.serve("/feed.rss", rss(media_content(redirector.url)), "text/xml")
        register(store.sessions, feed_url)
        allowed = frozenset({("127.0.0.1", _port(feed_url)), ("127.0.0.1", redirector.port)})
        with make_client(timeout=5, policy=AddressPolicy(allowed=allowed)) as client:
            summary = poll_once(store, client, photos)
        assert other.requests("/photo.jpg") == []
    finally:
        redirector.stop()
        other.stop()
    _assert_draft_with_reason(store, summary, photos, "address refused: 127.0.0.1 is not a public")


def test_a_feed_with_a_doctype_still_gives_its_photo_from_feedparsers_reading() -> None:
    """The XML is not read here when it declares a DOCTYPE: feedparser's URLs are used."""
    body = rss(media_content("https://ngo.example/p.jpg")).replace(
        b"<rss ", b'<!DOCTYPE rss [<!ENTITY who "NGO">]>\n<rss ', 1
    )
    [entry] = parse_feed(Fetched(False, "https://ngo.example/feed.rss", body)).entries
    assert entry.image is not None
    assert entry.image.url == "https://ngo.example/p.jpg"
    # Only the words feedparser keeps apart: the credit; the title is the alt text.
    assert (entry.image.alt, entry.image.credit) == ("Families wait at the border", CREDIT)
