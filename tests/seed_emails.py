"""The packaged seed items rendered into full alert emails, the way workers send them.

Shared by the standards, spam-score, snapshot and screenshot tests. Everything that
varies between runs (publication time, links) is fixed here, so renders repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.core.models import Item, ItemCountry, ItemStatus, ItemTopic
from alerts.core.taxonomy import Taxonomy
from alerts.core.tokens import Purpose, TokenSigner
from alerts.dev.seed import seed_drafts
from alerts.digests.email import render_digest
from alerts.digests.runs import ClaimedDigest
from alerts.items.drafts import ItemDraft
from alerts.mail.rendering import (
    Recipient,
    RenderedItem,
    build_message,
    make_environment,
    render_item,
)
from tests.test_rendering import SENDER

SEED: list[ItemDraft] = seed_drafts()
LANGUAGES = ("en", "es", "fr")
BASE_URL = "https://alerts.ngo.example"
PUBLISHED = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def seed_item(index: int) -> Item:
    draft = SEED[index]
    return Item(
        id=index + 1,
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url=draft.url or f"https://ngo.example/news/{index + 1}",
        kind=draft.kind,
        language=draft.language,
        campaign=draft.campaign,
        published_at=PUBLISHED,
        country_rows=[ItemCountry(country=c) for c in sorted(draft.countries)],
        topic_rows=[ItemTopic(topic=t) for t in sorted(draft.topics)],
    )


def render_seed(index: int, language: str) -> RenderedItem:
    """One seed item with the frame (labels, dates, footer) in ``language``."""
    return render_item(
        make_environment(None, language), seed_item(index), Taxonomy(), SENDER, BASE_URL, language
    )


def signed_recipient(journalist_id: int, name: str, delivery_id: int) -> Recipient:
    """A recipient with real signed links, as the workers make them."""
    signer = TokenSigner(SENDER.secret)
    return Recipient(
        delivery_id,
        journalist_id,
        f"journalist{journalist_id}@example.net",
        name,
        f"{BASE_URL}/u/{signer.sign(Purpose.UNSUBSCRIBE, journalist_id)}",
        f"{BASE_URL}/preferences/{signer.sign(Purpose.PREFERENCES, journalist_id)}",
    )


def seed_message(index: int, language: str, recipient: Recipient) -> bytes:
    return build_message(render_seed(index, language), recipient, SENDER)


# --- digests, embargoes and their notices, built from the same seed items -------

EMBARGO_UNTIL = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ZONE = "America/Mexico_City"  # the marker shows its clock, then UTC
EXTRAS = (
    "embargoed",
    "embargo_moved",
    "embargo_lifted",
    "withdrawal",
    "digest-daily",
    "digest-weekly",
)


def _embargoed(index: int) -> Item:
    item = seed_item(index)
    item.status, item.embargo_until, item.published_at = (
        ItemStatus.EMBARGOED,
        EMBARGO_UNTIL,
        None,
    )
    return item


def _notice(kind: str) -> Item:
    original = seed_item(0)
    return Item(
        id=100,
        title=original.title,
        summary="",
        body="",
        kind=kind,
        language=original.language,
        corrects_id=original.id,
        embargo_until=EMBARGO_UNTIL,
        status=ItemStatus.PUBLISHED,
        published_at=PUBLISHED,
        country_rows=list(original.country_rows),
        topic_rows=list(original.topic_rows),
    )


def _digest(cadence: str, language: str) -> RenderedItem:
    items = [seed_item(index) for index in range(6)]
    for hours, item in enumerate(items):  # one an hour before the next
        item.published_at = PUBLISHED - timedelta(hours=hours)
    claimed = ClaimedDigest(
        digest_id=7,
        journalist_id=1,
        email="journalist@example.net",
        name="Journalist",
        language=language,
        timezone=ZONE,
        cadence=cadence,
        period="2026-11-28",
        attempts=1,
        created_at=PUBLISHED,
        items=items,
        countries=frozenset(c for item in items[:3] for c in item.countries),
        topics=frozenset(),
        delivery_id=1,
    )
    return render_digest(make_environment(None, language), claimed, Taxonomy(), SENDER, BASE_URL)


def extra_message(name: str, language: str, recipient: Recipient) -> bytes:
    """A digest, an embargoed release or a notice about one, as the workers send them."""
    env = make_environment(None, language)
    if name.startswith("digest-"):
        cadence = name.removeprefix("digest-")
        rendered = _digest(cadence, language)
        # Keyed by the recipient's delivery, so every test message has its own Message-ID.
        return build_message(
            rendered, recipient, SENDER, SENDER.digest_message_id(recipient.delivery_id)
        )
    item = _embargoed(0) if name == "embargoed" else _notice(name)
    rendered = render_item(env, item, Taxonomy(), SENDER, BASE_URL, language, ZONE)
    return build_message(rendered, recipient, SENDER)
