"""Corrections: a published item corrected, mailed only to those who received it, threaded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerts.core.models import (
    Item,
    ItemStatus,
)
from alerts.items import rich_fields, translations
from alerts.items.drafts import InvalidItem, checked_media, parse_draft
from alerts.items.lifecycle import _publish_follow_up
from alerts.items.translations import InvalidTranslation, TranslationFields


def correct(
    session: Session,
    item: Item,
    title: str | None,
    summary: str,
    body: str,
    now: datetime,
    rich_changes: Mapping[str, Any] | None = None,
    translated: Mapping[str, TranslationFields] | None = None,
) -> Item:
    """Publish a correction: mailed only to those who received the original, threaded.

    It carries the original's photo, documents, notes and contacts unless
    ``rich_changes`` gives its own (a key given as None clears that field).
    ``translated``: the correction's own translations; each reader gets the one in
    their language (else the correction as written), as with any item."""
    if item.status != ItemStatus.PUBLISHED or item.corrects_id is not None:
        raise InvalidItem(f"item {item.id} is not a published original: nothing to correct")
    draft = parse_draft(
        {
            "title": title or f"Correction: {item.title}",
            "summary": summary,
            "body": body,
            "url": item.url,
            "kind": item.kind,
            "language": item.language,
            "campaign": item.campaign,
        }
        | rich_fields.of_item(item)
        | dict(rich_changes or {})
    )
    rich = checked_media(session, draft)
    follow_up = _publish_follow_up(
        session,
        item,
        now,
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url=draft.url,
        kind=draft.kind,
        campaign=draft.campaign,
    )
    rich_fields.apply(follow_up, rich)
    try:
        translations.attach(follow_up, translated or {}, now)
    except InvalidTranslation as exc:
        field = f"translations.{exc.field}" if exc.field else "translations"
        raise InvalidItem(str(exc), field) from exc
    return follow_up
