"""Sending a claimed batch over one SMTP connection. No database access here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from alerts.delivery import Claimed
from alerts.mailer import Outcome, SmtpTransport, Verdict
from alerts.rendering import Recipient, RenderedItem, Sender, build_message

log = logging.getLogger(__name__)

# After this many dropped or refused connections in a row the relay is taken to
# be down: the rest of the batch is put back for later instead of hammering it.
MAX_CONSECUTIVE_CONNECTION_ERRORS = 3


def send_batch(
    batch: Sequence[Claimed],
    rendered: dict[tuple[int, str], RenderedItem],
    recipient_for: Callable[[Claimed], Recipient],
    sender: Sender,
    transport: SmtpTransport,
) -> list[tuple[Claimed, Outcome, str]]:
    results: list[tuple[Claimed, Outcome, str]] = []
    connection_errors = 0
    envelope_from = sender.bounce_address
    for claimed in batch:
        item = rendered[(claimed.item_id, claimed.language)]
        message_id = sender.message_id(claimed.item_id, claimed.delivery_id)
        if connection_errors >= MAX_CONSECUTIVE_CONNECTION_ERRORS:
            results.append(
                (
                    claimed,
                    Outcome(Verdict.RETRY, "connection: relay unreachable, not attempted"),
                    message_id,
                )
            )
            continue
        try:
            message = build_message(item, recipient_for(claimed), sender)
            outcome = transport.send(envelope_from, claimed.email, message)
        except Exception as exc:  # one bad message must not lose the batch's results
            log.exception("delivery error delivery_id=%s", claimed.delivery_id)
            outcome = Outcome(Verdict.FAILED, f"error: {type(exc).__name__}: {exc}"[:1000])
        connection_errors = connection_errors + 1 if outcome.connection_lost else 0
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
