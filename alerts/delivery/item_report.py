"""How far items went out, for staff listings: deliveries by outcome, bounces, reach.

Bounces and complaints arrive after the relay accepted a message, so a delivery
counted ``sent`` may also be counted ``bounced``: the two answer different questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alerts.core.models import BounceEvent, BounceKind, Delivery, DeliveryStatus, FanOut, Item
from alerts.delivery.matching import reach
from alerts.delivery.progress import counts_for_items


def progress_of(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per item: total, sent, failed, pending (sending included), cancelled, bounced, complaints.

    Every id asked for has an entry, zeros where nothing was created yet.
    """
    counts = counts_for_items(session, item_ids)
    bounced = _bounced(session, item_ids)
    result = {}
    for item_id in item_ids:
        by_status = counts.get(item_id, {})
        events = bounced.get(item_id, {})
        result[item_id] = {
            "total": sum(by_status.values()),
            "sent": by_status.get(DeliveryStatus.SENT, 0),
            "failed": by_status.get(DeliveryStatus.FAILED, 0),
            "pending": by_status.get(DeliveryStatus.PENDING, 0)
            + by_status.get(DeliveryStatus.SENDING, 0),
            "cancelled": by_status.get(DeliveryStatus.CANCELLED, 0),
            "bounced": events.get("bounced", 0),
            "complaints": events.get("complaints", 0),
        }
    return result


def _bounced(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per item, deliveries (not reports) bounced, hard or soft, and complained of.

    Deliveries are counted once each: a delay notice and then the failure about one
    alert are one bounced delivery, not two.
    """
    kind = case((BounceEvent.kind == BounceKind.COMPLAINT, "complaints"), else_="bounced").label(
        "kind"
    )
    found: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(Delivery.item_id, kind, func.count(func.distinct(Delivery.id)))
        .join(BounceEvent, BounceEvent.delivery_id == Delivery.id)
        .where(Delivery.item_id.in_(item_ids))
        .group_by(Delivery.item_id, kind)
    )
    for item_id, what, count in rows:
        found.setdefault(item_id, {})[str(what)] = int(count)
    return found


def reach_of(session: Session, item: Item) -> dict[str, Any]:
    """Who it reaches: active journalists whose immediate subscriptions match it now, the
    deliveries created for it (digests' included) and what the fan-out recorded, if it ran.
    """
    fan_out = session.get(FanOut, item.id)
    return {
        "matched": reach(session, item.id, item.countries, item.topics)["total"],
        "deliveries": int(
            session.scalar(select(func.count()).where(Delivery.item_id == item.id)) or 0
        ),
        "fanned_out_at": fan_out.first_run_at if fan_out is not None else None,
    }
