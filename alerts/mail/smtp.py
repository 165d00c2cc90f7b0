"""SMTP transport: one connection reused across batches. What a reply means is delivery.outcome.

``SmtpPipeline`` (at the end) sends a batch's messages back to back on it, one round
trip each (RFC 2920): in this module because it is the same adapter, and the domain
may name only this one (tests/test_layout.py)."""

from __future__ import annotations

import smtplib
import ssl
import time
from types import TracebackType

from alerts.core.settings import SmtpTarget
from alerts.delivery.outcome import AGAIN, Outcome, Stage, Verdict, classify

Reply = tuple[int, bytes]


def quoteaddr(address: str) -> str:
    return f"<{address}>"


def dot_stuffed(message: bytes) -> bytes:
    """A dot doubled at the start of every line (RFC 5321 §4.5.2).

    What smtplib's data() does with a multi-line regular expression, which
    costs more than building the message; bytes.replace does it in C.
    """
    stuffed = message.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def content(message: bytes) -> bytes:
    """The message as it goes after DATA's 354: dot-stuffed and ended by a lone dot."""
    body = dot_stuffed(message)
    return body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n")


def envelope(from_addr: str, to_addr: str) -> bytes:
    """MAIL, RCPT and DATA as one write (RFC 2920: DATA ends a group).

    Raises UnicodeEncodeError for an address SMTP without SMTPUTF8 cannot carry,
    before anything is written.
    """
    return b"MAIL FROM:%s\r\nRCPT TO:%s\r\nDATA\r\n" % (
        quoteaddr(from_addr).encode("ascii"),
        quoteaddr(to_addr).encode("ascii"),
    )


def _connection_trouble(exc: BaseException) -> Outcome:
    reply = f"connection: {type(exc).__name__}: {exc}"[:1000]
    return Outcome(Verdict.RETRY, reply, relay_trouble=True)


