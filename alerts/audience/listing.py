"""Journalists as staff look them up: a filtered list, and one journalist's whole record.

Plain queries over the store; the CLI (and anything else) renders what they return.
A filter value that names nothing known is refused before any query runs, so a typo
never reads as "nobody matches".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from alerts.core.models import (
    BounceEvent,
    Cadence,
    Delivery,
    Item,
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
    UnsubscribeEvent,
)
from alerts.core.taxonomy import Taxonomy, TaxonomyError

# How many countries or topics a one-line summary names before "+N".
SUMMARY_NAMES = 3


class BadFilter(ValueError):
    """A filter value that is not a known status, cadence, country or topic."""


@dataclass(frozen=True)
class JournalistFilter:
    """Values already checked; each set empty means "any". Within one set any value
    matches; across sets all must hold, and the subscription ones on one subscription.
    """

    statuses: frozenset[str] = frozenset()
    cadences: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()


def checked_filter(
    taxonomy: Taxonomy,
    statuses: Iterable[str] = (),
    cadences: Iterable[str] = (),
    countries: Iterable[str] = (),
    topics: Iterable[str] = (),
) -> JournalistFilter:
    """The filter, or BadFilter naming the unknown value and what is known."""
    return JournalistFilter(
        statuses=_known("status", statuses, [s.value for s in JournalistStatus]),
        cadences=_known("cadence", cadences, [c.value for c in Cadence]),
        countries=frozenset(_taxonomy(taxonomy.country_codes, countries)),
        topics=frozenset(_taxonomy(taxonomy.topic_codes, topics)),
    )


def _known(what: str, values: Iterable[str], known: Sequence[str]) -> frozenset[str]:
    chosen = {v.strip().lower() for v in values if v.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        raise BadFilter(f"unknown {what}: {', '.join(unknown)} (one of {', '.join(known)})")
    return frozenset(chosen)


def _taxonomy(check: Any, values: Iterable[str]) -> set[str]:
    try:
        result: set[str] = check(values)
    except TaxonomyError as exc:
        raise BadFilter(str(exc)) from exc
    return result


def _matching(wanted: JournalistFilter) -> Select[Any]:
    query = select(Journalist).where(Journalist.email.is_not(None))  # erased ones are no one
    if wanted.statuses:
        query = query.where(Journalist.status.in_(sorted(wanted.statuses)))
    conditions: list[ColumnElement[bool]] = []
    if wanted.cadences:
        conditions.append(Subscription.cadence.in_(sorted(wanted.cadences)))
    # A country (or topic) filter finds who would be sent an item about it: a
    # subscription naming it, or one that takes any country (or topic).
    if wanted.countries:
        conditions.append(
            or_(
                Subscription.all_countries,
                exists().where(
                    SubscriptionCountry.subscription_id == Subscription.id,
                    SubscriptionCountry.country.in_(sorted(wanted.countries)),
                ),
            )
        )
    if wanted.topics:
        conditions.append(
            or_(
                Subscription.all_topics,
                exists().where(
                    SubscriptionTopic.subscription_id == Subscription.id,
                    SubscriptionTopic.topic.in_(sorted(wanted.topics)),
                ),
            )
        )
    if conditions:
        query = query.where(
            exists().where(Subscription.journalist_id == Journalist.id, *conditions)
        )
    return query


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # how many match, of which ``rows`` holds the first ``limit``


def list_journalists(session: Session, wanted: JournalistFilter, limit: int) -> Page:
    """The first ``limit`` matching journalists (by address), and how many match in all."""
    query = _matching(wanted)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    people = session.scalars(
        query.options(selectinload(Journalist.subscriptions))
        .order_by(Journalist.email)
        .limit(limit)
    ).all()
    return Page([summary_of(person) for person in people], total)


def summary_of(person: Journalist) -> dict[str, Any]:
    """One journalist in a list: who, where their alerts go and what they cover."""
    subscriptions = person.subscriptions
    return {
        "email": person.email,
        "name": person.name,
        "outlet": person.outlet,
        "language": person.language,
        "status": person.status,
        "verified": person.verified_at is not None,
        "cadences": sorted({s.cadence for s in subscriptions}),
        "countries": _union(s.countries for s in subscriptions if not s.all_countries),
        "any_country": any(s.all_countries for s in subscriptions),
        "topics": _union(s.topics for s in subscriptions if not s.all_topics),
        "any_topic": any(s.all_topics for s in subscriptions),
        "subscriptions": len(subscriptions),
    }


def _union(sets: Iterable[list[str]]) -> list[str]:
    result: set[str] = set()
    for codes in sets:
        result.update(codes)
    return sorted(result)


def coverage(codes: list[str], anything: bool) -> str:
    """A short line for a table cell: "any", or the first few codes and "+N"."""
    if anything:
        return "any" if not codes else f"any; {coverage(codes, False)}"
    if not codes:
        return "—"
    shown = ", ".join(codes[:SUMMARY_NAMES])
    more = len(codes) - SUMMARY_NAMES
    return f"{shown} +{more}" if more > 0 else shown


def find_journalist(session: Session, address: str) -> Journalist | None:
    """``address`` already normalised as sign-up stores it."""
    return session.scalar(select(Journalist).where(Journalist.email == address))


def record_of(session: Session, person: Journalist, deliveries: int) -> dict[str, Any]:
    """Everything on record about one journalist, with their last ``deliveries`` deliveries."""
    suppression = session.get(Suppression, person.email) if person.email else None
    return summary_of(person) | {
        "id": person.id,
        "timezone": person.timezone,
        "subscriptions": [
            {
                "id": s.id,
                "cadence": s.cadence,
                "countries": [] if s.all_countries else s.countries,
                "topics": [] if s.all_topics else s.topics,
                "created_at": s.created_at,
            }
            for s in sorted(person.subscriptions, key=lambda s: s.id)
        ],
        "history": {
            "created_at": person.created_at,
            "confirmation_sent_at": person.confirmation_sent_at,
            "confirmed_at": person.confirmed_at,
            "unsubscribed_at": person.unsubscribed_at,
            "erased_at": person.erased_at,
            "verified_at": person.verified_at,
            "verified_by": person.verified_by,
        },
        "suppression": (
            {"reason": suppression.reason, "created_at": suppression.created_at}
            if suppression is not None
            else None
        ),
        "unsubscribe_events": [
            {"method": method, "created_at": at}
            for method, at in session.execute(
                select(UnsubscribeEvent.method, UnsubscribeEvent.created_at)
                .where(UnsubscribeEvent.journalist_id == person.id)
                .order_by(UnsubscribeEvent.created_at, UnsubscribeEvent.id)
            )
        ],
        "bounce_events": [
            {"kind": kind, "status": status, "detail": detail, "created_at": at}
            for kind, status, detail, at in session.execute(
                select(
                    BounceEvent.kind, BounceEvent.status, BounceEvent.detail, BounceEvent.created_at
                )
                .where(BounceEvent.journalist_id == person.id)
                .order_by(BounceEvent.created_at, BounceEvent.id)
            )
        ],
        "deliveries": last_deliveries(session, person.id, deliveries),
        "deliveries_total": int(
            session.scalar(select(func.count()).where(Delivery.journalist_id == person.id)) or 0
        ),
    }


def last_deliveries(session: Session, journalist_id: int, limit: int) -> list[dict[str, Any]]:
    """Newest first: which item, how it went and when."""
    rows = session.execute(
        select(Delivery, Item.title)
        .join(Item, Item.id == Delivery.item_id)
        .where(Delivery.journalist_id == journalist_id)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "item_id": delivery.item_id,
            "title": title,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "created_at": delivery.created_at,
            "sent_at": delivery.sent_at,
            "in_digest": delivery.digest_id is not None,
            "last_reply": delivery.last_reply,
        }
        for delivery, title in rows
    ]
