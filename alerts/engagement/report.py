"""An item's report for staff: what it reached, who unsubscribed after it, what was clicked.

Human and machine clicks are apart (engagement.machines). A count per outlet is
shown only when at least ``OUTLET_MINIMUM`` journalists of that outlet clicked,
so a small outlet's one reader is never singled out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import (
    ClickCount,
    ClickEvent,
    ClickLink,
    Delivery,
    DeliveryStatus,
    Item,
    ItemStatus,
    Journalist,
    UnsubscribeEvent,
)
from alerts.delivery.item_report import progress_of
from alerts.engagement.machines import HUMAN, MACHINE
from alerts.engagement.recording import CHART_HOURS, OUTLET_MINIMUM, PERSON

COMPARED = 10

# An unsubscribe counts against an alert when it came this soon after it arrived.
UNSUBSCRIBE_WINDOW = timedelta(hours=48)


def _counters(
    session: Session, item_ids: Sequence[int]
) -> dict[int, dict[tuple[str, str, str], int]]:
    found: dict[int, dict[tuple[str, str, str], int]] = {i: {} for i in item_ids}
    rows = session.execute(
        select(
            ClickCount.item_id,
            ClickCount.kind,
            ClickCount.dimension,
            ClickCount.value,
            ClickCount.clicks,
        ).where(ClickCount.item_id.in_(item_ids))
    )
    for item_id, kind, dimension, value, clicks in rows:
        found[item_id][(kind, dimension, value)] = clicks
    return found


def unsubscribed_after(session: Session, item_ids: Sequence[int]) -> dict[int, int]:
    """Per item: journalists who unsubscribed within the window after it reached them."""
    found = {i: 0 for i in item_ids}
    pairs = session.execute(
        select(
            Delivery.item_id, Delivery.journalist_id, Delivery.sent_at, UnsubscribeEvent.created_at
        )
        .join(UnsubscribeEvent, UnsubscribeEvent.journalist_id == Delivery.journalist_id)
        .where(Delivery.item_id.in_(item_ids), Delivery.status == DeliveryStatus.SENT)
    ).all()
    seen: set[tuple[int, int]] = set()
    for item_id, journalist_id, sent_at, left_at in pairs:
        if sent_at is None or (item_id, journalist_id) in seen:
            continue
        if sent_at <= left_at <= sent_at + UNSUBSCRIBE_WINDOW:
            seen.add((item_id, journalist_id))
            found[item_id] += 1
    return found


def _by(counts: dict[tuple[str, str, str], int], dimension: str) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for (kind, dim, value), clicks in counts.items():
        if dim == dimension and clicks > 0:
            found.setdefault(value, {HUMAN: 0, MACHINE: 0})[kind] = clicks
    return found


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summaries(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The comparison table's row per item: sent, unique human clicks, rate, unsubscribes."""
    progress = progress_of(session, item_ids)
    counters = _counters(session, item_ids)
    left = unsubscribed_after(session, item_ids)
    found = {}
    for item_id in item_ids:
        sent = progress[item_id]["sent"]
        unique = counters[item_id].get((HUMAN, PERSON, ""), 0)
        found[item_id] = {
            "sent": sent,
            "unique_human": unique,
            "click_through_rate": _rate(unique, sent),
            "unsubscribed": left[item_id],
        }
    return found


def item_report(session: Session, item: Item, opens_tracked: bool = False) -> dict[str, Any]:
    progress = progress_of(session, [item.id])[item.id]
    counts = _counters(session, [item.id])[item.id]
    links = session.execute(
        select(ClickLink.number, ClickLink.url)
        .where(ClickLink.item_id == item.id)
        .order_by(ClickLink.language, ClickLink.number)
    ).all()
    targets: dict[int, str] = {}
    for number, url in links:
        targets.setdefault(number, url)
    per_link = _by(counts, "link")
    by_link = [
        {
            "number": number,
            "url": url,
            "human": per_link.get(str(number), {}).get(HUMAN, 0),
            "machine": per_link.get(str(number), {}).get(MACHINE, 0),
        }
        for number, url in sorted(targets.items())
    ]
    unique = counts.get((HUMAN, PERSON, ""), 0)

    def listed(dimension: str, minimum: int = 1) -> list[dict[str, Any]]:
        rows = [
            {"value": value, "human": c[HUMAN], "machine": c[MACHINE]}
            for value, c in _by(counts, dimension).items()
            if c[HUMAN] >= minimum
        ]
        return sorted(rows, key=lambda r: (-r["human"], r["value"]))

    report: dict[str, Any] = {
        "item_id": item.id,
        "title": item.title,
        "sent": progress["sent"],
        "failed": progress["failed"],
        "bounced": progress["bounced"],
        "unsubscribed": unsubscribed_after(session, [item.id])[item.id],
        "clicks": {
            "human": counts.get((HUMAN, "all", ""), 0),
            "machine": counts.get((MACHINE, "all", ""), 0),
            "unique_human": unique,
            "by_link": by_link,
        },
        "click_through_rate": _rate(unique, progress["sent"]),
        "by_country": listed("country"),
        "by_topic": listed("topic"),
        "by_outlet": listed("outlet", OUTLET_MINIMUM),
        "timeline": timeline(session, item, counts),
    }
    if opens_tracked:
        report["opens"] = {
            "opened": counts.get(("open", PERSON, ""), 0),
            "reliable": False,
            "note": "Mail apps and privacy proxies fetch images themselves: opens are unreliable.",
        }
    return report


def timeline(
    session: Session, item: Item, counts: dict[tuple[str, str, str], int]
) -> list[dict[str, int]]:
    """Deliveries and human clicks per hour since publication, over the first 48 hours."""
    hours = [{"hour": h, "deliveries": 0, "clicks": 0} for h in range(CHART_HOURS)]
    start = item.published_at
    if start is not None:
        sent = session.scalars(
            select(Delivery.sent_at).where(
                Delivery.item_id == item.id,
                Delivery.status == DeliveryStatus.SENT,
                Delivery.sent_at < start + timedelta(hours=CHART_HOURS),
            )
        )
        for when in sent:
            if when is not None and when >= start:
                hours[int((when - start).total_seconds() // 3600)]["deliveries"] += 1
    for value, c in _by(counts, "hour").items():
        if value.isdigit() and int(value) < CHART_HOURS:
            hours[int(value)]["clicks"] = c[HUMAN]
    return hours


def who_clicked(session: Session, item_id: int) -> list[dict[str, Any]]:
    """Individual mode: who clicked which link, for staff (empty in aggregate mode)."""
    rows = session.execute(
        select(
            ClickEvent.number,
            ClickEvent.kind,
            ClickEvent.created_at,
            Journalist.name,
            Journalist.outlet,
        )
        .join(Journalist, Journalist.id == ClickEvent.journalist_id)
        .where(ClickEvent.item_id == item_id)
        .order_by(ClickEvent.id)
    ).all()
    return [
        {"link": number, "kind": kind, "at": at.isoformat(), "name": name, "outlet": outlet}
        for number, kind, at, name, outlet in rows
    ]


def comparison(session: Session) -> list[dict[str, Any]]:
    """The last published items side by side: sent, click-through, unsubscribes."""
    items = session.execute(
        select(Item.id, Item.title)
        .where(Item.status.in_([ItemStatus.PUBLISHED, ItemStatus.EMBARGOED, ItemStatus.WITHDRAWN]))
        .order_by(Item.published_at.desc(), Item.id.desc())
        .limit(COMPARED)
    ).all()
    found = summaries(session, [i for i, _ in items])
    return [{"id": i, "title": title} | found[i] for i, title in items]