class SmtpTransport:
    """A connection to the relay, opened lazily, reused, and reopened when needed.

    A worker process keeps one across batches (connecting costs more than a
    message). After ``max_messages`` on one connection it starts a fresh one, as
    many relays limit messages per session; one idle for ``max_idle`` seconds is
    replaced before use; a connection the relay closed while idle is noticed at
    MAIL FROM, before any message is handed over, so the transaction is simply
    run again on a new connection.
    """

    def __init__(
        self,
        target: SmtpTarget,
        timeout: float,
        local_hostname: str | None = None,
        max_messages: int = 1000,
        max_idle: float = 60.0,
    ):
        self.target = target
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.max_messages = max_messages
        self.max_idle = max_idle
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0  # time.monotonic() of the last transaction
        self._sent_here = 0  # transactions on the current connection
        self.connections = 0  # opened in this transport's life (for tests and metrics)

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        smtp: smtplib.SMTP
        if t.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                t.host,
                t.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(
                t.host, t.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        try:
            if t.scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
            if t.username:
                smtp.login(t.username, t.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, from_addr: str, to_addr: str, message: bytes) -> Outcome:
        """One transaction; the relay's final reply (with its queue id) is kept."""
        outcome = self.open(from_addr, to_addr)
        if outcome is None:
            outcome = self.finish(content(message))
        return outcome

    def pipeline(self) -> SmtpPipeline:
        """Messages back to back, one round trip each where the relay allows it."""
        return SmtpPipeline(self)

    @property
    def pipelining(self) -> bool:
        """Whether the open connection's relay offered PIPELINING (RFC 2920)."""
        smtp = self._smtp
        return smtp is not None and bool(smtp.does_esmtp) and smtp.has_extn("pipelining")

    def open(self, from_addr: str, to_addr: str) -> Outcome | None:
        """A transaction up to DATA's 354: None then, else the refusal's outcome.

        After None, the relay waits for the message: ``finish`` must follow.
        """
        if self._smtp is not None and self._sent_here >= self.max_messages:
            self.close()
        elif self._smtp is not None and time.monotonic() - self._last_used > self.max_idle:
            # Between bursts a connection may have died silently (a NAT or firewall
            # forgot it): finding out would cost a full timeout on the next alert.
            self._drop()
        reused = self._smtp is not None
        outcome, stale = self._envelope(from_addr, to_addr, reused)
        if stale:
            # The relay had closed our idle connection; nothing was handed over.
            self._drop()
            outcome, _ = self._envelope(from_addr, to_addr, reused=False)
        self._last_used = time.monotonic()
        return outcome

    def _envelope(self, from_addr: str, to_addr: str, reused: bool) -> tuple[Outcome | None, bool]:
        """The envelope's outcome (None: DATA took), and whether a reused connection
        failed before it: nothing was handed over, so the caller may run it again."""
        stage = Stage.CONNECT
        try:
            if self._smtp is None:
                self._smtp = self._connect()
                self._sent_here = 0
                self.connections += 1
            smtp = self._smtp
            smtp.ehlo_or_helo_if_needed()
            stage = Stage.MAIL
            self._sent_here += 1
            if self.pipelining:
                # RFC 2920: the envelope and DATA in one write, three replies.
                smtp.send(envelope(from_addr, to_addr))
                return self.envelope_replies(reused)
            mail = smtp.mail(from_addr)
            rcpt = smtp.rcpt(to_addr) if mail[0] == 250 else (503, b"")
            data = smtp.docmd("DATA") if rcpt[0] in (250, 251) else (503, b"")
            return self._refusal(mail, rcpt, data, reused)
        except smtplib.SMTPResponseException as exc:
            # e.g. 421 at connect, 535 at AUTH: the relay closes on us or refuses us.
            self._drop()
            return classify(exc.smtp_code, exc.smtp_error, stage), reused
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return _connection_trouble(exc), reused
        except BaseException:
            # Interrupted mid-conversation: replies may be left unread, and the next
            # transaction must not take them for its own.
            self._drop()
            raise

    def envelope_replies(self, reused: bool) -> tuple[Outcome | None, bool]:
        """Read the replies to a pipelined MAIL, RCPT and DATA; as ``_envelope``."""
        smtp = self._smtp
        assert smtp is not None
        try:
            mail = smtp.getreply()
            rcpt = smtp.getreply()
            data = smtp.getreply()
            return self._refusal(mail, rcpt, data, reused)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return _connection_trouble(exc), reused
        except BaseException:
            self._drop()
            raise

    def _refusal(
        self, mail: Reply, rcpt: Reply, data: Reply, reused: bool
    ) -> tuple[Outcome | None, bool]:
        """What the envelope's replies mean; the connection left ready for the next one."""
        smtp = self._smtp
        assert smtp is not None
        if mail[0] != 250 or rcpt[0] not in (250, 251):
            if data[0] == 354:
                # The relay took DATA despite refusing the envelope: end it empty.
                smtp.send(b".\r\n")
                smtp.getreply()
            if mail[0] != 250:
                if reused and mail[0] == 421:
                    return classify(*mail, Stage.MAIL), True
                # A refusal of our sender is about this session or the relay:
                # the next message (or batch) starts on a fresh connection.
                self._drop()
                return classify(*mail, Stage.MAIL), False
            self._reset()
            return classify(*rcpt, Stage.RCPT), False
        if data[0] != 354:
            self._reset()
            return classify(*data, Stage.DATA), False
        return None, False

    def finish(self, payload: bytes, then: bytes = b"") -> Outcome:
        """Send the message (``content``) after DATA's 354; its outcome, from the final reply.

        ``then``, written with it, is the next message's envelope (RFC 2920 lets
        the content open a group): its replies are left for ``envelope_replies``.
        Once any of the content is written a lost connection leaves the message in
        doubt (the relay may have taken it): a retry, as for any dropped connection.
        """
        smtp = self._smtp
        assert smtp is not None
        try:
            smtp.send(payload + then if then else payload)
            code, text = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return _connection_trouble(exc)
        except BaseException:
            self._drop()
            raise
        finally:
            self._last_used = time.monotonic()
        if code == 421:
            # The relay is closing: whatever was written behind this is not read.
            self._drop()
        return classify(code, text, Stage.DATA)

    @property
    def connected(self) -> bool:
        return self._smtp is not None

    def may_pipeline(self) -> bool:
        """Whether the next transaction may go behind the one in progress, on this connection."""
        return self.pipelining and self._sent_here < self.max_messages

    def count_pipelined(self) -> None:
        self._sent_here += 1

    def _reset(self) -> None:
        """After a refusal the connection stays usable once the transaction is reset."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def close(self) -> None:
        """QUIT, politely, when we are done with a healthy connection."""
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None

    def drop(self) -> None:
        """Give up the connection at once (the pipeline's, after the relay went quiet)."""
        self._drop()

    def _drop(self) -> None:
        """Close a connection in an unknown state without a QUIT that could wait a timeout."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


# Messages back to back on one SMTP connection, one round trip each (RFC 2920).
#
# RFC 2920 §3.1 lets the transfer of message content be the first command of a
# group, and DATA end one: so message N's content, its final dot, and message
# N+1's MAIL, RCPT and DATA go as one write, and the replies come back as N's
# final reply, then N+1's three. Without it, each message waits for its final
# reply before the next envelope leaves: two round trips a message.
#
# What each reply means is unchanged (``SmtpTransport``): N is sent only on a 2xx
# to its own end of data; a connection lost once any of N's content was written
# leaves N in doubt, a retry, as in lockstep. N+1's envelope, written behind N, is
# never followed by its content until its DATA has its 354: if the connection
# ends before that (the relay closed after N's reply, or lost N), nothing of N+1
# was handed over, and it comes back as ``AGAIN`` for the batch to try anew.


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
