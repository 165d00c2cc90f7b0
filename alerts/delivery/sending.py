"""Sending a claimed batch over the worker process's transport. No database access here."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from alerts.delivery.outcome import Outcome, Pipeline, Pipelining, Transport, Verdict
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


class Lockstep:
    """A transport's ``send`` as a pipeline: each message answered before the next."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._settled: list[tuple[int, Outcome]] = []

    def send(self, key: int, from_addr: str, to_addr: str, message: bytes) -> None:
        try:
            outcome = self.transport.send(from_addr, to_addr, message)
        except Exception:
            # The SMTP transaction may be half-way: the next starts on a fresh connection.
            self.transport.close()
            raise
        self._settled.append((key, outcome))

    def flush(self) -> None:
        pass

    def take(self) -> list[tuple[int, Outcome]]:
        settled, self._settled = self._settled, []
        return settled


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

    Over a pipelining transport a message's envelope leaves with the previous
    message's content, before that one's reply: every check above is made for a
    message before anything of it is written, and one whose outcome is not known
    yet (in progress) is finished, never abandoned.
    """
    results: list[tuple[Claimed, Outcome, str]] = []
    connection_errors = 0
    pipe: Pipeline = (
        transport.pipeline() if isinstance(transport, Pipelining) else Lockstep(transport)
    )
    message_ids: dict[int, str] = {}
    built: dict[int, tuple[str, bytes]] = {}  # return path and message, kept for a retry
    queue = deque(range(len(batch)))

    def note(key: int, outcome: Outcome) -> None:
        nonlocal connection_errors
        claimed = batch[key]
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
        results.append((claimed, outcome, message_ids[key]))

    def settle() -> None:
        for key, outcome in pipe.take():
            if outcome.again:
                # Nothing of it reached the relay: it goes next, through every check again.
                queue.appendleft(key)
            else:
                note(key, outcome)

    while queue:
        key = queue.popleft()
        claimed = batch[key]
        item = rendered(claimed)
        message_id = message_ids[key] = sender.message_id(claimed.item_id, claimed.delivery_id)
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
            if key not in built:
                recipient = recipient_for(claimed)
                message = build_message(item, recipient, sender, message_id)
                # The VERP return path names this delivery, so its bounce finds it.
                built[key] = (recipient.return_path or sender.bounce_address, message)
            return_path, message = built[key]
            if throttle is not None:
                # The wait is not spent with the previous message's content held back.
                pipe.flush()
                settle()
                throttle.acquire()
            pipe.send(key, return_path, claimed.email, message)
        except Exception as exc:  # one bad message must not lose the batch's results
            log.exception("delivery error delivery_id=%s", claimed.delivery_id)
            note(key, Outcome(Verdict.FAILED, f"error: {type(exc).__name__}: {exc}"[:1000]))
        settle()
    pipe.flush()
    settle()
    return results
