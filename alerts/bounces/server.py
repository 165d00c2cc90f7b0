"""The bounce receiver (aiosmtpd): VERP bounces and feedback-loop complaints in, suppressions out.

It takes mail only for ``bounces+…`` addresses and the feedback-loop address,
and never relays. Whatever it cannot read or attribute is kept in a Maildir for
a human; an error in one message never takes the server down.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.orm import Session, sessionmaker

from alerts.bounces import reports as bounces
from alerts.core.models import utcnow
from alerts.core.net import free_port
from alerts.core.runtime import Runtime
from alerts.core.tokens import VERP_PREFIX, TokenSigner

log = logging.getLogger("alerts.bounces")

DEFAULT_FEEDBACK_LOCAL_PARTS = ("fbl",)
UNPROCESSED_DIR = "bounces-unprocessed"
# Reports carry a copy of the original; ours are small, so this is generous.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class BounceHandler:
    """aiosmtpd handler: accept our bounce addresses, parse, record, answer 250."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        signer: TokenSigner,
        unprocessed: Path,
        soft_limit: int,
        window: timedelta,
        feedback_local_parts: Iterable[str] = DEFAULT_FEEDBACK_LOCAL_PARTS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.signer = signer
        self.soft_limit = soft_limit
        self.window = window
        self.feedback = frozenset(p.lower() for p in feedback_local_parts)
        self.clock = clock
        self.unprocessed_path = unprocessed
        self.unprocessed = mailbox.Maildir(unprocessed, create=True)
        # One thread: the event loop keeps talking SMTP while a message is being
        # recorded, and two copies of one DSN are never checked for at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bounces")

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local = address.rpartition("@")[0].lower()
        if local.startswith(f"{VERP_PREFIX}+") or local in self.feedback:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return "550 5.1.1 No such mailbox: this server only takes bounces and feedback reports"

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogateescape")
        recipients = tuple(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.process, raw, recipients)

    def process(self, raw: bytes, recipients: tuple[str, ...]) -> str:
        """Handle one message; returns the SMTP reply. Never raises."""
        try:
            return self._process(raw, recipients)
        except Exception as exc:
            key = self._keep(raw, recipients, f"error: {type(exc).__name__}")
            log.exception("bounce failed; kept for a human as %s", key)
            return _reply(key)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _process(self, raw: bytes, recipients: tuple[str, ...]) -> str:
        report = bounces.parse(raw)
        if report is None:
            if bounces.looks_like_auto_reply(raw):
                log.info("bounce ignored: an auto-reply")
                return "250 2.0.0 Ok: ignored auto-reply"
            return self._kept(raw, recipients, "unparseable")
        with self.sessions() as session:
            found = bounces.find_delivery(session, self.signer, report, recipients)
            if found.delivery_id is None:
                return self._kept(raw, recipients, f"unattributed {report.kind}: {found.via}")
            now = self.clock()
            result = bounces.record(
                session, report, found.delivery_id, now, self.soft_limit, self.window
            )
            if result == bounces.Result.UNKNOWN_DELIVERY:
                return self._kept(raw, recipients, f"{report.kind} for an unknown delivery")
            session.commit()
        log.info(
            "bounce delivery_id=%s kind=%s status=%s via=%s result=%s",
            found.delivery_id,
            report.kind,
            report.status or "-",
            found.via,
            result,
        )
        return "250 2.0.0 Ok: recorded"

    def _kept(self, raw: bytes, recipients: tuple[str, ...], reason: str) -> str:
        key = self._keep(raw, recipients, reason)
        log.warning("bounce kept for a human: %s; key=%s", reason, key)
        return _reply(key)

    def _keep(self, raw: bytes, recipients: tuple[str, ...], reason: str) -> str | None:
        """Store the message as received, with why and for whom; None if even that failed."""
        header = (
            f"X-Alerts-Bounce-Reason: {_one_line(reason)}\n"
            f"X-Alerts-Envelope-To: {_one_line(', '.join(recipients))}\n"
        )
        try:
            return str(self.unprocessed.add(header.encode() + raw))
        except Exception:
            log.exception("could not store a bounce in %s", self.unprocessed_path)
            return None


def _reply(key: str | None) -> str:
    if key is None:
        # Neither recorded nor stored: a temporary failure makes the sender try
        # again later instead of the report being lost.
        return "451 4.3.0 Cannot store the message now; try again later"
    return f"250 2.0.0 Ok: kept as {key}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def make_handler(
    runtime: Runtime,
    feedback_local_parts: Iterable[str] = DEFAULT_FEEDBACK_LOCAL_PARTS,
    unprocessed: Path | None = None,
) -> BounceHandler:
    settings = runtime.settings
    return BounceHandler(
        sessions=runtime.sessions,
        signer=runtime.signer,
        unprocessed=unprocessed or settings.data_dir / UNPROCESSED_DIR,
        soft_limit=settings.soft_bounce_limit,
        window=timedelta(days=settings.soft_bounce_window_days),
        feedback_local_parts=feedback_local_parts,
    )


def start_bounce_server(
    handler: BounceHandler, host: str = "127.0.0.1", port: int = 8026, **kw: Any
) -> Controller:
    """Start the server in a background thread; ``port=0`` picks a free port."""
    if port == 0:
        port = free_port(host)  # aiosmtpd's readiness check connects to the real port
    controller = Controller(
        handler,
        hostname=host,
        port=port,
        ready_timeout=10,
        server_kwargs={"data_size_limit": MAX_MESSAGE_BYTES},
        **kw,
    )
    controller.start()
    return controller
