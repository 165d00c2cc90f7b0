"""A translation not saved yet, as readers of its language would get the email.

The typed words go through the very code that saves them (``translations.put``:
same checks, same "empty is the original's"), are flushed, rendered with the
item's photo and documents and built into the wire message like a delivery; the
transaction is then rolled back, so a preview never stores a translation and
never reaches the readers of that language (only a commit does).
"""

from __future__ import annotations

from collections.abc import Mapping
from email import message_from_bytes, policy

from sqlalchemy.orm import Session

from alerts.core.models import Item, utcnow
from alerts.core.runtime import Runtime
from alerts.core.text_versions import of_row
from alerts.items import translations
from alerts.mail.rendering import build_message, render_item


def preview_html(
    session: Session, runtime: Runtime, item: Item, language: str, words: Mapping[str, str]
) -> str:
    """The email's HTML part for a sample reader of ``language``; ``InvalidTranslation``
    when the words could not be saved either. Nothing is ever kept."""
    try:
        code = translations.check_language(language.strip())
        row, _ = translations.put(session, item, code, translations.parse_fields(words), utcnow())
        # Rendered afresh, not through the runtime's cache: unsaved words have no
        # stored version to cache under.
        reader = code.split("-")[0]
        rendered = render_item(
            runtime.templates_for(reader),
            item,
            runtime.taxonomy,
            runtime.sender,
            runtime.settings.base_url,
            reader,
            "UTC",
            runtime.rich_content([item])[item.id],
            version=of_row(row),
        )
        recipient = runtime.recipient(0, 0, "journalist@example.org", "Sample Journalist")
        raw = build_message(rendered, recipient, runtime.sender)
        message = message_from_bytes(raw, policy=policy.default)
        part = message.get_body(("html",))
        return str(part.get_content()) if part is not None else ""
    finally:
        session.rollback()
