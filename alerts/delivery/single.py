"""Single emails outside a batch: an account email, a staff test send, one digest.

Each was build → send → classify written inside its task. Here each is a plain
use case taking a session factory and a transport (the SMTP one, or one in
memory); the Runtime supplies templates, links and the sender. What a verdict
means for the task (retry it, or done) stays with the task.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from alerts.audience.membership import Notice
from alerts.core import metrics
from alerts.core.click_tokens import ClickSigner
from alerts.core.models import Item, Journalist, JournalistStatus, utcnow
from alerts.core.runtime import Runtime
from alerts.core.tokens import Purpose
from alerts.delivery import breaker
from alerts.delivery.outcome import Outcome, RetryPolicy, Transport, Verdict
from alerts.delivery.sending import RELAY_PAUSED
from alerts.digests import runs as digests
from alerts.digests.email import render_digest
from alerts.digests.links import DigestLinks
from alerts.engagement import links as click_links
from alerts.mail.account_emails import build_notice
from alerts.mail.rendering import build_message

log = logging.getLogger(__name__)


def send_account_email(
    journalist_id: int,
    kind: Notice,
    request: dict[str, Any] | None,
    sessions: sessionmaker[Session],
    transport: Transport,
    mail: Runtime,
    asked_at: datetime | None = None,
) -> Outcome | str:
    """A confirmation or "already subscribed" email; a string when there is none to send.

    ``asked_at`` is when the notice was asked for: a journalist created after it is not
    the one it was meant for (their id was handed out again), so nothing is sent.
    """
    with sessions() as session:
        journalist = session.get(Journalist, journalist_id)
        if journalist is None or journalist.email is None:
            return "gone"
        if asked_at is not None and journalist.created_at > asked_at:
            return "stale"
        expected = (
            (JournalistStatus.PENDING, JournalistStatus.UNSUBSCRIBED)
            if kind is Notice.CONFIRM
            # Their preferences page also lets an unsubscribed journalist come back.
            else (JournalistStatus.ACTIVE, JournalistStatus.UNSUBSCRIBED)
            if kind is Notice.PREFERENCES
            else (JournalistStatus.ACTIVE,)
        )
        if journalist.status not in expected:
            return "stale"  # confirmed, suppressed or erased meanwhile
        email, name, language = journalist.email, journalist.name, journalist.language
    purpose = Purpose.CONFIRM if kind is Notice.CONFIRM else Purpose.PREFERENCES
    message = build_notice(
        mail.templates_for(language),
        mail.sender,
        kind,
        language=language,
        email=email,
        name=name,
        link=mail.link(purpose, journalist_id, request if kind is Notice.CONFIRM else None),
    )
    outcome = transport.send(mail.sender.bounce_address, email, message)
    log.info(
        "notice journalist_id=%s kind=%s verdict=%s reply=%r",
        journalist_id,
        kind.value,
        outcome.verdict.value,
        outcome.reply,
    )
    if outcome.verdict is Verdict.SENT:
        with sessions() as session, session.begin():
            found = session.get(Journalist, journalist_id)
            if found is not None:
                found.confirmation_sent_at = utcnow()
    return outcome


def send_test(
    item_id: int, address: str, sessions: sessionmaker[Session], transport: Transport, mail: Runtime
) -> Outcome | None:
    """Staff's test send: the item exactly as journalists get it, marked [TEST]."""
    with sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            return None
        rendered = copy.copy(mail.rendered(item))
    rendered.subject = f"[TEST] {rendered.subject}"
    # Journalist id 0 exists nowhere: the links in a test email open an empty page.
    recipient = mail.recipient(0, 0, address, "Test recipient")
    message = build_message(rendered, recipient, mail.sender)
    outcome = transport.send(mail.sender.bounce_address, address, message)
    log.info(
        "test send item_id=%s verdict=%s reply=%r", item_id, outcome.verdict.value, outcome.reply
    )
    return outcome


def _digest_links(
    sessions: sessionmaker[Session], mail: Runtime, claimed: digests.ClaimedDigest
) -> DigestLinks | None:
    """Each item's link table in the digest's language (stored now if it was not), so
    its links are the item's own numbered links; None when clicks are not tracked."""
    if mail.settings.track_clicks == "off":
        return None
    # The item's render in the digest's language names its link table: a translation's
    # words have links numbered apart from the original's (text_versions.link_language).
    rendered = {item.id: mail.rendered(item, claimed.language) for item in claimed.items}

    def links_of(item_id: int) -> Callable[[], tuple[str, ...]]:
        return lambda: rendered[item_id].links

    keys = {item_id: r.language for item_id, r in rendered.items()}
    with sessions() as session, session.begin():
        tables = {
            item_id: click_links.ensure(session, item_id, keys[item_id], links_of(item_id))
            for item_id in rendered
        }
    return DigestLinks(tables, keys, claimed.item_deliveries, ClickSigner(mail.settings.secret))


def send_digest(
    digest_id: int,
    sessions: sessionmaker[Session],
    transport: Transport,
    mail: Runtime,
    lease: timedelta,
    policy: RetryPolicy,
) -> str:
    """One journalist's digest; returns its status (retries are the digest record's)."""
    relay = breaker.scope(mail.settings.smtp.label)  # this host's breaker, as batches use
    with sessions() as session, session.begin():
        claimed = digests.claim(session, digest_id, utcnow(), lease)
        paused_until, _ = breaker.state(session, relay, utcnow())
    if claimed is None:
        return "not claimed"
    message_id = mail.sender.digest_message_id(digest_id)
    if paused_until is not None:
        outcome = RELAY_PAUSED
    else:
        try:
            rendered = render_digest(
                mail.templates_for(claimed.language),
                claimed,
                mail.taxonomy,
                mail.sender,
                mail.settings.base_url,
                mail.rich_content(claimed.items),
                versions=mail.versions(claimed.items, claimed.language),
                links=_digest_links(sessions, mail, claimed),
            )
            recipient = mail.recipient(
                claimed.delivery_id,
                claimed.journalist_id,
                claimed.email,
                claimed.name,
                digest=claimed.cadence,
            )
            message = build_message(rendered, recipient, mail.sender, message_id)
            outcome = transport.send(recipient.return_path, claimed.email, message)
        except Exception as exc:  # recorded like any failure: the lease must not dangle
            log.exception("digest error digest_id=%s", digest_id)
            transport.close()
            outcome = Outcome(Verdict.FAILED, f"error: {type(exc).__name__}: {exc}"[:1000])
    with sessions() as session, session.begin():
        status = digests.record(
            session, claimed, outcome, message_id, utcnow(), policy, paused_until
        )
    metrics.record_digest(claimed.cadence, outcome)
    log.info(
        "digest digest_id=%s journalist_id=%s items=%d verdict=%s reply=%r",
        digest_id,
        claimed.journalist_id,
        len(claimed.items),
        outcome.verdict.value,
        outcome.reply,
    )
    return status
