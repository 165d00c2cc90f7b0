"""The rich parts in the other emails an item makes: digests (a thumbnail) and notices."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import make_transient

from alerts.core.migrate import upgrade
from alerts.core.models import Item, ItemStatus, Media, NewsroomDefaults, NoticeKind
from alerts.core.runtime import Runtime
from alerts.core.settings import load_settings
from alerts.core.taxonomy import Taxonomy
from alerts.digests.email import render_digest
from alerts.digests.runs import ClaimedDigest
from alerts.mail.rendering import build_message, make_environment, render_item
from alerts.mail.rich_blocks import rich_content
from tests.seed_emails import BASE_URL, PUBLISHED, RICH_PHOTO, _notice, rich_item, seed_item
from tests.test_rendering import SENDER
from tests.test_snapshots import RECIPIENT, _snapshot


def test_a_digest_shows_the_photo_as_a_thumbnail_and_plain_items_as_before() -> None:
    item, rich = rich_item()
    plain = seed_item(1)
    claimed = ClaimedDigest(
        digest_id=7,
        journalist_id=1,
        email="journalist@example.net",
        name="Journalist",
        language="en",
        timezone="UTC",
        cadence="daily",
        period="2026-11-28",
        attempts=1,
        created_at=PUBLISHED,
        items=[item, plain],
        countries=frozenset(),
        topics=frozenset(),
        delivery_id=1,
    )
    rendered = render_digest(
        make_environment(), claimed, Taxonomy(), SENDER, BASE_URL, {item.id: rich}
    )
    snapshot = _snapshot(build_message(rendered, RECIPIENT, SENDER, "<digest@example>"))
    html, text = snapshot[".html"], snapshot[".txt"]
    # 1600 x 1067 stored: the 600 px rendition is 600 x 400, drawn at 120 x 80.
    assert html.count("<img") == 1
    assert f'src="{BASE_URL}/media/{RICH_PHOTO.id}/email.jpg" width="120" height="80"' in html
    assert 'alt="A family walks beside the border wall at dusk"' in html
    assert "[Photo: Families wait at the border crossing in Tijuana. — Ana Ruiz / NGO]" in text


def test_a_notice_names_the_release_contacts_but_shows_no_photo() -> None:
    notice = _notice(NoticeKind.WITHDRAWAL)
    notice.image = {"media_id": RICH_PHOTO.id, "alt": "Not shown"}
    notice.contacts = [{"name": "Desk Editor", "phone": "+1 202 555 0100"}]
    rich = rich_content(notice, {RICH_PHOTO.id: RICH_PHOTO}, None, f"{BASE_URL}/media")
    rendered = render_item(
        make_environment(), notice, Taxonomy(), SENDER, BASE_URL, "en", "UTC", rich
    )
    snapshot = _snapshot(build_message(rendered, RECIPIENT, SENDER))
    assert "Desk Editor" in snapshot[".html"] and 'href="tel:+12025550100"' in snapshot[".html"]
    assert "MEDIA CONTACTS" in snapshot[".txt"] and "Phone: +1 202 555 0100" in snapshot[".txt"]
    assert "<img" not in snapshot[".html"] and "Photo:" not in snapshot[".txt"]


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    for name in ("ALERTS_DATABASE_URL", "ALERTS_BROKER_URL", "ALERTS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    upgrade(settings.database_url)
    return Runtime(settings)


def test_rich_content_is_read_for_items_whose_session_has_closed(runtime: Runtime) -> None:
    # As a digest's items are: loaded in the claim's session, rendered after it closed.
    photo = Media(**{c: getattr(RICH_PHOTO, c) for c in ("id", "kind", "content_type")})
    photo.label, photo.filename, photo.size, photo.width, photo.height = (
        "JPEG",
        "web.jpg",
        1000,
        500,
        250,
    )
    with runtime.sessions() as session:
        session.add(photo)
        session.add(NewsroomDefaults(id=1, notes="Default *notes*.", contacts=[]))
        session.add(
            Item(title="T", image={"media_id": RICH_PHOTO.id, "alt": "A"}, published_at=PUBLISHED)
        )
        session.commit()
    with runtime.sessions() as session:
        item = session.query(Item).one()
        session.expunge(item)
    make_transient(item)
    [rich] = runtime.rich_content([item]).values()
    assert rich.photo is not None and (rich.photo.width, rich.photo.height) == (500, 250)
    assert rich.photo.src2x is None  # under 600 px wide: no larger rendition to offer
    assert rich.notes == "Default *notes*."


def test_an_embargoed_rich_release_keeps_its_photo_documents_and_contacts() -> None:
    item, rich = rich_item()
    item.status, item.embargo_until, item.published_at = (
        ItemStatus.EMBARGOED,
        PUBLISHED + timedelta(days=2),
        None,
    )
    rendered = render_item(
        make_environment(), item, Taxonomy(), SENDER, BASE_URL, "en", "Europe/Madrid", rich
    )
    snapshot = _snapshot(build_message(rendered, RECIPIENT, SENDER))
    html, text = snapshot[".html"], snapshot[".txt"]
    assert "EMBARGOED UNTIL" in text and f"/media/{RICH_PHOTO.id}/email.jpg" in html
    assert "Full report</a> (PDF, 2.4 MB)" in html and "Press Office" in html
    assert "[Photo: Families wait at the border crossing in Tijuana. — Ana Ruiz / NGO]" in text
