"""End to end: publish → fan-out → send_batch → SMTP, through a real worker and broker."""

from __future__ import annotations

import re
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import parseaddr

from sqlalchemy import insert, select

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    ItemCountry,
    ItemStatus,
    ItemTopic,
    Journalist,
    JournalistStatus,
    Suppression,
    utcnow,
)
from alerts.core.tokens import Purpose, TokenSigner
from tests.conftest import SECRET, Stack
from tests.factories import journalist, published_item, suppress

TITLE = "Mexico: “Open season” on asylum seekers at the border"


def _population(session) -> set[str]:  # type: ignore[no-untyped-def]
    """Journalists around an item tagged MX + asylum; returns who must receive it."""
    journalist(session, "region@example.net", (["americas"], []))
    journalist(session, "country@example.net", (["MX"], []))
    journalist(session, "topic@example.net", ([], ["asylum"]))
    journalist(session, "any@example.net", ([], []))
    journalist(
        session,
        "three@example.net",
        (["MX"], []),
        (["americas"], ["asylum"]),
        ([], ["asylum", "torture"]),
    )
    journalist(session, "both@example.net", (["MX", "US"], ["asylum"]))
    journalist(session, "wrong-country@example.net", (["FR"], []))
    journalist(session, "wrong-topic@example.net", (["MX"], ["torture"]))
    journalist(session, "europe-asylum@example.net", (["europe"], ["asylum"]))
    journalist(session, "digest@example.net", (["MX"], [], "daily"))
    journalist(session, "mixed@example.net", (["FR"], []), ([], ["torture"]))
    journalist(session, "unsubscribed@example.net", ([], []), status=JournalistStatus.UNSUBSCRIBED)
    journalist(session, "pending@example.net", ([], []), status=JournalistStatus.PENDING)
    journalist(session, "suppressed@example.net", ([], []))
    suppress(session, "suppressed@example.net")
    bulk = {f"bulk{i:02d}@example.org" for i in range(20)}
    for email in sorted(bulk):
        journalist(session, email, (["MX"], ["asylum"]))
    return {
        "region@example.net",
        "country@example.net",
        "topic@example.net",
        "any@example.net",
        "three@example.net",
        "both@example.net",
    } | bulk


def _text_and_html(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    return parts[0].get_content(), parts[1].get_content()


def test_each_matching_journalist_gets_exactly_one_well_formed_email(pipeline: Stack) -> None:
    with pipeline.session() as session:
        expected = _population(session)
        item_id = published_item(
            session,
            title=TITLE,
            countries=["MX"],
            topics=["asylum"],
            summary="Asylum seekers face <violence> & abuse.",
            body="First para.\n\nSecond para.",
        )
        session.commit()

    counts = pipeline.wait_for_item(item_id)
    assert counts == {DeliveryStatus.SENT: len(expected)}

    received = pipeline.received()
    recipients = Counter(r for message in received for r in message.rcpt_tos)
    assert set(recipients) == expected
    assert all(n == 1 for n in recipients.values()), recipients

    signer = TokenSigner(SECRET)
    base = pipeline.settings.base_url
    with pipeline.session() as session:
        message_ids = dict(
            session.execute(
                select(Delivery.journalist_id, Delivery.message_id).where(
                    Delivery.item_id == item_id
                )
            ).all()
        )
        ids = dict(session.execute(select(Journalist.email, Journalist.id)).all())

    for raw in received:
        message = raw.parsed()
        to = raw.rcpt_tos[0]
        assert parseaddr(str(message["To"]))[1] == to
        assert message["Subject"] == TITLE
        assert parseaddr(str(message["From"])) == ("Press Office", "press-alerts@ngo.example")
        assert message["Reply-To"] == "press@ngo.example"
        assert message["Date"] is not None and message["Date"].datetime is not None
        assert message["Message-ID"] == message_ids[ids[to]]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = re.fullmatch(
            rf"<({re.escape(base)}/u/([^>]+))>", str(message["List-Unsubscribe"]).strip()
        )
        assert unsubscribe, message["List-Unsubscribe"]
        assert signer.read(Purpose.UNSUBSCRIBE, unsubscribe.group(2)) == ids[to]
        text, html = _text_and_html(message)
        assert TITLE in text and "Asylum seekers face <violence> & abuse." in text
        assert "Asylum seekers face &lt;violence&gt; &amp; abuse." in html
        assert "<violence>" not in html
        assert "Second para." in text and "<p>Second para.</p>" in html.replace("\n", "")
        preferences = re.search(rf"{re.escape(base)}/preferences/(\S+)", text)
        assert preferences and signer.read(Purpose.PREFERENCES, preferences.group(1)) == ids[to]
        assert unsubscribe.group(1) in text
        assert f'href="{unsubscribe.group(1)}"' in html
        assert 'style="' in html  # CSS inlined for clients that drop <style>
        assert re.search(r'<a href="mailto:press@ngo\.example"[^>]*>press@ngo\.example</a>', html)


def test_rerunning_fan_out_sends_nothing_more(pipeline: Stack) -> None:
    with pipeline.session() as session:
        journalist(session, "one@example.net", (["MX"], []))
        journalist(session, "two@example.net", ([], ["asylum"]))
        item_id = published_item(session, countries=["MX"], topics=["asylum"])
        session.commit()
    pipeline.wait_for_item(item_id)
    assert len(pipeline.received()) == 2

    logged = len(pipeline.log_path.read_text())
    pipeline.app.enqueue_fan_out(item_id)
    pipeline.app.enqueue_fan_out(item_id)

    def runs() -> int:
        with pipeline.session() as session:
            fan_out = session.get(FanOut, item_id)
            return fan_out.runs if fan_out else 0

    def tasks_done() -> int:
        return pipeline.log_path.read_text()[logged:].count(f"fan-out item_id={item_id} queued=")

    pipeline.wait_until(lambda: tasks_done() == 2, what="two more fan-out tasks")
    # Two runs at once share one plan (the second joins the first's slices): recorded
    # once or twice, as they met, and never with a row or an email more.
    pipeline.wait_until(lambda: runs() in (2, 3), what="the re-run recorded")
    time.sleep(1.5)  # room for any wrongly queued batch to reach the sink
    assert len(pipeline.received()) == 2
    with pipeline.session() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.item_id == item_id))
        assert sorted(statuses) == [DeliveryStatus.SENT, DeliveryStatus.SENT]


