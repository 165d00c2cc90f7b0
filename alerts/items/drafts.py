"""Drafts of the comms staff: an item checked field by field, created, edited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import (
    Item,
    ItemCountry,
    ItemStatus,
    ItemTopic,
    utcnow,
)
from alerts.core.taxonomy import Taxonomy, TaxonomyError
from alerts.items import rich_fields, translations
from alerts.items.rich_fields import AttachmentRef, Contact, ImageRef
from alerts.items.translations import InvalidTranslation, TranslationFields

ITEM_KINDS = ("press_release", "report", "statement", "news")


class InvalidItem(ValueError):
    """The item cannot be stored; the message names the problem, ``field`` the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidMedia(InvalidItem):
    """A photo or document id that names no stored file of the right kind."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field)
        self.message = message  # without the field's name, which a 422 gives apart


class ItemDraft(BaseModel):
    """What staff send to create an item (CLI flags, the seed JSON shape, later the API)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    summary: str = ""
    body: str = ""
    url: str | None = None
    kind: str = "press_release"
    language: str = "en"
    campaign: str | None = None
    external_id: str | None = Field(default=None, max_length=200)
    countries: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    # The rich parts (items/rich_fields.py); notes and contacts None: the defaults.
    image: ImageRef | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=20_000)
    contacts: list[Contact] | None = Field(default=None, max_length=20)
    # Linked translations by language (items/translations.py): created with the item.
    translations: dict[str, TranslationFields] = Field(default_factory=dict, max_length=50)

    def rich(self) -> rich_fields.RichFields:
        return rich_fields.RichFields(
            image=self.image, attachments=self.attachments, notes=self.notes, contacts=self.contacts
        )

    @field_validator("attachments", mode="before")
    @classmethod
    def _no_attachments(cls, value: Any) -> Any:
        return [] if value is None else value  # null in an edit: none any more

    @field_validator("translations", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for code in value:
                translations.check_language(code)  # its ValueError names the code
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ITEM_KINDS:
            raise ValueError(f"unknown kind {value!r} (one of {', '.join(ITEM_KINDS)})")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"url must be an http(s) address, got {value!r}")
        return value


def parse_draft(data: dict[str, Any]) -> ItemDraft:
    try:
        return ItemDraft.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidItem(problems) from exc


def checked_codes(taxonomy: Taxonomy, draft: ItemDraft) -> tuple[set[str], set[str]]:
    """The draft's countries and topics, checked against the vocabulary."""
    try:
        countries = taxonomy.item_countries(draft.countries)
    except TaxonomyError as exc:
        raise InvalidItem(str(exc), "countries") from exc
    try:
        return countries, taxonomy.topic_codes(draft.topics)
    except TaxonomyError as exc:
        raise InvalidItem(str(exc), "topics") from exc


def checked_media(session: Session, draft: ItemDraft) -> rich_fields.RichFields:
    """The draft's photo and documents, each a stored file of the right kind."""
    rich = draft.rich()
    problem = rich_fields.check_media(session, rich)
    if problem is not None:
        raise InvalidMedia(problem.field, problem.message)
    return rich


def create_item(session: Session, taxonomy: Taxonomy, draft: ItemDraft) -> Item:
    """Validate the codes against the vocabulary and add a draft item (not committed)."""
    countries, topics = checked_codes(taxonomy, draft)
    rich = checked_media(session, draft)
    item = Item(
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url=draft.url,
        kind=draft.kind,
        language=draft.language,
        campaign=draft.campaign,
        external_id=draft.external_id,
        status=ItemStatus.DRAFT,
        country_rows=[ItemCountry(country=c) for c in sorted(countries)],
        topic_rows=[ItemTopic(topic=t) for t in sorted(topics)],
    )
    rich_fields.apply(item, rich)
    try:
        translations.attach(item, draft.translations, utcnow())
    except InvalidTranslation as exc:
        field = f"translations.{exc.field}" if exc.field else "translations"
        raise InvalidItem(str(exc), field) from exc
    session.add(item)
    return item


def find_by_external_id(session: Session, external_id: str) -> Item | None:
    return session.scalars(select(Item).where(Item.external_id == external_id)).first()


def update_draft(session: Session, taxonomy: Taxonomy, item: Item, changes: dict[str, Any]) -> Item:
    """Change a draft (or a scheduled item); published items are corrected, not edited."""
    if item.status not in (ItemStatus.DRAFT, ItemStatus.SCHEDULED):
        raise InvalidItem(f"item {item.id} is {item.status}: only drafts can be edited")
    current = {
        "title": item.title,
        "summary": item.summary,
        "body": item.body,
        "url": item.url,
        "kind": item.kind,
        "language": item.language,
        "campaign": item.campaign,
        "external_id": item.external_id,
        "countries": item.countries,
        "topics": item.topics,
    } | rich_fields.of_item(item)
    draft = parse_draft(current | changes)
    countries, topics = checked_codes(taxonomy, draft)
    rich_fields.apply(item, checked_media(session, draft))
    if draft.image is not None:  # a photo set by staff answers the import's problem
        item.import_problem = None
    for name in ("title", "summary", "body", "url", "kind", "language", "campaign", "external_id"):
        setattr(item, name, getattr(draft, name))
    if set(item.countries) != countries:
        item.country_rows = [ItemCountry(country=c) for c in sorted(countries)]
    if set(item.topics) != topics:
        item.topic_rows = [ItemTopic(topic=t) for t in sorted(topics)]
    item.updated_at = utcnow()
    return item
