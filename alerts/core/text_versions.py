"""An item's words in one language, as emails and pages read them.

Its own module in ``core`` because the one who picks the version (``items``)
and the ones who lay it out (``mail``, ``newsroom``, ``web``) may not import
each other. Plain values: they outlive the session that read them (a digest is
rendered after its claim's session has closed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerts.core.models import Item, ItemTranslation


@dataclass(frozen=True)
class TextVersion:
    """A translation's words, each None where it leaves the original's."""

    language: str
    title: str
    summary: str | None = None
    body: str | None = None
    image_alt: str | None = None
    image_caption: str | None = None
    notes: str | None = None
    document_titles: Mapping[str, str] = field(default_factory=dict)
    # When its words last changed (None: not known); not part of the key, which is
    # the words themselves. A feed's entry and Last-Modified move with it.
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        """Short and stable for the same words: render caches and link tables tell
        versions apart by it (``es-t1a2b3c4``), so a translation added or edited after
        some readers were sent the item never reuses their links' numbers."""
        words = "\x1f".join(
            [self.language, self.title, self.summary or "", self.body or "", self.notes or ""]
            + [self.image_alt or "", self.image_caption or ""]
            + [f"{k}={v}" for k, v in sorted(self.document_titles.items())]
        )
        return "t" + hashlib.sha256(words.encode()).hexdigest()[:7]

    def title_of(self, item: Item) -> str:
        return self.title or item.title

    def summary_of(self, item: Item) -> str:
        return item.summary if self.summary is None else self.summary

    def body_of(self, item: Item) -> str:
        return item.body if self.body is None else self.body


def of_row(row: ItemTranslation) -> TextVersion:
    return TextVersion(
        language=row.language,
        title=row.title,
        summary=row.summary,
        body=row.body,
        image_alt=row.image_alt,
        image_caption=row.image_caption,
        notes=row.notes,
        document_titles=dict(row.document_titles or {}),
        updated_at=row.updated_at,
    )


def link_language(language: str, version: TextVersion | None) -> str:
    """What a click token and the link table name for one render: the reader's language,
    and the translation's key when the words are a translation's."""
    if version is None:
        return language
    return f"{language.split('-')[0]}-{version.key}"


def reader_language(link_key: str) -> str:
    """The reader's language back from :func:`link_language` (``es-t1a2b3c4`` → ``es``)."""
    head, _, tail = link_key.partition("-")
    return head if tail.startswith("t") and len(tail) == 8 else link_key
