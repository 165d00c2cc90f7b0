"""Sending a claimed batch over the worker process's transport. No database access here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from alerts.delivery.outcome import Outcome, Transport, Verdict
from alerts.delivery.store import Claimed
from alerts.delivery.throttle import RelayThrottle
from alerts.mail.rendering import Recipient, RenderedItem, Sender, build_message

log = logging.getLogger(__name__)

# After this many dropped or refused connections in a row the relay is taken to
# be down: the rest of the batch is put back for later instead of hammering it.
MAX_CONSECUTIVE_CONNECTION_ERRORS = 3
NOT_ATTEMPTED_RELAY = Outcome(Verdict.RETRY, "not attempted: the relay is in trouble", untried=True)
NOT_ATTEMPTED_LEASE = Outcome(
    Verdict.RETRY, "not attempted: the batch's lease ran short", untried=True
)
RELAY_PAUSED = Outcome(Verdict.RETRY, "not attempted: the relay's breaker is open", untried=True)
NOT_ATTEMPTED_STOPPING = Outcome(
    Verdict.RETRY, "not attempted: the worker was stopping", untried=True, at_once=True
)


def send_batch(
    batch: Sequence[Claimed],
    rendered: Callable[[Claimed], RenderedItem],
    recipient_for: Callable[[Claimed], Recipient],
    sender: Sender,
    transport: Transport,
    stop_at: float | None = None,
    throttle: RelayThrottle | None = None,
    stopping: Callable[[], bool] | None = None,
) -> list[tuple[Claimed, Outcome, str]]:
    """Send each claimed delivery; returns every one's outcome, attempted or not.

    ``rendered`` gives the delivery's rendered item (by item, language and,
    for an email that names a time, the reader's time zone).

    ``stop_at`` (a time.monotonic() value) is when the claim's lease is nearly
    over: past it the rest is handed back untried, so no row is ever sent by a
    worker that no longer holds it.

    ``stopping`` says the process was asked to stop: the message on the wire is
    finished, the rest handed back untried, due at once for whoever runs next.
    """
    results: list[tuple[Claimed, Outcome, str]] = []
    connection_errors = 0
    for claimed in batch:
        item = rendered(claimed)
        message_id = sender.message_id(claimed.item_id, claimed.delivery_id)
        if connection_errors >= MAX_CONSECUTIVE_CONNECTION_ERRORS:
            results.append((claimed, NOT_ATTEMPTED_RELAY, message_id))
            continue
        if stop_at is not None and time.monotonic() >= stop_at:
            results.append((claimed, NOT_ATTEMPTED_LEASE, message_id))
            continue
        if stopping is not None and stopping():
            results.append((claimed, NOT_ATTEMPTED_STOPPING, message_id))
            continue
        try:
            recipient = recipient_for(claimed)
            message = build_message(item, recipient, sender, message_id)
            if throttle is not None:
                throttle.acquire()
            # The VERP return path names this delivery, so its bounce finds it.
            outcome = transport.send(
                recipient.return_path or sender.bounce_address, claimed.email, message
            )
        except Exception as exc:  # one bad message must not lose the batch's results
            log.exception("delivery error delivery_id=%s", claimed.delivery_id)
            # The SMTP transaction may be half-way: start the next one on a fresh connection.
            transport.close()
            outcome = Outcome(Verdict.FAILED, f"error: {type(exc).__name__}: {exc}"[:1000])
        connection_errors = connection_errors + 1 if outcome.relay_trouble else 0
        log.info(
            "delivery attempt delivery_id=%s item_id=%s journalist_id=%s attempt=%s "
            "verdict=%s reply=%r",
            claimed.delivery_id,
            claimed.item_id,
            claimed.journalist_id,
            claimed.attempts,
            outcome.verdict.value,
            outcome.reply,
        )
        results.append((claimed, outcome, message_id))
    return results
