"""Use cases of the comms staff: create items, publish them. Plain functions on a Session."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Item, ItemCountry, ItemStatus, ItemTopic, utcnow
from alerts.taxonomy import Taxonomy, TaxonomyError

ITEM_KINDS = ("press_release", "report", "statement", "news")


class InvalidItem(ValueError):
    """The item cannot be stored; the message names the problem."""


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


def create_item(session: Session, taxonomy: Taxonomy, draft: ItemDraft) -> Item:
    """Validate the codes against the vocabulary and add a draft item (not committed)."""
    try:
        countries = taxonomy.item_countries(draft.countries)
        topics = taxonomy.topic_codes(draft.topics)
    except TaxonomyError as exc:
        raise InvalidItem(str(exc)) from exc
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
    session.add(item)
    return item


def publish_item(session: Session, item: Item, now: datetime | None = None) -> Item:
    """Mark an item published; the session's after-commit hook enqueues its fan-out."""
    if item.status == ItemStatus.PUBLISHED:
        return item
    if item.status == ItemStatus.WITHDRAWN:
        raise InvalidItem(f"item {item.id} was withdrawn and cannot be published")
    item.status = ItemStatus.PUBLISHED
    item.published_at = now or utcnow()
    return item


def find_by_external_id(session: Session, external_id: str) -> Item | None:
    return session.scalars(select(Item).where(Item.external_id == external_id)).first()


def create_and_publish(
    session: Session, taxonomy: Taxonomy, drafts: Iterable[ItemDraft]
) -> list[Item]:
    """Create and publish several items in one transaction (all or nothing).

    An item whose ``external_id`` is already stored is not created again, so a
    retried import never publishes twice.
    """
    items = []
    for draft in drafts:
        existing = find_by_external_id(session, draft.external_id) if draft.external_id else None
        if existing is not None:
            items.append(existing)
            continue
        items.append(publish_item(session, create_item(session, taxonomy, draft)))
    return items
