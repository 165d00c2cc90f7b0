"""An embargoed release opened by the signed link its verified readers were sent.

The one exception to ``visibility``: only with a token that
:class:`~alerts.core.embargo_links.EmbargoLinks` accepts for this very item,
and only while the item is still under embargo. Anything else is ``None``,
which the caller answers exactly like an unknown id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.embargo_links import EmbargoLinks
from alerts.core.models import NOTICE_KINDS, Item, ItemStatus
from alerts.newsroom.release import MAX_ID, Release


def find_preview(
    session: Session, item_id: int, token: str, links: EmbargoLinks, now: datetime
) -> Release | None:
    # The signature is checked before any query: a guessed token costs no lookup.
    if not 0 < item_id <= MAX_ID or not links.opens(token, item_id, now):
        return None
    item = session.scalar(
        select(Item).where(
            Item.id == item_id,
            Item.status == ItemStatus.EMBARGOED,
            Item.embargo_until.is_not(None),
            Item.kind.not_in(NOTICE_KINDS),
        )
    )
    if item is None or item.embargo_until is None or item.embargo_until <= now:
        return None
    return Release(item, None, [])
