"""Bounces and complaints: read what comes back, find the delivery, suppress when it says so.

Parsing is pure (bytes in, :class:`Report` out). Who a report is about is never
taken from what it says (``Final-Recipient`` and ``Original-Rcpt-To`` are
whatever the sender wrote): it is the delivery named by a signed VERP return
path, or by the Message-ID we stored when we sent it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import parseaddr
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.core.models import BounceEvent, BounceKind, Delivery, Journalist
from alerts.core.tokens import VERP_PREFIX, InvalidToken, TokenSigner
from alerts.delivery.store import suppress_address

# RFC 3463 enhanced status code at the start of a Status field: "5.1.1 (bad mailbox)".
_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
# An SMTP reply with its enhanced code, as quoted in diagnostics and free text:
# "550 5.1.1". The reply code is required, or an IP address (10.4.5.6) would pass.
_REPLY_WITH_STATUS = re.compile(r"\b([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b")
_ADDRESS = re.compile(r"[^\s<>()\"';,]+@[^\s<>()\"';,]+")
_ALERT_MESSAGE_ID = re.compile(r"^<alert\.\d+\.(\d{1,12})\.[0-9a-f]+@[^>]+>$")
# Only these ARF types mean "the recipient did not want this"; auth-failure
# (RFC 6591) is about our DKIM/SPF and not-spam is the opposite of a complaint.
_COMPLAINT_TYPES = {"abuse", "fraud", "virus"}
_DAEMONS = {"mailer-daemon", "postmaster"}
_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers")
_FORGED = -1  # a VERP-shaped address whose signature does not hold (ids are positive)


@dataclass(frozen=True)
class Report:
    kind: BounceKind
    status: str | None  # RFC 3463 code for a bounce; None for a complaint
    detail: str  # diagnostic or feedback type, addresses removed
    # From the copy of our message inside the report: where to look when the
    # report was not sent to a VERP address (feedback loops use a fixed one).
    original_return_path: str | None = None
    original_message_id: str | None = None


class Result(StrEnum):
    SUPPRESSED = "suppressed"
    COUNTED = "counted"  # a soft bounce, below the threshold
    RECORDED = "recorded"  # the journalist was erased: nothing left to suppress
    DUPLICATE = "duplicate"  # the same report came before
    UNKNOWN_DELIVERY = "unknown-delivery"  # a valid token for a row since deleted


@dataclass(frozen=True)
class Found:
    delivery_id: int | None
    via: str  # how it was found, or why not (for the log line)


# --- parsing -----------------------------------------------------------------


def parse(raw: bytes) -> Report | None:
    """A DSN (RFC 3464), an ARF report (RFC 5965) or a plain bounce; None if unsure."""
    try:
        message = message_from_bytes(raw, policy=policy.default)
        return _parse_message(message)
    except Exception:  # the stdlib parser has assorted failure modes on hostile input
        return None


def looks_like_auto_reply(raw: bytes) -> bool:
    """An out-of-office or other auto-reply (RFC 3834): says nothing about delivery.

    Bounces often carry ``Auto-Submitted`` too, so anything from a mailer daemon,
    naming failed recipients or shaped as a report is not counted as one.
    """
    try:
        message = message_from_bytes(raw, policy=policy.default)
        auto = str(message.get("Auto-Submitted", "")).strip().lower()
        flagged = auto.startswith("auto-replied") or "X-Autoreply" in message
        return (
            flagged
            and not _from_daemon(message)
            and "X-Failed-Recipients" not in message
            and message.get_content_type() != "multipart/report"
        )
    except Exception:
        return False


def _parse_message(message: EmailMessage) -> Report | None:
    report = _report_part(message)
    if report is not None:
        feedback = _first_part(report, ("message/feedback-report",))
        if feedback is not None:
            return _complaint(feedback, report)
        status = _first_part(report, ("message/delivery-status",))
        if status is not None:
            return _dsn(status, report)
        return None
    return _plain_bounce(message)


def _report_part(message: EmailMessage) -> EmailMessage | None:
    """The multipart/report, at the top or inside a multipart/mixed wrapper."""
    if message.get_content_type() == "multipart/report":
        return message
    if message.get_content_maintype() == "multipart":
        for part in message.iter_parts():
            assert isinstance(part, EmailMessage)
            found = _report_part(part)
            if found is not None:
                return found
    return None


def _parts(message: EmailMessage) -> Iterator[EmailMessage]:
    """Parts at every multipart level, never inside an attached message."""
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        yield part
        if part.get_content_maintype() == "multipart":
            yield from _parts(part)


def _first_part(message: EmailMessage, types: tuple[str, ...]) -> EmailMessage | None:
    if message.get_content_maintype() != "multipart":
        return None
    return next((p for p in _parts(message) if p.get_content_type() in types), None)


def _field_blocks(part: EmailMessage) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # how the stdlib parser hands message/* parts back
        return list(payload)
    text = payload if isinstance(payload, str) else ""
    return [HeaderParser().parsestr(block) for block in re.split(r"\n\s*\n", text) if block]


def _dsn(part: EmailMessage, report: EmailMessage) -> Report | None:
    """The worst per-recipient outcome: a hard failure beats a delay."""
    found: list[Report] = []
    for block in _field_blocks(part):
        action = str(block.get("Action", "")).strip().lower()
        diagnostic = _clean(str(block.get("Diagnostic-Code", "")))
        status = _status_field(str(block.get("Status", ""))) or _quoted_status(diagnostic)
        kind = _dsn_kind(action, status)
        if kind is not None:
            found.append(_with_original(Report(kind, status, diagnostic or action), report))
    found.sort(key=lambda r: r.kind != BounceKind.HARD)
    return found[0] if found else None


def _dsn_kind(action: str, status: str | None) -> BounceKind | None:
    if action == "delayed":
        return None if status is not None and status[0] == "2" else BounceKind.SOFT
    if action != "failed" or status is None:
        return None  # delivered / relayed / expanded, or a failure with no code to judge
    # "failed" with a 4.x.x code: the sender gave up on a temporary condition.
    return {"5": BounceKind.HARD, "4": BounceKind.SOFT}.get(status[0])


def _complaint(part: EmailMessage, report: EmailMessage) -> Report | None:
    blocks = _field_blocks(part)
    fields = blocks[0] if blocks else None
    if fields is None:
        return None
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in _COMPLAINT_TYPES:
        return None
    agent = _clean(str(fields.get("User-Agent", "")))
    detail = f"{feedback_type} ({agent})" if agent else feedback_type
    return _with_original(Report(BounceKind.COMPLAINT, None, detail), report)


def _plain_bounce(message: EmailMessage) -> Report | None:
    """A non-DSN bounce (older Exim, qmail): only a mailer daemon quoting one clear code."""
    if not (_from_daemon(message) or "X-Failed-Recipients" in message):
        return None
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return None
    text = body.get_content()
    # One distinct code only: a daemon that quotes several, or the copy of our
    # alert below the notice, leaves too much room for a wrong guess.
    codes = {(reply, status) for reply, status in _REPLY_WITH_STATUS.findall(text)}
    if len(codes) != 1:
        return None
    [(reply_class, status)] = codes
    kind = {"5": BounceKind.HARD, "4": BounceKind.SOFT}.get(status[0])
    if kind is None or reply_class != status[0]:
        return None
    line = next(ln for ln in text.splitlines() if status in ln)
    return _with_original(Report(kind, status, _clean(line)), message)


def _from_daemon(message: EmailMessage) -> bool:
    sender = parseaddr(str(message.get("From", "")))[1]
    return sender.partition("@")[0].lower() in _DAEMONS


def _with_original(report: Report, container: EmailMessage) -> Report:
    headers = _original_headers(container)
    if headers is None:
        return report
    return_path = parseaddr(str(headers.get("Return-Path", "")))[1] or None
    message_id = str(headers.get("Message-ID", "")).strip() or None
    return Report(report.kind, report.status, report.detail, return_path, message_id)


def _original_headers(container: EmailMessage) -> Message | None:
    """The headers of our message as attached to the report (RFC 3464 §2, RFC 5965 §2)."""
    if container.get_content_maintype() != "multipart":
        return None
    part = _first_part(container, _ORIGINAL_TYPES)
    if part is None:
        return None
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        return None
    return HeaderParser().parsestr(part.get_content(), headersonly=True)


def _status_field(text: str) -> str | None:
    match = _STATUS.match(text)
    return match.group(1) if match else None


def _quoted_status(text: str) -> str | None:
    match = _REPLY_WITH_STATUS.search(text)
    if match is None or match.group(1) != match.group(2)[0]:
        return None
    return match.group(2)


def _clean(text: str) -> str:
    """One line, no addresses: details outlive an erased journalist's address."""
    return " ".join(_ADDRESS.sub("address", text).split())[:1000]


