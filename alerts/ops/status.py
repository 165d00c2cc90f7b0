"""What operators look at: queues, workers, deliveries over time, items' progress.

Plain functions: ``snapshot`` reads the database; the broker parts take the
Celery app. The CLI, the /ops page and /metrics all show the same numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kombu.exceptions import ChannelError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    ItemStatus,
    utcnow,
)
from alerts.delivery.progress import counts_for_item
from alerts.ops import duties
from alerts.worker import broker
from alerts.worker.app import QUEUES, AlertsCelery


def delivery_counts(session: Session, since: datetime) -> dict[str, int]:
    """Deliveries by status among those created since ``since``."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.created_at >= since)
        .group_by(Delivery.status)
    ).all()
    return {status.value: 0 for status in DeliveryStatus} | {s: n for s, n in rows}


def digest_counts(session: Session, since: datetime) -> dict[str, int]:
    """Digests by status among those planned since ``since`` (``empty``: nothing to send)."""
    rows = session.execute(
        select(Digest.status, func.count())
        .where(Digest.created_at >= since)
        .group_by(Digest.status)
    ).all()
    return {status.value: 0 for status in DigestStatus} | {s: n for s, n in rows}


def oldest_pending_age(session: Session, now: datetime) -> float | None:
    """Seconds the oldest due, still unsent delivery has waited (None if none wait)."""
    oldest = session.scalar(
        select(func.min(Delivery.created_at)).where(
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING])
        )
    )
    return max((now - oldest).total_seconds(), 0.0) if oldest else None


def recent_items(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    items = session.scalars(
        select(Item)
        .where(Item.status.in_([ItemStatus.PUBLISHED, ItemStatus.WITHDRAWN]))
        .order_by(Item.published_at.desc(), Item.id.desc())
        .limit(limit)
    ).all()
    result = []
    for item in items:
        counts = counts_for_item(session, item.id)
        last_sent = session.scalar(
            select(func.max(Delivery.sent_at)).where(Delivery.item_id == item.id)
        )
        total = sum(counts.values())
        result.append(
            {
                "id": item.id,
                "title": item.title,
                "status": item.status,
                "published_at": item.published_at.isoformat() if item.published_at else None,
                "total": total,
                "sent": counts.get(DeliveryStatus.SENT, 0),
                "pending": counts.get(DeliveryStatus.PENDING, 0)
                + counts.get(DeliveryStatus.SENDING, 0),
                "failed": counts.get(DeliveryStatus.FAILED, 0),
                "cancelled": counts.get(DeliveryStatus.CANCELLED, 0),
                # Publish to last accepted send: how long the whole item took to go out.
                "publish_to_last_send_seconds": (
                    round((last_sent - item.published_at).total_seconds(), 3)
                    if last_sent and item.published_at
                    else None
                ),
            }
        )
    return result


def database_part(session: Session, now: datetime) -> dict[str, Any]:
    hour = delivery_counts(session, now - timedelta(hours=1))
    day = delivery_counts(session, now - timedelta(days=1))
    finished = day["sent"] + day["failed"]
    return {
        "deliveries_last_hour": hour,
        "deliveries_last_day": day,
        "failure_rate_last_day": round(day["failed"] / finished, 4) if finished else 0.0,
        "oldest_pending_seconds": oldest_pending_age(session, now),
        "digests_last_day": digest_counts(session, now - timedelta(days=1)),
        "recent_items": recent_items(session),
    }


def duties_part(app: AlertsCelery) -> dict[str, Any]:
    """Each periodic duty's heartbeat: last success, interval, overdue (3 intervals late)."""
    with app.runtime.sessions() as session:
        return {"duties": duties.duties_part(session, app.runtime.settings, utcnow())}


def queue_depths(app: AlertsCelery) -> dict[str, int]:
    """Messages waiting in each queue (a passive declare asks the broker, any broker).

    RabbitMQ counts the messages ready to deliver, not those a worker holds
    unacknowledged (a task running, or prefetched).
    """
    depths = {}
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in QUEUES:
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except ChannelError:  # not found: a queue nobody declared yet holds nothing
                depths[name] = 0
    return depths


def broker_part(app: AlertsCelery, inspect_timeout: float = 1.0) -> dict[str, Any]:
    part: dict[str, Any] = {"broker": {"url": _redact(app.conf.broker_url), "reachable": False}}
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        part["broker"]["reachable"] = True
        part["queues"] = queue_depths(app)
    except Exception as exc:  # the broker being down is what this reports
        part["broker"]["error"] = f"{type(exc).__name__}: {exc}"[:300]
        part["queues"] = {}
        part["workers"] = None
        return part
    part["workers"] = workers(app, inspect_timeout)
    return part


def workers(app: AlertsCelery, timeout: float) -> dict[str, list[str]] | None:
    """Workers online and the queues each consumes; None where the broker cannot tell.

    Inspection travels by broadcast, which Kombu's SQLAlchemy transport (the
    embedded default) does not carry between processes.
    """
    if not broker.carries_broadcast(str(app.conf.broker_url)):
        return None
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return {name: sorted(q["name"] for q in queues) for name, queues in replies.items()}


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
