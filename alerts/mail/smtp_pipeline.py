"""Messages back to back on one SMTP connection, one round trip each (RFC 2920).

RFC 2920 §3.1 lets the transfer of message content be the first command of a
group, and DATA end one: so message N's content, its final dot, and message
N+1's MAIL, RCPT and DATA go as one write, and the replies come back as N's
final reply, then N+1's three. Without it, each message waits for its final
reply before the next envelope leaves: two round trips a message.

What each reply means is unchanged (``SmtpTransport``): N is sent only on a 2xx
to its own end of data; a connection lost once any of N's content was written
leaves N in doubt, a retry, as in lockstep. N+1's envelope, written behind N, is
never followed by its content until its DATA has its 354: if the connection
ends before that (the relay closed after N's reply, or lost N), nothing of N+1
was handed over, and it comes back as ``AGAIN`` for the batch to try anew.
"""

from __future__ import annotations

from alerts.delivery.outcome import AGAIN, Outcome, Verdict
from alerts.mail.smtp import SmtpTransport, content, envelope


class SmtpPipeline:
    """One batch's messages over the transport's connection; outcomes as they are known.

    ``send`` hands over a message and ``take`` returns the outcomes settled so
    far, keyed as given: a message's outcome may come with the next one's send
    (or with ``flush``, which finishes the one in progress). Nothing is left
    waiting between batches: the caller flushes before it is done.
    """

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        # A message whose DATA the relay took (354), its content not yet written.
        self._waiting: tuple[int, bytes] | None = None
        self._settled: list[tuple[int, Outcome]] = []

    def take(self) -> list[tuple[int, Outcome]]:
        settled, self._settled = self._settled, []
        return settled

    def flush(self) -> None:
        """Finish the message in progress: its content, and its final reply awaited."""
        if self._waiting is not None:
            key, payload = self._waiting
            self._waiting = None
            self._finish(key, payload)

    def _finish(self, key: int, payload: bytes, then: bytes = b"") -> None:
        try:
            outcome = self.transport.finish(payload, then)
        except Exception as exc:
            # Neither a reply nor a lost connection (the transport dropped it): the
            # message fails, as any error while sending one does in a batch.
            outcome = Outcome(Verdict.FAILED, f"error: {type(exc).__name__}: {exc}"[:1000])
        self._settled.append((key, outcome))

    def send(self, key: int, from_addr: str, to_addr: str, message: bytes) -> None:
        t = self.transport
        # Both raise (an address without SMTPUTF8) before anything is written, the
        # message in progress untouched.
        head = envelope(from_addr, to_addr)
        payload = content(message)
        waiting = self._waiting
        if waiting is None or not t.may_pipeline():
            # The first of a run, or the connection's last message done: on its own.
            self.flush()
            outcome = t.open(from_addr, to_addr)
            if outcome is not None:
                self._settled.append((key, outcome))
            elif t.pipelining:
                self._waiting = (key, payload)
            else:
                self._finish(key, payload)
            return
        self._waiting = None
        t.count_pipelined()
        self._finish(waiting[0], waiting[1], then=head)
        if not t.connected:
            # Lost with N's reply, or the relay said 421 there: N+1's envelope unread.
            self._settled.append((key, AGAIN))
            return
        outcome, stale = t.envelope_replies(reused=True)
        if stale:
            # The relay closed after N's reply (a 421 or the end of the connection
            # at MAIL): N+1 handed nothing over.
            t.drop()
            self._settled.append((key, AGAIN))
        elif outcome is not None:
            self._settled.append((key, outcome))
        else:
            self._waiting = (key, payload)
