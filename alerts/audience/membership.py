"""A journalist's own actions: sign up, confirm, change preferences, leave, be forgotten.

Plain functions on a Session; the caller commits and then enqueues any email
they return a reason to send.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from alerts.audience.subscriptions import SubscriptionSpec, add_subscription, spec_of
from alerts.core.db import upsert_insert
from alerts.core.i18n import LANGUAGES as CATALOGUE_LANGUAGES
from alerts.core.models import (
    ClickEvent,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    ItemStatus,
    Journalist,
    JournalistStatus,
    Subscription,
    Suppression,
    UnsubscribeEvent,
    UnsubscribeMethod,
)
from alerts.core.reader_languages import unknown_language
from alerts.core.taxonomy import Taxonomy
from alerts.digests.schedule import (
    InvalidSchedule,
    check_weekday,
    check_zone,
    format_minute,
    parse_minute,
)

# Suppressions with this prefix were the journalist's own choice: confirming a
# new subscription lifts them. Bounces and complaints are never lifted here.
UNSUBSCRIBED_REASON = "unsubscribed"
# The frame's catalogue languages; callers pass the configured reader languages
# (ALERTS_READER_LANGUAGES), which always include these.
LANGUAGES: tuple[str, ...] = tuple(CATALOGUE_LANGUAGES)


class Notice(StrEnum):
    """Which email a sign-up request calls for (sent after commit, by a task)."""

    CONFIRM = "confirm"  # new or pending address: click to confirm
    ALREADY = "already"  # active address: here is your preferences link
    NONE = "none"  # suppressed by a bounce or complaint: say nothing, send nothing
    PREFERENCES = "preferences"  # asked from an expired preferences link: a fresh one


@dataclass(frozen=True)
class SignUp:
    email: str
    name: str
    outlet: str
    language: str
    spec: SubscriptionSpec
    timezone: str = "UTC"

    def payload(self) -> dict[str, Any]:
        """What the confirmation link carries (signed), to apply only once confirmed."""
        return {
            "n": self.name,
            "o": self.outlet,
            "l": self.language,
            "c": sorted(self.spec.countries),
            "t": sorted(self.spec.topics),
            "f": self.spec.cadence,
            "z": self.timezone,
        }


def address_hasher(secret: str) -> Callable[[str], str]:
    """How an erased address is still recognised without being kept in clear."""

    def hashed(email: str) -> str:
        return "hmac:" + hmac.new(secret.encode(), email.encode(), hashlib.sha256).hexdigest()

    return hashed


def _find(session: Session, email: str) -> Journalist | None:
    return session.scalars(select(Journalist).where(Journalist.email == email)).first()


def _hard_suppressed(session: Session, email: str) -> bool:
    reason = session.scalar(select(Suppression.reason).where(Suppression.email == email))
    return reason is not None and not reason.startswith(UNSUBSCRIBED_REASON)


def request_sign_up(session: Session, request: SignUp, now: datetime) -> tuple[Notice, int | None]:
    """Note a sign-up request; nothing changes for anybody until it is confirmed.

    Anyone can type anyone's address, so a request never alters an existing
    journalist: the choices travel inside the signed confirmation link and are
    applied when the owner of the mailbox clicks it. An active journalist is
    sent their preferences link instead.
    """
    if _hard_suppressed(session, request.email):
        return Notice.NONE, None
    journalist = _find(session, request.email)
    if journalist is not None and journalist.status == JournalistStatus.ACTIVE:
        return Notice.ALREADY, journalist.id
    if journalist is None:
        journalist = Journalist(
            email=request.email,
            name=request.name,
            outlet=request.outlet,
            language=request.language,
            status=JournalistStatus.PENDING,
            created_at=now,
        )
        session.add(journalist)
        session.flush()
    return Notice.CONFIRM, journalist.id


def _lift_unsubscribe(session: Session, email: str, hasher: Callable[[str], str] | None) -> None:
    addresses = [email] + ([hasher(email)] if hasher else [])
    session.execute(
        delete(Suppression).where(
            Suppression.email.in_(addresses),
            Suppression.reason.startswith(UNSUBSCRIBED_REASON),
        )
    )


def confirm(
    session: Session,
    journalist_id: int,
    now: datetime,
    request: dict[str, Any] | None = None,
    signed_at: datetime | None = None,
    taxonomy: Taxonomy | None = None,
    hasher: Callable[[str], str] | None = None,
    languages: Collection[str] = LANGUAGES,
) -> bool:
    """Activate the journalist with the choices the link carries; True if active afterwards.

    A second click is harmless (an active journalist is left as they are). A link
    signed before the journalist last unsubscribed no longer works.
    """
    journalist = session.get(Journalist, journalist_id)
    if journalist is None or journalist.email is None:
        return False
    if journalist.status == JournalistStatus.ACTIVE:
        return True
    if journalist.status == JournalistStatus.SUPPRESSED or _hard_suppressed(
        session, journalist.email
    ):
        return False
    if journalist.status == JournalistStatus.UNSUBSCRIBED and (
        signed_at is None
        or journalist.unsubscribed_at is None
        # Link timestamps have whole seconds.
        or signed_at < journalist.unsubscribed_at.replace(microsecond=0)
    ):
        return False  # an old link: they left after it was sent
    if request is not None and taxonomy is not None:
        _apply_request(journalist, request, taxonomy, languages)
    journalist.status = JournalistStatus.ACTIVE
    journalist.confirmed_at = now
    journalist.unsubscribed_at = None
    _lift_unsubscribe(session, journalist.email, hasher)
    return True


def _apply_request(
    journalist: Journalist,
    request: dict[str, Any],
    taxonomy: Taxonomy,
    languages: Collection[str],
) -> None:
    spec = SubscriptionSpec(
        frozenset(taxonomy.country_codes(request.get("c", []))),
        frozenset(taxonomy.topic_codes(request.get("t", []))),
        request.get("f", "immediate"),
    )
    update_profile(
        journalist, request.get("n", ""), request.get("o", ""), request.get("l", "en"), languages
    )
    # Links signed before time zones existed carry none, and a zone this host's tzdata
    # lacks is no reason to refuse a confirmation: the current zone stays.
    zone = request.get("z")
    with suppress(InvalidSchedule):
        journalist.timezone = check_zone(zone if isinstance(zone, str) else "")
    journalist.subscriptions.clear()
    add_subscription(journalist, spec)


def _cancel_pending(session: Session, journalist_id: int, reason: str) -> None:
    """Cancel the journalist's pending digests and the items they reserved.

    Pending alert rows are left to the batch that claims them: it checks the
    journalist in the statement that takes each row and cancels those it may not
    send (delivery/store.py), so none goes out after this commits. Finding them
    here would need an index by journalist that every fan-out row enters
    (migration 0019 dropped it); the digests are found by journalist through
    their own unique key.
    """
    digests = list(
        session.scalars(
            update(Digest)
            .where(Digest.journalist_id == journalist_id, Digest.status == DigestStatus.PENDING)
            .values(status=DigestStatus.CANCELLED, last_reply=reason)
            .returning(Digest.id)
            .execution_options(synchronize_session=False)
        )
    )
    if digests:
        session.execute(
            update(Delivery)
            .where(Delivery.digest_id.in_(digests), Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, last_reply=reason)
            .execution_options(synchronize_session=False)
        )


def unsubscribe_all(
    session: Session, journalist_id: int, method: UnsubscribeMethod, now: datetime
) -> bool:
    """Stop every email to this journalist; idempotent. True if this call changed anything."""
    journalist = session.get(Journalist, journalist_id)
    if journalist is None or journalist.status in (
        JournalistStatus.UNSUBSCRIBED,
        JournalistStatus.SUPPRESSED,
    ):
        return False
    journalist.status = JournalistStatus.UNSUBSCRIBED
    journalist.unsubscribed_at = now
    session.add(UnsubscribeEvent(journalist_id=journalist_id, method=method, created_at=now))
    if journalist.email is not None:
        # One statement, not a read then an insert: a round trip less in a burst of
        # one-click POSTs, and two unsubscribes of one address at once cannot both insert.
        # An existing suppression (a hard bounce, say) keeps its own reason.
        session.execute(
            upsert_insert(session)(Suppression)
            .values(
                email=journalist.email,
                reason=f"{UNSUBSCRIBED_REASON} ({method.value})",
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
    _cancel_pending(session, journalist_id, f"cancelled: unsubscribed ({method.value})")
    return True


def resubscribe(session: Session, journalist_id: int, now: datetime) -> bool:
    """From the preferences page: the link proves the address, so no new confirmation."""
    journalist = session.get(Journalist, journalist_id)
    if journalist is None or journalist.email is None:
        return False
    if journalist.status != JournalistStatus.UNSUBSCRIBED:
        return journalist.status == JournalistStatus.ACTIVE
    if _hard_suppressed(session, journalist.email):
        return False
    journalist.status = JournalistStatus.ACTIVE
    journalist.confirmed_at = now
    journalist.unsubscribed_at = None
    _lift_unsubscribe(session, journalist.email, None)
    return True


def update_profile(
    journalist: Journalist,
    name: str,
    outlet: str,
    language: str,
    languages: Collection[str] = LANGUAGES,
) -> None:
    """``languages``: those a journalist may choose (the reader languages setting)."""
    if language not in languages:
        raise ValueError(unknown_language(language, languages))
    journalist.name = name.strip()[:200]
    journalist.outlet = outlet.strip()[:200]
    journalist.language = language


def verify(journalist: Journalist, by: str, now: datetime) -> None:
    """Verified press (who vouched, and when); verifying again keeps the first record."""
    if journalist.verified_at is None:
        journalist.verified_at = now
        journalist.verified_by = by[:200]


def unverify(journalist: Journalist) -> None:
    journalist.verified_at = None
    journalist.verified_by = None


def set_digest_schedule(journalist: Journalist, timezone: str, time: str, weekday: int) -> None:
    """When their digests arrive; :class:`InvalidSchedule` (a ValueError) names a bad value."""
    journalist.timezone = check_zone(timezone)
    journalist.digest_minute = parse_minute(time)
    journalist.digest_weekday = check_weekday(weekday)


def set_subscription(
    journalist: Journalist, subscription_id: int | None, spec: SubscriptionSpec
) -> Subscription:
    """Add a subscription (id None) or replace one of this journalist's own."""
    if subscription_id is None:
        if spec in {spec_of(s) for s in journalist.subscriptions}:
            return next(s for s in journalist.subscriptions if spec_of(s) == spec)
        return add_subscription(journalist, spec)
    current = own_subscription(journalist, subscription_id)
    journalist.subscriptions.remove(current)
    return add_subscription(journalist, spec)


