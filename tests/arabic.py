"""What an Arabic frame must say, read from the Arabic catalogue file itself (never from
the rendering under test), and Arabic dates written out by hand."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

PO = Path(__file__).resolve().parent.parent / "alerts/locale/ar/LC_MESSAGES/messages.po"
# The Gregorian months as Arabic newsrooms in the Middle East write them (CLDR's ``ar``).
MONTHS = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
)


@cache
def _catalog() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle, locale="ar")


def ar(msgid: str, form: int | None = None) -> str:
    """The msgstr of ``msgid`` in the .po file; ``form``: which plural form (0 to 5)."""
    message = _catalog().get(msgid)
    assert message is not None and message.string, f"{msgid!r} has no Arabic translation"
    if form is None:
        assert isinstance(message.string, str), msgid
        return message.string
    assert not isinstance(message.string, str), msgid
    translated: str = message.string[form]
    return translated


def long_date(day: date) -> str:
    """``28 نوفمبر 2026``: the day, the month's Arabic name, the year, in Western digits."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
