"""The rich parts of a release as the email shows them: photo, documents, notes, contacts.

Built once per item (the media rows and the newsroom's defaults are read with the
item, never per recipient) into plain values the templates lay out: a hosted
photo at its email size, documents as links with their type and size, notes to
editors through the same safe Markdown renderer as the body, and the contacts.
Nothing here is attached to the email: every file is a link to the media store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import Item, Media, NewsroomDefaults
from alerts.core.text_versions import TextVersion
from alerts.mail.markdown_body import render_body
from alerts.media.documents import human_size
from alerts.media.images import WIDTHS
from alerts.media.store import public_url, variant_names

EMAIL_WIDTH = WIDTHS["email"]


@dataclass(frozen=True)
class Photo:
    src: str  # the 600 px rendition
    src2x: str | None  # the 1200 px one, when it is larger than the first
    web: str  # the web page's size (the public newsroom)
    width: int
    height: int
    alt: str
    caption: str
    credit: str


@dataclass(frozen=True)
class Document:
    title: str
    url: str
    label: str  # "PDF"
    size: str  # "2.4 MB"
    media_id: str = ""  # which of the item's documents (a translation names its title by it)


@dataclass(frozen=True)
class ContactCard:
    name: str
    role: str = ""
    email: str = ""
    phone: str = ""
    languages: tuple[str, ...] = ()
    timezone: str = ""


@dataclass(frozen=True)
class RichContent:
    """What an item's email shows besides its text; empty for a plain item."""

    photo: Photo | None = None
    documents: tuple[Document, ...] = ()
    notes: str = ""  # Markdown
    contacts: tuple[ContactCard, ...] = field(default_factory=tuple)


PLAIN = RichContent()


def email_size(media: Media) -> tuple[int, int]:
    """The 600 px rendition's size, from the stored (web) size: same proportions, never
    enlarged. An original wider than the web size can be a pixel off in height."""
    width, height = media.width or EMAIL_WIDTH, media.height or EMAIL_WIDTH
    if width <= EMAIL_WIDTH:
        return width, height
    return EMAIL_WIDTH, max(1, round(height * EMAIL_WIDTH / width))


def _photo(ref: Mapping[str, Any], media: Media | None, base_url: str) -> Photo | None:
    if media is None or media.kind != "image":
        return None  # checked when the item was saved; a file gone since shows nothing
    names = variant_names(media)
    width, height = email_size(media)
    larger = (media.width or 0) > EMAIL_WIDTH
    return Photo(
        src=public_url(base_url, media, names["email"]),
        src2x=public_url(base_url, media, names["email2x"]) if larger else None,
        web=public_url(base_url, media, names["web"]),
        width=width,
        height=height,
        alt=str(ref.get("alt") or ""),
        caption=str(ref.get("caption") or ""),
        credit=str(ref.get("credit") or ""),
    )


def _contacts(rows: Iterable[Mapping[str, Any]]) -> tuple[ContactCard, ...]:
    return tuple(
        ContactCard(
            name=str(row.get("name") or ""),
            role=str(row.get("role") or ""),
            email=str(row.get("email") or ""),
            phone=str(row.get("phone") or ""),
            languages=tuple(str(code) for code in row.get("languages") or ()),
            timezone=str(row.get("timezone") or ""),
        )
        for row in rows
        if row.get("name")
    )


def rich_content(
    item: Item,
    media: Mapping[str, Media],
    defaults: NewsroomDefaults | None,
    base_url: str,
) -> RichContent:
    """The item's photo, documents, notes and contacts (its own, else the defaults)."""
    photo = (
        _photo(item.image, media.get(str(item.image.get("media_id"))), base_url)
        if (item.image)
        else None
    )
    documents = []
    for ref in item.attachments or []:
        found = media.get(str(ref.get("media_id")))
        if found is not None and found.kind == "document":
            documents.append(
                Document(
                    title=str(ref.get("title") or found.filename),
                    url=public_url(base_url, found),
                    label=found.label,
                    size=human_size(found.size),
                    media_id=found.id,
                )
            )
    notes = item.notes if item.notes is not None else (defaults.notes if defaults else "")
    contacts = (
        item.contacts if item.contacts is not None else (defaults.contacts if defaults else [])
    )
    return RichContent(photo, tuple(documents), notes or "", _contacts(contacts or []))


def translated(rich: RichContent, version: TextVersion | None) -> RichContent:
    """The rich content in a translation's words: photo alt and caption, document
    titles, notes; whatever the translation leaves out stays the original's."""
    if version is None:
        return rich
    photo = rich.photo
    if photo is not None:
        photo = replace(
            photo,
            alt=version.image_alt or photo.alt,
            caption=photo.caption if version.image_caption is None else version.image_caption,
        )
    documents = tuple(
        replace(d, title=version.document_titles.get(d.media_id, d.title)) for d in rich.documents
    )
    notes = rich.notes if version.notes is None else version.notes
    return replace(rich, photo=photo, documents=documents, notes=notes)


def load_rich(session: Session, items: Iterable[Item], base_url: str) -> dict[int, RichContent]:
    """Each item's rich content: one query for their files, one for the defaults."""
    items = list(items)
    ids = {
        str(ref.get("media_id"))
        for item in items
        for ref in ([item.image] if item.image else []) + list(item.attachments or [])
    }
    media: dict[str, Media] = {}
    if ids:
        media = {m.id: m for m in session.scalars(select(Media).where(Media.id.in_(ids)))}
    needs_defaults = any(item.notes is None or item.contacts is None for item in items)
    defaults = session.get(NewsroomDefaults, 1) if needs_defaults else None
    return {item.id: rich_content(item, media, defaults, base_url) for item in items}


def _language_name(code: str, language: str) -> str:
    """ "Spanish" for "es" in an English email, "español" in a Spanish one."""
    try:
        name = Locale.parse(language).languages.get(code.split("-")[0])
    except (UnknownLocaleError, ValueError):
        name = None
    return name or code


def rich_context(rich: RichContent, language: str, first_reference: int) -> dict[str, object]:
    """The template's values; the text part numbers its links on from ``first_reference``
    (the body's come first), documents and then the notes' own links."""
    notes = render_body(rich.notes, first_reference + len(rich.documents)) if rich.notes else None
    return {
        "photo": rich.photo,
        "documents": [
            {"title": d.title, "url": d.url, "label": d.label, "size": d.size, "number": n}
            for n, d in enumerate(rich.documents, start=first_reference)
        ],
        "notes_blocks": notes.html if notes else [],
        "notes_text": notes.text if notes else [],
        "notes_references": [
            (number, href)
            for number, href in enumerate(
                notes.references if notes else [], start=first_reference + len(rich.documents)
            )
        ],
        "contacts": [
            {
                "name": c.name,
                "role": c.role,
                "email": c.email,
                "phone": c.phone,
                "tel": "".join(ch for ch in c.phone if ch.isdigit() or ch == "+"),
                "languages": ", ".join(_language_name(code, language) for code in c.languages),
                "timezone": c.timezone,
            }
            for c in rich.contacts
        ],
    }


def photo_line(photo: Photo) -> str:
    """The text part's stand-in for the photo: ``[Photo: caption — credit]``."""
    words = photo.caption or photo.alt
    return f"{words} — {photo.credit}" if photo.credit else words
