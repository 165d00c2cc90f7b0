"""SMTP transport (one connection reused for a batch) and SMTP reply classification."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from alerts.settings import SmtpTarget


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: 4xx, timeouts, dropped connections
    FAILED = "failed"  # permanent for this message: 5xx
    SUPPRESS = "suppress"  # permanent for the address: 5.1.x, 5.7.1 on the recipient


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reply: str

    @property
    def connection_lost(self) -> bool:
        return self.verdict is Verdict.RETRY and self.reply.startswith("connection:")


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"[:1000]


def classify(code: int, message: bytes | str) -> Outcome:
    """Decide what an SMTP reply means for the delivery.

    The enhanced status code (RFC 3463) is more precise than the basic one: 5.1.x
    says the mailbox does not exist; 5.7.1 on a recipient is a policy refusal of
    that address. Any other 5xx fails this message only.
    """
    reply = _reply_text(code, message)
    if 200 <= code < 300:
        return Outcome(Verdict.SENT, reply)
    if 400 <= code < 500:
        return Outcome(Verdict.RETRY, reply)
    detail = reply.split(" ", 2)[1] if " " in reply else ""
    if detail.startswith("5.1.") or detail == "5.7.1":
        return Outcome(Verdict.SUPPRESS, reply)
    return Outcome(Verdict.FAILED, reply)


class SmtpTransport:
    """A connection to the relay, opened lazily and reopened after a drop."""

    def __init__(self, target: SmtpTarget, timeout: float, local_hostname: str | None = None):
        self.target = target
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None

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
            if t.scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
        if t.username:
            smtp.login(t.username, t.password or "")
        return smtp

    def send(self, from_addr: str, to_addr: str, message: bytes) -> Outcome:
        """One transaction; the relay's final reply (with its queue id) is kept."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            smtp.ehlo_or_helo_if_needed()
            code, text = smtp.mail(from_addr)
            if code != 250:
                self._reset()
                return classify(code, text)
            code, text = smtp.rcpt(to_addr)
            if code not in (250, 251):
                self._reset()
                return classify(code, text)
            code, text = smtp.data(message)
        except smtplib.SMTPDataError as exc:
            self._reset()
            return classify(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPResponseException as exc:
            # e.g. 421 at connect or after HELO: the relay closes on us.
            self.close()
            return classify(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome(Verdict.RETRY, f"connection: {type(exc).__name__}: {exc}"[:1000])
        return classify(code, text)

    def _reset(self) -> None:
        """After a refusal the connection stays usable once the transaction is reset."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None
