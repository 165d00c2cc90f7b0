"""Items as staff look them up: a filtered list (newest first) and one item's fields.

A filter value that names nothing known is refused before any query runs, so a
typo never reads as "no such items". How far an item went out (deliveries,
bounces, reach) is the delivery package's to count: ``delivery.item_report``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from alerts.core.models import NOTICE_KINDS, Item, ItemCountry, ItemStatus, ItemTopic
from alerts.core.taxonomy import Taxonomy, TaxonomyError
from alerts.items.drafts import ITEM_KINDS


class BadFilter(ValueError):
    """A filter value that is not a known status, kind, country or topic."""


@dataclass(frozen=True)
class ItemFilter:
    """Values already checked; each set empty means "any". Within one set any value
    matches; across sets all must hold.
    """

    statuses: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()


def checked_filter(
    taxonomy: Taxonomy,
    statuses: Iterable[str] = (),
    kinds: Iterable[str] = (),
    countries: Iterable[str] = (),
    topics: Iterable[str] = (),
) -> ItemFilter:
    """The filter, or BadFilter naming the unknown value and what is known."""
    try:
        # A region finds the items about any of its countries.
        country_codes = taxonomy.country_codes(countries)
        topic_codes = taxonomy.topic_codes(topics)
    except TaxonomyError as exc:
        raise BadFilter(str(exc)) from exc
    return ItemFilter(
        statuses=_known("status", statuses, [s.value for s in ItemStatus]),
        # The notices the system writes about embargoes are items too.
        kinds=_known("kind", kinds, [*ITEM_KINDS, *NOTICE_KINDS]),
        countries=frozenset(country_codes),
        topics=frozenset(topic_codes),
    )


def _known(what: str, values: Iterable[str], known: Sequence[str]) -> frozenset[str]:
    chosen = {v.strip().lower() for v in values if v.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        raise BadFilter(f"unknown {what}: {', '.join(unknown)} (one of {', '.join(known)})")
    return frozenset(chosen)


def _matching(wanted: ItemFilter) -> Select[Any]:
    query = select(Item)
    if wanted.statuses:
        query = query.where(Item.status.in_(sorted(wanted.statuses)))
    if wanted.kinds:
        query = query.where(Item.kind.in_(sorted(wanted.kinds)))
    if wanted.countries:
        query = query.where(
            exists().where(
                ItemCountry.item_id == Item.id, ItemCountry.country.in_(sorted(wanted.countries))
            )
        )
    if wanted.topics:
        query = query.where(
            exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic.in_(sorted(wanted.topics)))
        )
    return query


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # how many match, of which ``rows`` holds the first ``limit``


def list_items(session: Session, wanted: ItemFilter, limit: int) -> Page:
    """The newest ``limit`` matching items, and how many match in all."""
    query = _matching(wanted)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    items = session.scalars(query.order_by(Item.id.desc()).limit(limit)).all()
    return Page([fields_of(item) for item in items], total)


def fields_of(item: Item) -> dict[str, Any]:
    """The item as staff read it (the body aside: it can be pages long)."""
    return {
        "id": item.id,
        "status": item.status,
        "kind": item.kind,
        "title": item.title,
        "language": item.language,
        "countries": item.countries,
        "topics": item.topics,
        "url": item.url,
        "external_id": item.external_id,
        "corrects_id": item.corrects_id,
        "created_at": item.created_at,
        "publish_at": item.publish_at,
        "embargo_until": item.embargo_until,
        "published_at": item.published_at,
        "import_problem": item.import_problem,
    }
