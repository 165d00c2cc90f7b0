"""Which changes to an item send it to its readers: the rule the session hook applies.

The rule belongs to items, not to the database plumbing: ``core.db`` only
collects what this function names during a flush and hands those ids on after
the commit.
"""

from __future__ import annotations

from sqlalchemy import inspect

from alerts.core.models import Item, ItemStatus

# Embargoed items go out too: to verified press, before the rest.
_SENT = (ItemStatus.PUBLISHED, ItemStatus.EMBARGOED)


def fan_out_due(obj: object, is_new: bool) -> int | None:
    """The item's id when this flush made it published or embargoed, else None."""
    if not isinstance(obj, Item) or obj.status not in _SENT:
        return None
    if is_new or inspect(obj).attrs.status.history.has_changes():
        return obj.id
    return None
