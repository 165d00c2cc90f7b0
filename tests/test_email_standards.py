"""Every seed item, in both languages, makes an email that strict parsers accept."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from alerts.models import Item, ItemCountry, ItemTopic, utcnow
from alerts.rendering import build_message, make_environment, render_item
from alerts.seed import seed_drafts
from tests.test_rendering import SENDER, _recipient

TAXONOMY_ITEMS = seed_drafts()


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("index", range(len(TAXONOMY_ITEMS)))
def test_seed_items_make_well_formed_emails(index: int, language: str) -> None:
    from alerts.taxonomy import Taxonomy

    draft = TAXONOMY_ITEMS[index]
    item = Item(
        id=index + 1,
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url="https://ngo.example/news/1",
        kind=draft.kind,
        language="en",
        campaign=draft.campaign,
        published_at=utcnow(),
        country_rows=[ItemCountry(country=c) for c in draft.countries],
        topic_rows=[ItemTopic(topic=t) for t in draft.topics],
    )
    rendered = render_item(
        make_environment(None, language),
        item,
        Taxonomy(),
        SENDER,
        "https://alerts.ngo.example",
        language,
    )
    raw = build_message(rendered, _recipient(name="Júlia Núñez 📰"), SENDER)
    assert len(raw) < 100_000  # Gmail clips HTML above about 102 KB
    # The strict policy raises on any defect: bad folding, bad encoded words, bad MIME.
    message = message_from_bytes(raw, policy=policy.strict)
    assert isinstance(message, EmailMessage)
    assert not message.defects and all(not part.defects for part in message.walk())
    assert message["Subject"] == draft.title
    assert message["To"].addresses[0].display_name == "Júlia Núñez 📰"
    for header in (
        "Date",
        "Message-ID",
        "From",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert message[header], header
    assert message["Precedence"] == "bulk"
    assert all(line.isascii() for line in raw.split(b"\r\n"))  # 7-bit clean on the wire
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    html = message.get_body(("html",))
    assert html is not None and 'class="preheader"' in str(html.get_content())
