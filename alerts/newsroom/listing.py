"""Lists of releases for the public: newest first, filtered, searched, paged.

Counts and pages are computed over visible items only (``visibility.listed``),
so neither a page size nor a "next" link can hint at an item under embargo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import ceil
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, func, or_, select
from sqlalchemy.orm import Session

from alerts.core.models import Item, ItemCountry, ItemTopic, ItemTranslation
from alerts.core.text_versions import TextVersion
from alerts.items.translations import versions_for
from alerts.newsroom.filters import NewsFilter
from alerts.newsroom.search import matching
from alerts.newsroom.visibility import listed

PAGE_SIZE = 20
FEED_SIZE = 50


@dataclass(frozen=True)
class ReleasePage:
    items: list[Item]
    number: int
    total: int  # visible items matching, over every page

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / PAGE_SIZE))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def past_end(self) -> bool:
        return self.number > self.pages


def _conditions(session: Session, news: NewsFilter) -> list[ColumnElement[bool]]:
    """Values of one filter are alternatives; different filters must all hold."""
    conditions = [listed()]
    if news.countries:
        conditions.append(_has_country(set(news.countries)))
    if news.regions:
        conditions.append(_has_country(news.region_countries()))
    if news.topics:
        conditions.append(
            exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic.in_(news.topics))
        )
    if news.kinds:
        conditions.append(Item.kind.in_(news.kinds))
    if news.languages:
        # Written in it, or translated into it: a release a reader can read in it.
        conditions.append(
            or_(
                func.lower(Item.language).in_(news.languages),
                exists().where(
                    ItemTranslation.item_id == Item.id,
                    func.lower(ItemTranslation.language).in_(news.languages),
                ),
            )
        )
    if news.searching:
        # A search with no words in it (only punctuation) finds nothing.
        conditions.append(matching(session, list(news.terms)) if news.terms else false())
    return conditions


def _has_country(codes: set[str]) -> ColumnElement[bool]:
    return exists().where(ItemCountry.item_id == Item.id, ItemCountry.country.in_(sorted(codes)))


def _newest_first(statement: Select[Any]) -> Select[Any]:
    return statement.order_by(Item.published_at.desc(), Item.id.desc())


def release_page(session: Session, news: NewsFilter, number: int) -> ReleasePage:
    conditions = _conditions(session, news)
    total = session.scalar(select(func.count()).select_from(Item).where(*conditions)) or 0
    page = ReleasePage([], number, total)
    if page.past_end:
        return page
    items = session.scalars(
        _newest_first(select(Item).where(*conditions))
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    ).all()
    return ReleasePage(list(items), number, total)


def feed_items(session: Session, news: NewsFilter) -> list[Item]:
    """The newest visible items for a feed: the latest ``FEED_SIZE``."""
    statement = _newest_first(select(Item).where(*_conditions(session, news)))
    return list(session.scalars(statement.limit(FEED_SIZE)).all())


def newest_since(session: Session, news: NewsFilter, since: datetime, count: int) -> list[Item]:
    """The newest ``count`` visible items of a filter published at or after ``since``."""
    statement = _newest_first(
        select(Item).where(*_conditions(session, news), Item.published_at >= since)
    )
    return list(session.scalars(statement.limit(count)).all())


def shown_versions(
    session: Session, items: list[Item], languages: tuple[str, ...]
) -> dict[int, TextVersion]:
    """The words each listed item is shown in, for a list filtered to ``languages``:
    its original when written in one of them, else its translation into the first of
    them it has one in, by code (the filter keeps its values sorted, so a list's
    address gives one answer whatever the order of its parameters). No filter: the
    originals."""
    versions: dict[int, TextVersion] = {}
    decided = {
        item.id
        for item in items
        if item.language.split("-")[0] in {lang.split("-")[0] for lang in languages}
    }
    for language in languages:
        left = [item for item in items if item.id not in decided]
        if not left:
            break
        found = versions_for(session, left, language)
        versions |= found
        decided |= found.keys()
    return versions
