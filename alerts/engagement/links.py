"""The link table: an item's numbered link targets per language, as first sent.

Stored when a batch renders the item (not re-derived at click time), so a click
finds the target the email really carried even after the templates or the item
change; the row is written once (later renders change nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert
from alerts.core.models import ClickLink


def remember(session: Session, item_id: int, language: str, links: tuple[str, ...]) -> None:
    if not links:
        return
    # Read first: every batch of an item comes here, and an insert would wait on
    # another worker's uncommitted insert of the same rows.
    known = session.scalar(
        select(ClickLink.number)
        .where(ClickLink.item_id == item_id, ClickLink.language == language)
        .limit(1)
    )
    if known is not None:
        return
    rows = [
        {"item_id": item_id, "language": language, "number": n, "url": url[:2000]}
        for n, url in enumerate(links, start=1)
    ]
    insert = upsert_insert(session)
    session.execute(insert(ClickLink).values(rows).on_conflict_do_nothing())


def targets(session: Session, item_id: int, language: str) -> dict[int, str]:
    rows = session.execute(
        select(ClickLink.number, ClickLink.url).where(
            ClickLink.item_id == item_id, ClickLink.language == language
        )
    ).all()
    return {number: url for number, url in rows}


def ensure(
    session: Session, item_id: int, language: str, render: Callable[[], tuple[str, ...]]
) -> tuple[str, ...]:
    """The item's stored targets in order; rendered and stored first if it has none yet
    (an item that goes out in a digest before, or without, its alert in this language)."""
    stored = targets(session, item_id, language)
    if not stored:
        remember(session, item_id, language, render())
        stored = targets(session, item_id, language)  # another worker's, if it won
    return tuple(stored[n] for n in sorted(stored))
