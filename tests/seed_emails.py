"""The packaged seed items rendered into full alert emails, the way workers send them.

Shared by the standards, spam-score, snapshot and screenshot tests. Everything that
varies between runs (publication time, links) is fixed here, so renders repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.models import Item, ItemCountry, ItemTopic
from alerts.publishing import ItemDraft
from alerts.rendering import Recipient, RenderedItem, build_message, make_environment, render_item
from alerts.seed import seed_drafts
from alerts.taxonomy import Taxonomy
from alerts.tokens import Purpose, TokenSigner
from tests.test_rendering import SENDER

SEED: list[ItemDraft] = seed_drafts()
LANGUAGES = ("en", "es")
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
