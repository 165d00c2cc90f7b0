"""What the public may see of items: the one rule every newsroom query starts from.

A draft, a scheduled item and an item under embargo do not exist for the
public: not in a list, a count, a search, a feed or a page. Notices (embargo
moved or lifted, withdrawn under embargo) are emails to those who received an
embargoed item, not releases: they name it, so they are never shown either.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from alerts.core.models import NOTICE_KINDS, Item, ItemStatus


def listed() -> ColumnElement[bool]:
    """Items in lists, search results and feeds: published releases."""
    return and_(
        Item.status == ItemStatus.PUBLISHED,
        Item.published_at.is_not(None),
        Item.kind.not_in(NOTICE_KINDS),
    )


def has_page() -> ColumnElement[bool]:
    """Items with a public page: the listed ones, and those withdrawn after they were
    published (their page says so). An item withdrawn under embargo was never public:
    ``published_at`` is only set by publishing or by lifting an embargo."""
    return or_(
        listed(),
        and_(
            Item.status == ItemStatus.WITHDRAWN,
            Item.published_at.is_not(None),
            Item.kind.not_in(NOTICE_KINDS),
        ),
    )
