"""Recording one click, after its redirect has been answered.

Aggregate mode (the default) keeps counters only: per item, per link, per hour
since publication, and, counted once per person, per country and topic of the
journalist's subscriptions and per outlet. The delivery id serves to count a
person once, as a keyed hash (``click_seen.mark``) that names nobody, and is
then dropped. Individual mode also writes who clicked what (``click_events``),
which the journalist's export shows and erasure deletes.

A person is counted once per link (a flood of clicks on one token is one click)
and once per item (``unique``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.core.click_tokens import ClickToken
from alerts.core.db import upsert_insert
from alerts.core.models import (
    ClickCount,
    ClickEvent,
    ClickLink,
    ClickSeen,
    Delivery,
    Item,
    Journalist,
)
from alerts.engagement.machines import BURST_SECONDS, HUMAN, MACHINE, too_soon

# An outlet is named in the counters only once this many of its journalists clicked;
# until then it is counted under a keyed hash of its name, so one reader of a small
# outlet is never written down as such.
OUTLET_MINIMUM = 5
# Per click (once per person and link): all clicks, the link, the hour.
# Per person (once per item): unique, country, topic, outlet.
PERSON = "unique"
CHART_HOURS = 48


@dataclass(frozen=True)
class Recorded:
    kind: str  # human or machine, after every rule
    counted: bool  # False: this person's click on this link was counted already


class Marks:
    """Keyed hashes standing for (item, delivery, link, kind): equal for one person's
    repeated clicks, meaningless without the server's secret."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(
            secret.encode(), b"newsroom-alerts.click-seen", hashlib.sha256
        ).digest()

    def outlet(self, outlet: str) -> str:
        return hmac.digest(self._key, b"outlet." + outlet.encode(), "sha256")[:16].hex()

    def of(self, item_id: int, delivery_id: int, number: int, kind: str) -> str:
        message = f"{item_id}.{delivery_id}.{number}.{kind}".encode()
        return hmac.digest(self._key, message, "sha256")[:16].hex()


def bump(session: Session, item_id: int, kind: str, dimension: str, value: str, by: int) -> None:
    insert = upsert_insert(session)
    statement = insert(ClickCount).values(
        item_id=item_id, kind=kind, dimension=dimension, value=value[:200], clicks=by
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["item_id", "kind", "dimension", "value"],
            set_={"clicks": ClickCount.clicks + by},
        )
    )


def bump_person(
    session: Session, item_id: int, kind: str, dimension: str, value: str, by: int, marks: Marks
) -> None:
    if dimension != "outlet":
        bump(session, item_id, kind, dimension, value, by)
        return
    hashed = marks.outlet(value)
    bump(session, item_id, kind, "outlet-hash", hashed, by)
    clicks = session.scalar(
        select(ClickCount.clicks).where(
            ClickCount.item_id == item_id,
            ClickCount.kind == kind,
            ClickCount.dimension == "outlet-hash",
            ClickCount.value == hashed,
        )
    )
    named = session.get(ClickCount, (item_id, kind, "outlet", value[:200]))
    if clicks is not None and clicks >= OUTLET_MINIMUM:
        if named is None:
            session.add(
                ClickCount(
                    item_id=item_id, kind=kind, dimension="outlet", value=value[:200], clicks=clicks
                )
            )
        else:
            named.clicks = clicks
    elif named is not None:
        session.delete(named)


def _person_dimensions(journalist: Journalist) -> list[tuple[str, str]]:
    countries = sorted({c for s in journalist.subscriptions for c in s.countries})
    topics = sorted({t for s in journalist.subscriptions for t in s.topics})
    found = [(PERSON, "")]
    found += [("country", c) for c in countries]
    found += [("topic", t) for t in topics]
    if journalist.outlet.strip():
        found.append(("outlet", " ".join(journalist.outlet.split()).casefold()))
    return found


def _claim_mark(session: Session, item_id: int, mark: str, now: datetime) -> bool:
    """True when this mark is new (the first such click); False when it was seen."""
    insert = upsert_insert(session)
    # RETURNING, not rowcount: a driver may not report rowcount for this statement.
    claimed = session.scalar(
        insert(ClickSeen)
        .values(item_id=item_id, mark=mark, created_at=now)
        .on_conflict_do_nothing()
        .returning(ClickSeen.mark)
    )
    return claimed is not None


def _count(
    session: Session,
    item_id: int,
    kind: str,
    number: int,
    hour: int | None,
    person: Iterable[tuple[str, str]] | None,
    by: int,
    marks: Marks,
) -> None:
    bump(session, item_id, kind, "all", "", by)
    bump(session, item_id, kind, "link", str(number), by)
    if hour is not None:
        bump(session, item_id, kind, "hour", str(hour), by)
    for dimension, value in person or ():
        bump_person(session, item_id, kind, dimension, value, by, marks)