# --- finding the delivery ----------------------------------------------------


def find_delivery(
    session: Session, signer: TokenSigner, report: Report, envelope_recipients: Iterable[str]
) -> Found:
    """The delivery a report is about: envelope VERP, else the attached original's headers.

    The original's Return-Path must carry a valid signature, and its Message-ID
    must be the one stored for that delivery: a report cannot name somebody else.
    """
    envelope = {_verp_delivery(signer, address) for address in envelope_recipients}
    valid = envelope - {None, _FORGED}
    if len(valid) > 1:
        return Found(None, "several deliveries in one envelope")
    if valid:
        return Found(valid.pop(), "envelope")
    if report.original_return_path:
        found = _verp_delivery(signer, report.original_return_path)
        if found is not None and found != _FORGED:
            return Found(found, "return-path")
    if report.original_message_id:
        found = _message_id_delivery(session, report.original_message_id)
        if found is not None:
            return Found(found, "message-id")
    return Found(None, "forged return path" if _FORGED in envelope else "nothing to identify it")


def _verp_delivery(signer: TokenSigner, address: str) -> int | None:
    """The delivery id of a VERP address; _FORGED if it looks like one but is not signed."""
    local = address.rpartition("@")[0]
    if not local.lower().startswith(f"{VERP_PREFIX}+"):
        return None
    try:
        return signer.read_verp(local)
    except InvalidToken:
        return _FORGED


