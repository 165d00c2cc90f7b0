"""SMTP transport: one connection reused across batches. What a reply means is delivery.outcome."""

from __future__ import annotations

import smtplib
import ssl
import time
from types import TracebackType

from alerts.core.settings import SmtpTarget
from alerts.delivery.outcome import Outcome, Stage, Verdict, classify


def quoteaddr(address: str) -> str:
    return f"<{address}>"


def dot_stuffed(message: bytes) -> bytes:
    """A dot doubled at the start of every line (RFC 5321 §4.5.2).

    What smtplib's data() does with a multi-line regular expression, which
    costs more than building the message; bytes.replace does it in C.
    """
    stuffed = message.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


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
        if self._smtp is not None and self._sent_here >= self.max_messages:
            self.close()
        elif self._smtp is not None and time.monotonic() - self._last_used > self.max_idle:
            # Between bursts a connection may have died silently (a NAT or firewall
            # forgot it): finding out would cost a full timeout on the next alert.
            self._drop()
        reused = self._smtp is not None
        outcome, stale = self._transaction(from_addr, to_addr, message, reused)
        if stale:
            # The relay had closed our idle connection; nothing was handed over.
            self._drop()
            outcome, _ = self._transaction(from_addr, to_addr, message, reused=False)
        self._last_used = time.monotonic()
        return outcome

    def _transaction(
        self, from_addr: str, to_addr: str, message: bytes, reused: bool
    ) -> tuple[Outcome, bool]:
        """The outcome, and whether a reused connection failed before the message went.

        Anything that goes wrong before the message itself is sent has handed
        nothing over, so the caller may run the transaction again.
        """
        stage = Stage.CONNECT
        body_sent = False
        try:
            if self._smtp is None:
                self._smtp = self._connect()
                self._sent_here = 0
                self.connections += 1
            smtp = self._smtp
            smtp.ehlo_or_helo_if_needed()
            stage = Stage.MAIL
            self._sent_here += 1
            if smtp.does_esmtp and smtp.has_extn("pipelining"):
                # RFC 2920: the envelope and DATA in one write, so one message costs
                # two round trips instead of four.
                smtp.send(
                    b"MAIL FROM:%s\r\nRCPT TO:%s\r\nDATA\r\n"
                    % (quoteaddr(from_addr).encode("ascii"), quoteaddr(to_addr).encode("ascii"))
                )
                mail = smtp.getreply()
                stage = Stage.RCPT
                rcpt = smtp.getreply()
                stage = Stage.DATA
                data = smtp.getreply()
            else:
                mail = smtp.mail(from_addr)
                stage = Stage.RCPT
                rcpt = smtp.rcpt(to_addr) if mail[0] == 250 else (503, b"")
                stage = Stage.DATA
                data = smtp.docmd("DATA") if rcpt[0] in (250, 251) else (503, b"")
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
            body = dot_stuffed(message)
            body_sent = True
            smtp.send(body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"))
            code, text = smtp.getreply()
        except smtplib.SMTPResponseException as exc:
            # e.g. 421 at connect, 535 at AUTH: the relay closes on us or refuses us.
            self._drop()
            return classify(exc.smtp_code, exc.smtp_error, stage), reused and not body_sent
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            outcome = Outcome(
                Verdict.RETRY, f"connection: {type(exc).__name__}: {exc}"[:1000], relay_trouble=True
            )
            return outcome, reused and not body_sent
        except BaseException:
            # Interrupted mid-conversation: replies may be left unread, and the next
            # transaction must not take them for its own.
            self._drop()
            raise
        return classify(code, text, Stage.DATA), False

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

    def _drop(self) -> None:
        """Close a connection in an unknown state without a QUIT that could wait a timeout."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
