"""Digests end to end: the beat task plans, a real worker sends, the sink receives, and
the digest's own one-click unsubscribe ends that digest only."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.core.models import (
    Cadence,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    Journalist,
    JournalistStatus,
    Subscription,
    utcnow,
)
from alerts.web import create_app
from alerts.worker.app import PLAN_DIGESTS
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.test_ops import _metrics
from tests.webclient import wait_for_mail

SCRIPT = Path(__file__).with_name("rfc8058_unsubscribe.py")


def _parts(received: bytes) -> tuple[EmailMessage, str, str]:
    message = message_from_bytes(received, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return message, text.get_content().replace("\r\n", "\n"), html.get_content()


def test_digest_is_sent_once_and_its_unsubscribe_ends_only_that_digest(
    pipeline: Stack, live_server: str, tmp_path: Path
) -> None:
    now = utcnow()
    tokyo = ZoneInfo("Asia/Tokyo")
    # Due an hour ago in Tokyo, so this run's period holds what was published since.
    due = (now - timedelta(hours=1)).astimezone(tokyo)
    with pipeline.session() as session:
        dana = journalist(
            session,
            "dana@tokyo.example",
            (["MX", "BR"], [], Cadence.DAILY),
            ([], ["torture"]),  # immediate
            name="Dana",
        )
        dana.timezone, dana.digest_minute = "Asia/Tokyo", due.hour * 60 + due.minute
        session.flush()
        items = {}
        for title, hours_ago, countries in (
            ("Older Mexico report", 5, ["MX"]),
            ("Brazil statement", 4, ["BR"]),
            ("Newer Mexico release", 3, ["MX"]),
            ("Too recent for this digest", 0.5, ["MX"]),
            ("Nothing to do with Dana", 2, ["FR"]),
        ):
            item_id = published_item(session, title=title, countries=countries)
            session.get(Item, item_id).published_at = now - timedelta(hours=hours_ago)  # type: ignore[union-attr]
            items[title] = item_id
        session.commit()
    for item_id in items.values():
        pipeline.wait_for_item(item_id)  # the immediate fan-outs: none matches Dana
    pipeline.sink.clear()
    sent_digests = (
        "alerts_digests_total",
        (("cadence", "daily"), ("outcome", "sent"), ("reason", "250")),
    )
    with TestClient(create_app(pipeline.app)) as client:
        before = _metrics(client).get(sent_digests, 0.0)

    pipeline.app.send_task(PLAN_DIGESTS)
    wait_for_mail(pipeline, "dana@tokyo.example")
    pipeline.wait_until(
        lambda: _digest_status(pipeline) == [DigestStatus.SENT], what="the digest recorded sent"
    )
    pipeline.app.send_task(PLAN_DIGESTS)  # a second beat tick in the same period: nothing
    [received] = [r for r in pipeline.received() if "dana@tokyo.example" in r.rcpt_tos]
    message, text, html = _parts(received.data)

    assert "daily press digest" in str(message["Subject"])
    assert str(message["Subject"]).endswith(": 3 items")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Grouped by country, the group with the newest item first; newest first inside.
    for body, mexico, brazil in (
        (text, "\nMEXICO\n", "\nBRAZIL\n"),
        (html, ">Mexico</h2>", ">Brazil</h2>"),
    ):
        marks = (mexico, "Newer Mexico release", "Older Mexico report", brazil, "Brazil statement")
        order = [body.index(mark) for mark in marks]
        assert order == sorted(order), body
        assert "Too recent" not in body and "Nothing to do with Dana" not in body
        assert "Stop this digest" in body
    with pipeline.session() as session:
        rows = dict(
            session.execute(
                select(Delivery.item_id, Delivery.status).where(Delivery.digest_id.is_not(None))
            ).all()
        )
    assert rows == {
        items[t]: DeliveryStatus.SENT
        for t in ("Older Mexico report", "Brazil statement", "Newer Mexico release")
    }
    with TestClient(create_app(pipeline.app)) as client:
        assert _metrics(client).get(sent_digests, 0.0) == before + 1

    eml = tmp_path / "digest.eml"
    eml.write_bytes(received.data)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(eml)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with pipeline.session() as session:
        person = session.scalar(select(Journalist))
        cadences = session.scalars(select(Subscription.cadence)).all()
    assert person is not None and person.status == JournalistStatus.ACTIVE
    assert cadences == [Cadence.IMMEDIATE]  # the daily digest is gone, the alerts stay
    assert len(_digest_status(pipeline)) == 1


def _digest_status(pipeline: Stack) -> list[str]:
    with pipeline.session() as session:
        return list(session.scalars(select(Digest.status)))
