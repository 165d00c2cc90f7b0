"""The built-in SMTP sink (aiosmtpd): keeps every message it receives in a Maildir.

It is the embedded default relay for development and the demo, and the SMTP
server the tests deliver to. It is not a throughput yardstick: it spends about a
millisecond of CPU per message.
"""

from __future__ import annotations

import logging
import mailbox
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

# Re-exported: whoever starts a sink usually needs a free port beside it.
from alerts.core.net import free_port as free_port

log = logging.getLogger("alerts.sink")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class SinkHandler:
    """aiosmtpd handler: store, log one line, answer 250 with a queue id."""

    maildir: Path | None = None
    keep_in_memory: bool = False
    pipelining: bool = True  # False: a relay that offers no RFC 2920 (senders go in lockstep)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _box: mailbox.Maildir | None = None
    _count: int = 0

    def __post_init__(self) -> None:
        if self.maildir is not None:
            self._box = mailbox.Maildir(self.maildir, create=True)

    async def handle_EHLO(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """RFC 2920 PIPELINING, as Postfix and most relays offer it: aiosmtpd reads the
        commands a client sends in one write one after another anyway, and the
        senders' pipelined path (``mail/smtp.py``, ``SmtpPipeline``) is then the one tested."""
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        key = ""
        item = Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), data)
        with self._lock:
            self._count += 1
            number = self._count
            if self._box is not None:
                key = self._box.add(mailbox.MaildirMessage(data))
            if self.keep_in_memory:
                self.received.append(item)
        log.info(
            "received from=%s to=%s bytes=%d key=%s",
            item.mail_from,
            ",".join(item.rcpt_tos),
            len(data),
            key,
        )
        return f"250 2.0.0 Ok: queued as {key or number}"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)


def start_sink(
    host: str = "127.0.0.1", port: int = 8025, handler: SinkHandler | None = None, **kw: Any
) -> tuple[Controller, SinkHandler]:
    """Start the sink in a background thread; ``port=0`` picks a free port."""
    handler = handler or SinkHandler()
    if port == 0:
        # aiosmtpd checks readiness by connecting to the configured port, so it
        # cannot be given 0; ask the kernel for a free one first.
        port = free_port(host)
    controller = Controller(handler, hostname=host, port=port, ready_timeout=10, **kw)
    controller.start()
    return controller, handler