def own_subscription(journalist: Journalist, subscription_id: int) -> Subscription:
    for subscription in journalist.subscriptions:
        if subscription.id == subscription_id:
            return subscription
    # Never another journalist's subscription, whatever id the form carries.
    raise LookupError(f"no subscription {subscription_id}")


def remove_subscription(journalist: Journalist, subscription_id: int) -> None:
    journalist.subscriptions.remove(own_subscription(journalist, subscription_id))


def export(session: Session, journalist: Journalist) -> dict[str, Any]:
    """Everything held about this journalist, for "download my data"."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    deliveries = session.execute(
        select(Delivery, Item.title)
        .join(Item, Item.id == Delivery.item_id)
        .where(
            Delivery.journalist_id == journalist.id,
            # An embargoed item is theirs to see only once it reached them.
            or_(Item.status != ItemStatus.EMBARGOED, Delivery.status == DeliveryStatus.SENT),
        )
        .order_by(Delivery.id)
    ).all()
    events = session.scalars(
        select(UnsubscribeEvent).where(UnsubscribeEvent.journalist_id == journalist.id)
    ).all()
    suppression = session.get(Suppression, journalist.email) if journalist.email else None
    clicks = session.execute(
        select(ClickEvent, Item.title)
        .join(Item, Item.id == ClickEvent.item_id)
        .where(ClickEvent.journalist_id == journalist.id)
        .order_by(ClickEvent.id)
    ).all()
    return {
        "journalist": {
            "email": journalist.email,
            "name": journalist.name,
            "outlet": journalist.outlet,
            "language": journalist.language,
            "status": journalist.status,
            "created_at": when(journalist.created_at),
            "confirmed_at": when(journalist.confirmed_at),
            "unsubscribed_at": when(journalist.unsubscribed_at),
            "timezone": journalist.timezone,
            "digest_time": format_minute(journalist.digest_minute),
            "digest_weekday": journalist.digest_weekday,
            "verified_press_since": when(journalist.verified_at),
        },
        "subscriptions": [
            {
                "countries": s.countries,
                "topics": s.topics,
                "cadence": s.cadence,
                "created_at": when(s.created_at),
            }
            for s in journalist.subscriptions
        ],
        "deliveries": [
            {
                "item": title,
                "status": d.status,
                "attempts": d.attempts,
                "sent_at": when(d.sent_at),
                "message_id": d.message_id,
            }
            for d, title in deliveries
        ],
        "unsubscribes": [{"method": e.method, "at": when(e.created_at)} for e in events],
        # Kept only when ALERTS_TRACK_CLICKS=individual: which link of which alert, when.
        "clicks": [
            {"item": title, "link": c.number, "kind": c.kind, "at": when(c.created_at)}
            for c, title in clicks
        ],
        "suppression": (
            {"reason": suppression.reason, "since": when(suppression.created_at)}
            if suppression
            else None
        ),
    }


def erase(
    session: Session, journalist_id: int, now: datetime, hasher: Callable[[str], str]
) -> None:
    """Forget the person; keep the delivery history, now anonymous.

    The address is kept only as a keyed hash in the suppression list, so an
    import can never sign them up again; confirming a new sign-up (proof that
    they own the mailbox) lifts it.
    """
    journalist = session.get(Journalist, journalist_id)
    if journalist is None or journalist.erased_at is not None:
        return
    if journalist.email is not None:
        session.execute(
            delete(Suppression).where(
                Suppression.email == journalist.email,
                Suppression.reason.startswith(UNSUBSCRIBED_REASON),
            )
        )
        hashed = hasher(journalist.email)
        if session.get(Suppression, hashed) is None:
            session.add(
                Suppression(email=hashed, reason=f"{UNSUBSCRIBED_REASON} (erased)", created_at=now)
            )
    _cancel_pending(session, journalist_id, "cancelled: journalist erased")
    session.execute(delete(ClickEvent).where(ClickEvent.journalist_id == journalist_id))
    journalist.subscriptions.clear()
    journalist.email = None
    journalist.name = ""
    journalist.outlet = ""
    journalist.status = JournalistStatus.UNSUBSCRIBED
    journalist.unsubscribed_at = journalist.unsubscribed_at or now
    journalist.erased_at = now
    session.add(
        UnsubscribeEvent(
            journalist_id=journalist_id, method=UnsubscribeMethod.ERASED, created_at=now
        )
    )
