"""Linked translations: an item's words in other languages, and which version a reader gets.

An item has one original (its own fields, its ``language``) and any number of
translations, one per language. A reader gets the translation in their language,
else the original; it is still one delivery per reader (nothing here creates
one), so a translation added after publishing reaches only those whose delivery
is still waiting to be rendered. Functions take a session; callers commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.core.models import NOTICE_KINDS, Item, ItemTranslation, utcnow
from alerts.core.text_versions import TextVersion, of_row
from alerts.items.rich_fields import StrictPart

_CODE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")

# What a translation may give (every field but the title may be left to the original).
TRANSLATABLE = (
    "title",
    "summary",
    "body",
    "image_alt",
    "image_caption",
    "notes",
    "document_titles",
)


class InvalidTranslation(ValueError):
    """A translation that cannot be stored; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TranslationFields(StrictPart):
    """A translation's words; None (or absent) leaves that field to the original."""

    title: str = Field(min_length=1, max_length=500)
    summary: str | None = Field(default=None, max_length=5_000)
    body: str | None = Field(default=None, max_length=100_000, description="Markdown")
    image_alt: str | None = Field(default=None, min_length=1, max_length=300)
    image_caption: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=20_000, description="Markdown")
    document_titles: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Document titles by the document's media id (one of the item's attachments).",
    )

    @field_validator("document_titles")
    @classmethod
    def _titles(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned = {}
        for media_id, title in value.items():
            title = title.strip()
            if not 1 <= len(title) <= 200:
                raise ValueError("a document title has 1 to 200 characters")
            cleaned[media_id] = title
        return cleaned


def check_language(code: str) -> str:
    """A language tag Babel knows (``es``, ``ar``, ``pt-BR``), or InvalidTranslation."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidTranslation(
            f"{str(code)[:20]!r} is not a language code (es, ar, pt-BR)", "language"
        )
    try:
        Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise InvalidTranslation(f"{code!r} is no known language", "language") from exc
    return code


def parse_fields(data: Any) -> TranslationFields:
    """Checked words; InvalidTranslation naming the first bad field otherwise."""
    try:
        return TranslationFields.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        raise InvalidTranslation(f"{field or 'translation'}: {error['msg']}", field) from exc


def check_against(item: Item, language: str, fields: TranslationFields) -> None:
    """What a translation may say of this item: it has the photo, the documents it names,
    and its own language is not the original's."""
    check_language(language)
    if language == item.language:
        raise InvalidTranslation(
            f"{language!r} is the original's language: edit the item instead", "language"
        )
    if item.kind in NOTICE_KINDS:
        raise InvalidTranslation("a notice takes its words from the release it is about")
    if not item.image:
        for name in ("image_alt", "image_caption"):
            if getattr(fields, name) is not None:
                raise InvalidTranslation(f"{name}: the item has no photo", name)
    documents = {str(ref.get("media_id")) for ref in item.attachments or []}
    for media_id in fields.document_titles:
        if media_id not in documents:
            raise InvalidTranslation(
                f"document_titles: {media_id[:40]!r} is none of the item's documents",
                "document_titles",
            )


def put(
    session: Session,
    item: Item,
    language: str,
    fields: TranslationFields,
    now: datetime | None = None,
) -> tuple[ItemTranslation, bool]:
    """Store the translation whole (replacing one in that language); True when new."""
    check_against(item, language, fields)
    row = get(session, item, language)
    created = row is None
    if row is None:
        row = ItemTranslation(item_id=item.id, language=language, created_at=now or utcnow())
        session.add(row)
    values = fields.model_dump()
    for name in TRANSLATABLE:
        setattr(row, name, values[name])
    row.document_titles = values["document_titles"] or None
    row.updated_at = now or utcnow()
    session.flush()
    return row, created


def attach(item: Item, given: Mapping[str, TranslationFields], now: datetime) -> None:
    """Translations onto an item not stored yet (created with it, in its transaction)."""
    for language, fields in given.items():
        try:
            check_against(item, language, fields)
        except InvalidTranslation as exc:
            field = language if exc.field in (None, "language") else f"{language}.{exc.field}"
            raise InvalidTranslation(f"{language}: {exc}", field) from exc
        values = fields.model_dump()
        values["document_titles"] = values["document_titles"] or None
        item.translation_rows.append(
            ItemTranslation(language=language, created_at=now, updated_at=now, **values)
        )


def parse_all(data: Any) -> dict[str, TranslationFields]:
    """``{"es": {...}, "ar": {...}}`` checked: known languages, known fields."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidTranslation("translations: expected an object of languages", "translations")
    parsed = {}
    for language, fields in data.items():
        try:
            check_language(language)
            parsed[language] = parse_fields(fields)
        except InvalidTranslation as exc:
            where = f"translations.{str(language)[:20]}"
            field = f"{where}.{exc.field}" if exc.field and exc.field != "language" else where
            raise InvalidTranslation(f"{where}: {exc}", field) from exc
    return parsed


def get(session: Session, item: Item, language: str) -> ItemTranslation | None:
    return session.scalar(
        select(ItemTranslation).where(
            ItemTranslation.item_id == item.id, ItemTranslation.language == language
        )
    )


def remove(session: Session, item: Item, language: str) -> bool:
    """Delete the translation; False when the item had none in that language."""
    result = session.execute(
        delete(ItemTranslation).where(
            ItemTranslation.item_id == item.id, ItemTranslation.language == language
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def of_item(session: Session, item_id: int) -> list[ItemTranslation]:
    return list(
        session.scalars(
            select(ItemTranslation)
            .where(ItemTranslation.item_id == item_id)
            .order_by(ItemTranslation.language)
        )
    )


def languages_of(session: Session, item_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each item's translation languages (for lists that show them)."""
    found: dict[int, list[str]] = {}
    ids = list(item_ids)
    if not ids:
        return found
    rows = session.execute(
        select(ItemTranslation.item_id, ItemTranslation.language)
        .where(ItemTranslation.item_id.in_(ids))
        .order_by(ItemTranslation.language)
    )
    for item_id, language in rows:
        found.setdefault(item_id, []).append(language)
    return found


def _pick(rows: Iterable[ItemTranslation], language: str) -> ItemTranslation | None:
    """The translation for a reader of ``language``: that tag, else its primary one."""
    by_language = {row.language: row for row in rows}
    return by_language.get(language) or by_language.get(language.split("-")[0])


def version_for(session: Session, item: Item, language: str) -> TextVersion | None:
    """The words a reader of ``language`` gets: a translation's, or None for the original's.

    A notice (embargo moved or lifted, withdrawal) has no words of its own but the
    release's title: it takes the title of the release's translation.
    """
    return versions_for(session, [item], language).get(item.id)


def versions_for(session: Session, items: Iterable[Item], language: str) -> dict[int, TextVersion]:
    """:func:`version_for` for several items in one query (a digest's)."""
    items = list(items)
    wanted = [i for i in items if i.language.split("-")[0] != language.split("-")[0]]
    if not wanted:
        return {}
    owner = {
        i.id: (i.corrects_id if i.kind in NOTICE_KINDS and i.corrects_id else i.id) for i in wanted
    }
    rows: dict[int, list[ItemTranslation]] = {}
    for row in session.scalars(
        select(ItemTranslation).where(ItemTranslation.item_id.in_(set(owner.values())))
    ):
        rows.setdefault(row.item_id, []).append(row)
    versions = {}
    for item in wanted:
        found = _pick(rows.get(owner[item.id], []), language)
        if found is None:
            continue
        version = of_row(found)
        if owner[item.id] != item.id:
            version = TextVersion(language=version.language, title=version.title)
        versions[item.id] = version
    return versions