def test_sweep_fans_out_an_item_published_by_another_application(pipeline: Stack) -> None:
    """A CMS writing straight to the database enqueues nothing; the sweep catches it."""
    with pipeline.session() as session:
        journalist(session, "cms-reader@example.net", ([], ["torture"]))
        session.commit()
    with pipeline.app.runtime.engine.begin() as conn:
        item_id = conn.execute(
            insert(Item)
            .values(
                title="Written by the CMS",
                summary="",
                body="",
                kind="statement",
                language="en",
                status=ItemStatus.PUBLISHED,
                published_at=utcnow(),
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            .returning(Item.id)
        ).scalar_one()
        conn.execute(insert(ItemTopic).values(item_id=item_id, topic="torture"))
        conn.execute(insert(ItemCountry).values(item_id=item_id, country="TR"))
    time.sleep(1.1)  # the sweep leaves freshly published items to the normal route
    pipeline.app.send_task("alerts.sweep", queue="periodic")
    pipeline.wait_for_item(item_id)
    assert [r.rcpt_tos for r in pipeline.received()] == [("cms-reader@example.net",)]
    assert pipeline.received()[0].parsed()["Subject"] == "Written by the CMS"


def test_relay_refusals_are_recorded_and_no_such_user_is_suppressed(pipeline: Stack) -> None:
    pipeline.sink.rcpt_replies = {
        "gone@example.net": "550 5.1.1 <gone@example.net>: no such user",
        "busy@example.net": "451 4.3.0 try again later",
        "too-big@example.net": "552 5.3.4 message too big",
    }
    with pipeline.session() as session:
        for email in (
            "gone@example.net",
            "busy@example.net",
            "too-big@example.net",
            "fine@example.net",
        ):
            journalist(session, email, ([], []))
        item_id = published_item(session, countries=["MX"])
        session.commit()

    def settled() -> bool:
        with pipeline.session() as session:
            return (
                not session.scalars(
                    select(Delivery.id).where(
                        Delivery.item_id == item_id,
                        Delivery.status.in_([DeliveryStatus.SENDING])
                        | (
                            (Delivery.status == DeliveryStatus.PENDING)
                            & Delivery.last_reply.is_(None)
                        ),
                    )
                ).first()
                and session.get(FanOut, item_id) is not None
            )

    pipeline.wait_until(settled, what="every delivery attempted once")
    with pipeline.session() as session:
        outcome = {
            email: (status, reply, next_attempt)
            for email, status, reply, next_attempt in session.execute(
                select(
                    Journalist.email, Delivery.status, Delivery.last_reply, Delivery.next_attempt_at
                )
                .join(Journalist, Journalist.id == Delivery.journalist_id)
                .where(Delivery.item_id == item_id)
            ).all()
        }
        suppressed = set(session.scalars(select(Suppression.email)))
        gone_status = session.scalar(
            select(Journalist.status).where(Journalist.email == "gone@example.net")
        )
    assert outcome["fine@example.net"][0] == DeliveryStatus.SENT
    assert outcome["gone@example.net"][:2] == (
        DeliveryStatus.FAILED,
        "550 5.1.1 <gone@example.net>: no such user",
    )
    assert outcome["too-big@example.net"][:2] == (
        DeliveryStatus.FAILED,
        "552 5.3.4 message too big",
    )
    status, reply, next_attempt = outcome["busy@example.net"]
    assert (status, reply) == (DeliveryStatus.PENDING, "451 4.3.0 try again later")
    assert next_attempt is not None and next_attempt > utcnow()
    assert suppressed == {"gone@example.net"}
    assert gone_status == JournalistStatus.SUPPRESSED
    assert [r.rcpt_tos for r in pipeline.received()] == [("fine@example.net",)]


def test_each_journalist_reads_the_alert_around_the_item_in_their_language(
    pipeline: Stack,
) -> None:
    with pipeline.session() as session:
        journalist(session, "lucia@example.mx", ([], []), language="es", name="Lucía")
        journalist(session, "tom@example.net", ([], []), language="en", name="Tom")
        item_id = published_item(
            session,
            title="Mexico: report",
            countries=["MX", "US"],
            topics=["asylum"],
            kind="report",
        )
        session.commit()
    pipeline.wait_for_item(item_id)
    texts = {}
    for raw in pipeline.received():
        message = raw.parsed()
        assert message["Subject"] == "Mexico: report"  # the item itself is not translated
        texts[raw.rcpt_tos[0]] = _text_and_html(message)
    spanish_text, spanish_html = texts["lucia@example.mx"]
    english_text, _ = texts["tom@example.net"]
    assert "Países: Estados Unidos, México" in spanish_text
    assert "Temas: Asilo" in spanish_text and "INFORME" in spanish_text
    assert "Hola, Lucía:" in spanish_text and "Cancelar suscripción" in spanish_html
    assert "Countries: Mexico, United States" in english_text
    assert "Hello Tom," in english_text and "REPORT" in english_text
