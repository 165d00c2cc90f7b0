"""The newsroom's defaults: notes to editors and media contacts, set once by staff.

An item whose ``notes`` or ``contacts`` are None shows these; an item with its own
(an empty text or list included) shows its own. They are read when an email is
rendered, so a change reaches every item rendered after it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy.orm import Session

from alerts.core.models import NewsroomDefaults
from alerts.items.rich_fields import Contact, StrictPart

ROW_ID = 1


class DefaultsIn(StrictPart):
    notes: str = Field(default="", max_length=20_000)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


def get_defaults(session: Session) -> NewsroomDefaults | None:
    return session.get(NewsroomDefaults, ROW_ID)


def set_defaults(
    session: Session, given: DefaultsIn, by: str | None, now: datetime
) -> NewsroomDefaults:
    """Replace the defaults (not committed)."""
    row = get_defaults(session)
    if row is None:
        row = NewsroomDefaults(id=ROW_ID)
        session.add(row)
    row.notes = given.notes
    row.contacts = [c.model_dump() for c in given.contacts]
    row.updated_at = now
    row.updated_by = by
    return row
