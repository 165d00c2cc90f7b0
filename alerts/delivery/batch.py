"""Sending one batch of deliveries: claim → render → breaker → send → record.

The use case behind the ``send_batch`` task, as a plain function: it takes a
session factory and a transport (the worker's SMTP connection, or one in
memory), so it runs the same in a worker and in a test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alerts.core import metrics
from alerts.core.models import Item, utcnow
from alerts.delivery import breaker
from alerts.delivery import store as delivery
from alerts.delivery.outcome import Outcome, RetryPolicy, Transport, Verdict
from alerts.delivery.sending import MAX_CONSECUTIVE_CONNECTION_ERRORS, RELAY_PAUSED, send_batch
from alerts.delivery.throttle import RelayThrottle
from alerts.engagement import links as click_links
from alerts.mail.rendering import Recipient, RenderedItem, Sender, needs_zone

log = logging.getLogger(__name__)

Results = list[tuple[delivery.Claimed, Outcome, str]]


class Mail(Protocol):
    """What the batch needs to build its messages (the process's Runtime provides it)."""

    @property
    def sender(self) -> Sender: ...

    def rendered(self, item: Item, language: str = "en", zone: str = "UTC") -> RenderedItem: ...

    def recipient(
        self,
        delivery_id: int,
        journalist_id: int,
        email: str,
        name: str,
        in_reply_to: str | None = None,
        digest: str | None = None,
    ) -> Recipient: ...


@dataclass(frozen=True)
class BatchRules:
    lease: timedelta
    relay: str  # the breaker's row: the relay's label
    policy: RetryPolicy
    cooldown: float
    max_cooldown: float


def record_with_retries(
    sessions: sessionmaker[Session],
    results: Results,
    policy: RetryPolicy,
    not_before: datetime | None = None,
) -> dict[str, int]:
    """Write the outcomes; retried on a database hiccup (the statements are idempotent).

    Losing this write after the relay accepted the messages would send them again
    once the lease expires, so it is worth a few tries.
    """
    for attempt in range(4):
        try:
            with sessions() as session, session.begin():
                return delivery.record(session, results, utcnow(), policy, not_before)
        except DBAPIError as exc:
            # A lost connection may also come as the server's own verdict on it (a
            # session ended for idling in its transaction while this host was cut off
            # is an InternalError): any error that invalidated the connection is retried.
            if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                raise
            if attempt == 3:
                raise
            log.warning("recording outcomes failed, trying again", exc_info=True)
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def note_relay_health(
    sessions: sessionmaker[Session], rules: BatchRules, results: Results, failures_before: int
) -> datetime | None:
    """Update the relay's breaker; returns until when it is open (if it opened).

    A healthy batch on a healthy relay writes nothing: every worker shares the
    breaker's row, and locking it once per batch would serialise them. Never
    allowed to stop the outcomes from being recorded: a failure here is logged.
    """
    trouble = [o for _, o, _ in results if o.relay_trouble]
    if not trouble and failures_before == 0:
        return None
    try:
        with sessions() as session, session.begin():
            reopen = breaker.record(
                session,
                rules.relay,
                utcnow(),
                # Repeated trouble, or nothing but trouble: the relay, not a recipient.
                trouble=len(trouble) >= min(MAX_CONSECUTIVE_CONNECTION_ERRORS, len(results)),
                delivered=any(o.verdict is Verdict.SENT for _, o, _ in results),
                error=trouble[-1].reply if trouble else None,
                cooldown=rules.cooldown,
                max_cooldown=rules.max_cooldown,
            )
    except SQLAlchemyError:
        log.exception("could not update the relay breaker")
        return None
    if reopen is not None:
        log.warning("relay %s in trouble: breaker open until %s", rules.relay, reopen)
    return reopen


def send_deliveries(
    delivery_ids: list[int],
    sessions: sessionmaker[Session],
    transport: Transport,
    mail: Mail,
    rules: BatchRules,
    throttle: RelayThrottle | None = None,
    stopping: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Send what can be claimed of ``delivery_ids``; returns the count per outcome.

    ``stopping``: asked between messages; once true the rest is handed back (the
    process is being stopped), what was sent still recorded.
    """
    # Stop sending well before the lease ends, so nobody else owns a row we still send.
    stop_at = time.monotonic() + 0.8 * rules.lease.total_seconds()
    with sessions() as session, session.begin():
        claimed = delivery.claim(session, delivery_ids, utcnow(), rules.lease)
        items = session.scalars(select(Item).where(Item.id.in_({c.item_id for c in claimed})))
        by_id = {item.id: item for item in items}
        version = _versions(by_id)
        rendered = {
            key: mail.rendered(by_id[key[0]], key[1], key[2])
            for key in {version(c) for c in claimed}
        }
        for (item_id, _, _), item in rendered.items():
            # The click-through targets, as this email carries them (written once), under
            # the render's own key: a translation's apart from the original's.
            click_links.remember(session, item_id, item.language, item.links)
        originals = delivery.original_message_ids(session, list(by_id.values()), claimed)
        published_at = {i.id: i.published_at for i in by_id.values() if i.published_at}
        paused_until, relay_failures = breaker.state(session, rules.relay, utcnow())
    # The session is closed: no connection is held while we talk SMTP.
    if not claimed:
        return {}
    if paused_until is not None:
        # The relay is resting for this host: hand the rows back untried. Not held
        # until this host's pause ends: the breaker is per host, and another host that
        # reaches the relay may send them at the next retry.
        untried = [
            (c, RELAY_PAUSED, mail.sender.message_id(c.item_id, c.delivery_id)) for c in claimed
        ]
        return record_with_retries(sessions, untried, rules.policy)
    results = send_batch(
        claimed,
        lambda c: rendered[version(c)],
        lambda c: mail.recipient(
            c.delivery_id,
            c.journalist_id,
            c.email,
            c.name,
            originals.get((c.item_id, c.journalist_id)),
        ),
        mail.sender,
        transport,
        stop_at,
        throttle,
        stopping,
    )
    reopen = note_relay_health(sessions, rules, results, relay_failures)
    counts = record_with_retries(sessions, results, rules.policy, reopen)
    metrics.record_outcomes(results, published_at, utcnow())
    log.info("send-batch size=%d claimed=%d outcome=%s", len(delivery_ids), len(claimed), counts)
    return counts


def _versions(by_id: dict[int, Item]) -> Callable[[delivery.Claimed], tuple[int, str, str]]:
    """Rendered once per item and language (the footer speaks the journalist's), and
    per time zone for an email that names a time (an embargo's)."""
    zoned = {item.id for item in by_id.values() if needs_zone(item)}

    def version(c: delivery.Claimed) -> tuple[int, str, str]:
        return (c.item_id, c.language, c.timezone if c.item_id in zoned else "UTC")

    return version
