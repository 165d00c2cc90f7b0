"""The email of a draft not saved yet, as journalists would get it, and its reach.

The draft goes through the very code that saves it (``drafts.create_item`` or
``update_draft``), is flushed so the matching SQL sees its countries and
topics, then rendered by ``mail.rendering`` (a language tab's: in that
translation's words, typed in the same form) and built into the wire message
by ``build_message``, like a delivery; the transaction is then rolled back, so a
preview never writes an item, and nothing is fanned out (only a commit does).
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from typing import Any

from sqlalchemy.orm import Session

from alerts.core.models import Item
from alerts.core.runtime import Runtime
from alerts.core.text_versions import of_row
from alerts.delivery.matching import reach
from alerts.items import drafts
from alerts.mail.rendering import build_message, render_item


@dataclass(frozen=True)
class Preview:
    html: str
    reach: dict[str, Any]


def sample_html(runtime: Runtime, item: Item, language: str | None = None) -> str:
    """The HTML part of the item's email for a sample recipient (the bytes sent, decoded);
    ``language``: for a reader of that language (its translation's words, when it has one).

    Rendered afresh, not through the runtime's cache: an unsaved draft has no
    version of its own to cache under."""
    version = None
    if language is not None:
        row = next((r for r in item.translation_rows if r.language == language), None)
        version = of_row(row) if row is not None else None
    reader = (language or item.language).split("-")[0]
    rendered = render_item(
        runtime.templates_for(reader),
        item,
        runtime.taxonomy,
        runtime.sender,
        runtime.settings.base_url,
        reader,
        "UTC",
        runtime.rich_content([item])[item.id],
        version=version,
    )
    recipient = runtime.recipient(0, 0, "journalist@example.org", "Sample Journalist")
    raw = build_message(rendered, recipient, runtime.sender)
    message = message_from_bytes(raw, policy=policy.default)
    part = message.get_body(("html",))
    return str(part.get_content()) if part is not None else ""


def preview(
    session: Session,
    runtime: Runtime,
    fields: dict[str, Any],
    item_id: int | None,
    language: str | None = None,
) -> Preview:
    """``InvalidItem`` when the draft could not be saved either; nothing is ever kept.
    ``language``: the email a reader of that language gets (a translation's tab)."""
    try:
        draft = drafts.parse_draft(fields)
        if item_id is None:
            item = drafts.create_item(session, runtime.taxonomy, draft)
        else:
            found = session.get(Item, item_id)
            if found is None:
                raise drafts.InvalidItem(f"no item {item_id}")
            item = drafts.update_draft(session, runtime.taxonomy, found, fields)
        session.flush()
        estimate = reach(session, item.id, item.countries, item.topics)
        return Preview(sample_html(runtime, item, language), estimate)
    finally:
        session.rollback()
