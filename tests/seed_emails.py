"""The packaged seed items rendered into full alert emails, the way workers send them.

Shared by the standards, spam-score, snapshot and screenshot tests. Everything that
varies between runs (publication time, links) is fixed here, so renders repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.core.models import Item, ItemCountry, ItemStatus, ItemTopic, Media, NewsroomDefaults
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
from alerts.mail.rich_blocks import RichContent, rich_content
from tests.test_rendering import SENDER

SEED: list[ItemDraft] = seed_drafts()
LANGUAGES = ("en", "es", "fr", "ar")
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
    "rich",
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


# --- a release as press offices write it: photo, documents, notes, contacts ----

MEDIA_URL = f"{BASE_URL}/media"
RICH_PHOTO = Media(
    id="Ph0toOfTheBorderWall01",
    kind="image",
    content_type="image/jpeg",
    label="JPEG",
    filename="web.jpg",
    size=412_000,
    width=1600,
    height=1067,
)
RICH_REPORT = Media(
    id="RepOrtOnTheBorder00001",
    kind="document",
    content_type="application/pdf",
    label="PDF",
    filename="facing-walls.pdf",
    size=2_415_000,
)
RICH_DEFAULTS = NewsroomDefaults(
    id=1,
    notes="Default notes: replaced by the item's own below.",
    contacts=[{"name": "Nobody Default", "email": "default@ngo.example"}],
)


def rich_item() -> tuple[Item, RichContent]:
    """The rich seed release and its rich content, as the workers read them."""
    item = seed_item(0)
    item.id = 200
    item.body = (
        "Refugees and migrants crossing from Mexico into the United States face "
        "[new dangers](https://ngo.example/news/border-report) since the executive order "
        "on border control. Our researchers interviewed people on both sides of the border "
        "over four weeks.\n\n"
        "> Closing the door on people fleeing violence does not stop them; it pushes them "
        "into the hands of smugglers and onto deadlier routes.\n"
        ">\n"
        "> **Erika Guevara-Rosas**, Americas Director\n\n"
        "The report documents:\n\n"
        "- returns of asylum seekers to danger without a hearing;\n"
        "- detention of families, children included, for weeks;\n"
        "- crossings moved to remote desert, where deaths have risen.\n\n"
        "Read the [full findings](https://ngo.example/research/facing-walls) or "
        "[write to the researchers](mailto:research@ngo.example)."
    )
    item.image = {
        "media_id": RICH_PHOTO.id,
        "alt": "A family walks beside the border wall at dusk",
        "caption": "Families wait at the border crossing in Tijuana.",
        "credit": "Ana Ruiz / NGO",
    }
    item.attachments = [{"media_id": RICH_REPORT.id, "title": "Full report"}]
    item.notes = (
        "The report *Facing Walls* is based on 130 interviews made in February 2017. "
        "Interviews with the researchers can be arranged in English and Spanish; see the "
        "[methodology](https://ngo.example/research/facing-walls/method)."
    )
    item.contacts = [
        {
            "name": "Press Office",
            "role": "Media relations, Americas",
            "email": "press@ngo.example",
            "phone": "+52 55 1234 5678",
            "languages": ["en", "es"],
            "timezone": "America/Mexico_City",
        }
    ]
    media = {RICH_PHOTO.id: RICH_PHOTO, RICH_REPORT.id: RICH_REPORT}
    return item, rich_content(item, media, RICH_DEFAULTS, MEDIA_URL)


def extra_message(name: str, language: str, recipient: Recipient) -> bytes:
    """A digest, an embargoed release or a notice about one, as the workers send them."""
    env = make_environment(None, language)
    if name == "rich":
        item, rich = rich_item()
        rendered = render_item(env, item, Taxonomy(), SENDER, BASE_URL, language, "UTC", rich)
        return build_message(rendered, recipient, SENDER)
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