def record(
    session: Session,
    token: ClickToken,
    kind: str,
    now: datetime,
    marks: Marks,
    individual: bool,
) -> Recorded | None:
    """Count the click; None when there is nothing to count it against (no such
    delivery any more, a foreign item, an erased journalist, a link the item lacks)."""
    delivery = session.get(Delivery, token.delivery_id)
    if delivery is None or delivery.item_id != token.item_id:
        return None
    link = session.get(ClickLink, (token.item_id, token.language, token.number))
    journalist = session.get(Journalist, delivery.journalist_id)
    item = session.get(Item, token.item_id)
    if link is None or journalist is None or journalist.erased_at is not None or item is None:
        return None
    if kind == HUMAN and too_soon(now, delivery.sent_at):
        kind = MACHINE
    if kind == HUMAN and _burst(session, token, now, marks):
        kind = MACHINE
        _recount_burst(session, token, journalist, now, marks, individual)
    hour = _hour(item, now)
    if not _claim_mark(session, token.item_id, marks.of(*_ids(token), kind), now):
        return Recorded(kind, counted=False)
    person = None
    if _claim_mark(
        session, token.item_id, marks.of(token.item_id, token.delivery_id, 0, kind), now
    ):
        person = _person_dimensions(journalist)
    _count(session, token.item_id, kind, token.number, hour, person, 1, marks)
    if individual:
        session.add(
            ClickEvent(
                item_id=token.item_id,
                journalist_id=journalist.id,
                number=token.number,
                kind=kind,
                created_at=now,
            )
        )
    return Recorded(kind, counted=True)


def _ids(token: ClickToken) -> tuple[int, int, int]:
    return token.item_id, token.delivery_id, token.number


def _hour(item: Item, now: datetime) -> int | None:
    start = item.published_at
    if start is None:
        return None
    hour = int((now - start).total_seconds() // 3600)
    return hour if 0 <= hour < CHART_HOURS else None


def _link_numbers(session: Session, token: ClickToken) -> list[int]:
    return list(
        session.scalars(
            select(ClickLink.number).where(
                ClickLink.item_id == token.item_id, ClickLink.language == token.language
            )
        )
    )


def _recent_human(
    session: Session, token: ClickToken, now: datetime, marks: Marks
) -> dict[int, ClickSeen]:
    """The other links of this email a human click opened in the last BURST_SECONDS."""
    wanted = {
        marks.of(token.item_id, token.delivery_id, n, HUMAN): n
        for n in _link_numbers(session, token)
        if n != token.number
    }
    if not wanted:
        return {}
    rows = session.scalars(
        select(ClickSeen).where(
            ClickSeen.item_id == token.item_id,
            ClickSeen.mark.in_(list(wanted)),
            ClickSeen.created_at >= now - timedelta(seconds=BURST_SECONDS),
        )
    )
    return {wanted[row.mark]: row for row in rows}


def _burst(session: Session, token: ClickToken, now: datetime, marks: Marks) -> bool:
    """Rule 4: another link of the same email was opened a moment ago."""
    if _recent_human(session, token, now, marks):
        return True
    machine_marks = [
        marks.of(token.item_id, token.delivery_id, n, MACHINE)
        for n in _link_numbers(session, token)
        if n != token.number
    ]
    if not machine_marks:
        return False
    found = session.scalar(
        select(ClickSeen.mark).where(
            ClickSeen.item_id == token.item_id,
            ClickSeen.mark.in_(machine_marks),
            ClickSeen.created_at >= now - timedelta(seconds=BURST_SECONDS),
        )
    )
    return found is not None


def _recount_burst(
    session: Session,
    token: ClickToken,
    journalist: Journalist,
    now: datetime,
    marks: Marks,
    individual: bool,
) -> None:
    """The human clicks of a burst were a machine's: move them to the machine counts."""
    item = session.get(Item, token.item_id)
    for number, seen in _recent_human(session, token, now, marks).items():
        hour = _hour(item, seen.created_at) if item is not None else None
        session.delete(seen)
        _count(session, token.item_id, HUMAN, number, hour, None, -1, marks)
        if _claim_mark(session, token.item_id, marks.of(*_ids(token)[:2], number, MACHINE), now):
            _count(session, token.item_id, MACHINE, number, hour, None, 1, marks)
    person_mark = marks.of(token.item_id, token.delivery_id, 0, HUMAN)
    person = session.get(ClickSeen, (token.item_id, person_mark))
    if person is not None and person.created_at >= now - timedelta(seconds=BURST_SECONDS):
        session.delete(person)
        for dimension, value in _person_dimensions(journalist):
            bump_person(session, token.item_id, HUMAN, dimension, value, -1, marks)
        if _claim_mark(
            session, token.item_id, marks.of(token.item_id, token.delivery_id, 0, MACHINE), now
        ):
            for dimension, value in _person_dimensions(journalist):
                bump_person(session, token.item_id, MACHINE, dimension, value, 1, marks)
    if individual:
        session.execute(
            update(ClickEvent)
            .where(
                ClickEvent.item_id == token.item_id,
                ClickEvent.journalist_id == journalist.id,
                ClickEvent.kind == HUMAN,
                ClickEvent.created_at >= now - timedelta(seconds=BURST_SECONDS),
            )
            .values(kind=MACHINE)
        )
    session.flush()


def record_open(session: Session, token: ClickToken, now: datetime, marks: Marks) -> bool:
    """An open (the tracking image fetched), once per delivery; True when it counted.

    Opens are unreliable (mail apps and privacy proxies fetch images themselves), so
    they are only ever a total per item: nothing per person, whatever the click mode.
    """
    delivery = session.get(Delivery, token.delivery_id)
    if delivery is None or delivery.item_id != token.item_id:
        return False
    mark = marks.of(token.item_id, token.delivery_id, 0, "open")
    if not _claim_mark(session, token.item_id, mark, now):
        return False
    bump(session, token.item_id, "open", PERSON, "", 1)
    return True