def _message_id_delivery(session: Session, message_id: str) -> int | None:
    # The delivery id in our Message-ID finds the row by primary key; equality
    # with the stored value is what makes it trustworthy.
    match = _ALERT_MESSAGE_ID.match(message_id)
    if match is None:
        return None
    delivery = session.get(Delivery, int(match.group(1)))
    if delivery is None or delivery.message_id != message_id:
        return None
    return delivery.id


# --- recording ---------------------------------------------------------------


def record(
    session: Session,
    report: Report,
    delivery_id: int,
    now: datetime,
    soft_limit: int,
    window: timedelta,
) -> Result:
    """Keep the event; suppress the address on a hard bounce, a complaint or too many soft ones."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return Result.UNKNOWN_DELIVERY
    if _seen(session, delivery_id, report):
        return Result.DUPLICATE
    session.add(
        BounceEvent(
            delivery_id=delivery_id,
            journalist_id=delivery.journalist_id,
            kind=report.kind,
            status=report.status,
            detail=report.detail[:1000],
            created_at=now,
        )
    )
    session.flush()
    if report.kind == BounceKind.SOFT:
        count = _soft_deliveries(session, delivery.journalist_id, now - window)
        if count < soft_limit:
            return Result.COUNTED
        last = report.status or "no code"
        reason = f"soft bounces: {count} alerts in {window.days} days, last {last}"
    elif report.kind == BounceKind.HARD:
        reason = f"bounce: {report.status} {report.detail}"
    else:
        reason = f"complaint: {report.detail}"
    email = session.scalar(select(Journalist.email).where(Journalist.id == delivery.journalist_id))
    if email is None:
        return Result.RECORDED
    suppress_address(session, email, reason[:200], now, delivery.journalist_id)
    return Result.SUPPRESSED


def _seen(session: Session, delivery_id: int, report: Report) -> bool:
    """The same DSN twice (a retrying sender, a second copy) must not count twice."""
    query = select(BounceEvent.id).where(
        BounceEvent.delivery_id == delivery_id,
        BounceEvent.kind == report.kind,
        BounceEvent.status.is_not_distinct_from(report.status),
    )
    return session.scalar(query.limit(1)) is not None


def _soft_deliveries(session: Session, journalist_id: int, since: datetime) -> int:
    # Distinct deliveries, not events: the 4-hour and 24-hour delay notices
    # about one alert are one problem, not two.
    return int(
        session.scalar(
            select(func.count(func.distinct(BounceEvent.delivery_id))).where(
                BounceEvent.journalist_id == journalist_id,
                BounceEvent.kind == BounceKind.SOFT,
                BounceEvent.created_at >= since,
            )
        )
        or 0
    )
