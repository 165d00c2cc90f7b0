"""Bounces and complaints: parsing real-world shapes, recording them, and the SMTP server.

The samples in tests/data follow RFC 3464 (DSN) and RFC 5965 (ARF) as Postfix,
Exim, Gmail and Yahoo write them. Their placeholder values (the VERP address,
Message-ID and recipient) are swapped for real ones in the end-to-end tests.
"""

from __future__ import annotations

import mailbox
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.bounces import reports as bounces
from alerts.bounces.server import BounceHandler, make_handler, start_bounce_server
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import (
    BounceEvent,
    BounceKind,
    Delivery,
    DeliveryStatus,
    Journalist,
    JournalistStatus,
    Suppression,
    utcnow,
)
from alerts.core.tokens import TokenSigner
from alerts.dev.sink import free_port
from tests.conftest import SECRET, Stack
from tests.factories import fan_out, journalist, published_item

DATA = Path(__file__).parent / "data"
SAMPLE_VERP = "bounces+345.0123456789abcdef@ngo.example"
SAMPLE_MESSAGE_ID = "<alert.12.345.0123456789ab@ngo.example>"
SAMPLE_RECIPIENT = "jane.doe@example.net"
WINDOW = timedelta(days=14)
SIGNER = TokenSigner(SECRET)


def sample(name: str, **replace: str) -> bytes:
    text = (DATA / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode()


def parsed(name: str, **replace: str) -> bounces.Report:
    report = bounces.parse(sample(name, **replace))
    assert report is not None
    return report


# --- parsing -----------------------------------------------------------------


def test_postfix_dsn_user_unknown_is_a_hard_bounce() -> None:
    report = parsed("bounce-postfix-hard.eml")
    assert (report.kind, report.status) == (BounceKind.HARD, "5.1.1")
    assert "User unknown in virtual mailbox table" in report.detail
    # The copy of our message says which alert it was.
    assert report.original_message_id == SAMPLE_MESSAGE_ID
    assert report.original_return_path == SAMPLE_VERP


def test_mailbox_full_delay_is_a_soft_bounce() -> None:
    report = parsed("bounce-postfix-delayed.eml")
    assert (report.kind, report.status) == (BounceKind.SOFT, "4.2.2")
    assert "Mailbox full" in report.detail
    assert report.original_message_id == SAMPLE_MESSAGE_ID  # from text/rfc822-headers


def test_giving_up_on_a_temporary_failure_is_soft_not_hard() -> None:
    # Postfix after maximal_queue_lifetime: "failed", but for a reason that was temporary.
    report = parsed(
        "bounce-postfix-hard.eml",
        **{"Status: 5.1.1": "Status: 4.4.1", "550 5.1.1 <jane": "421 4.4.1 <jane"},
    )
    assert (report.kind, report.status) == (BounceKind.SOFT, "4.4.1")


def test_the_status_comes_from_the_diagnostic_code_when_the_field_is_missing() -> None:
    report = parsed("bounce-postfix-hard.eml", **{"Status: 5.1.1\n": ""})
    assert (report.kind, report.status) == (BounceKind.HARD, "5.1.1")


def test_without_a_status_an_address_in_the_diagnostic_is_not_taken_for_a_code() -> None:
    raw = sample(
        "bounce-postfix-hard.eml",
        **{
            "Status: 5.1.1\n": "",
            "Diagnostic-Code: smtp; 550 5.1.1": "Diagnostic-Code: X-Unix; host 10.4.5.6 said no",
        },
    )
    assert bounces.parse(raw) is None


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_success_notice_is_not_a_bounce(action: str) -> None:
    raw = sample(
        "bounce-postfix-hard.eml",
        **{"Action: failed": f"Action: {action}", "Status: 5.1.1": "Status: 2.0.0"},
    )
    assert bounces.parse(raw) is None


def test_gmail_style_arf_with_rfc822_headers_is_a_complaint() -> None:
    report = parsed("arf-gmail-abuse.eml")
    assert (report.kind, report.status) == (BounceKind.COMPLAINT, None)
    assert report.detail == "abuse (Gmail-FBL/1.0)"
    assert report.original_return_path == SAMPLE_VERP
    assert report.original_message_id == SAMPLE_MESSAGE_ID


def test_yahoo_style_arf_with_the_whole_message_is_a_complaint() -> None:
    report = parsed("arf-yahoo-abuse.eml")
    assert report.kind == BounceKind.COMPLAINT
    assert report.original_return_path is None  # the copy was taken before delivery
    assert report.original_message_id == SAMPLE_MESSAGE_ID


@pytest.mark.parametrize("feedback_type", ["auth-failure", "not-spam", "other", "bogus"])
def test_only_abuse_fraud_and_virus_reports_are_complaints(feedback_type: str) -> None:
    # auth-failure (RFC 6591) is about our DKIM/SPF: no reason to drop the reader.
    raw = sample(
        "arf-gmail-abuse.eml", **{"Feedback-Type: abuse": f"Feedback-Type: {feedback_type}"}
    )
    assert bounces.parse(raw) is None


def test_a_report_counts_in_a_mixed_wrapper_but_not_as_an_attached_message() -> None:
    inner = (DATA / "arf-yahoo-abuse.eml").read_text()
    raw = (
        "From: abuse-desk@isp.example\nTo: fbl@ngo.example\nSubject: Fwd: report\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\nContent-Type: text/plain\n\nForwarding a report.\n"
        f"--outer\nContent-Type: message/rfc822\n\n{inner}\n--outer--\n"
    )
    # Attached as message/rfc822 the report is a copy of some other mail, not a
    # report to us: only a multipart/report in the mail's own structure counts.
    assert bounces.parse(raw.encode()) is None
    nested = raw.replace("Content-Type: message/rfc822\n\n", "")
    report = bounces.parse(nested.encode())
    assert report is not None and report.kind == BounceKind.COMPLAINT


def test_an_exim_plain_bounce_with_one_clear_code_is_hard() -> None:
    report = parsed("bounce-exim-plain.eml")
    assert (report.kind, report.status) == (BounceKind.HARD, "5.1.1")


def test_a_plain_bounce_quoting_two_codes_is_left_to_a_human() -> None:
    raw = sample(
        "bounce-exim-plain.eml",
        **{"  old.hand@example.com\n": "  old.hand@example.com\n    452 4.2.2 Mailbox full\n"},
    )
    assert bounces.parse(raw) is None


def test_mail_from_a_person_quoting_a_code_is_not_a_bounce() -> None:
    raw = sample("bounce-exim-plain.eml", **{"Mailer-Daemon@": "someone@"}).replace(
        b"X-Failed-Recipients: old.hand@example.com\n", b""
    )
    assert bounces.parse(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        (DATA / "bounce-garbage.eml").read_bytes(),
        b"",
        b"\x00\xff\xfe binary \x89PNG\r\n\x1a\n",
        b"Subject: hello\n\nJust a note, no bounce here.\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b--\n",
        b"Content-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n",
    ],
    ids=["garbage", "empty", "binary", "plain", "empty-report", "bare-status-part"],
)
def test_garbage_is_unparseable(raw: bytes) -> None:
    assert bounces.parse(raw) is None


def test_details_keep_no_addresses() -> None:
    # Details outlive an erased journalist: they must not keep the address.
    for name in ("bounce-postfix-hard.eml", "bounce-postfix-delayed.eml", "bounce-exim-plain.eml"):
        assert "@" not in parsed(name).detail


def test_an_out_of_office_reply_is_an_auto_reply_and_a_bounce_is_not() -> None:
    ooo = (
        b"From: Jane Doe <jane.doe@example.net>\nTo: " + SAMPLE_VERP.encode() + b"\n"
        b"Subject: Out of office: Mexico\nAuto-Submitted: auto-replied\n\n"
        b"I am away until Monday; for urgent matters call 555 5.5.5.\n"
    )
    assert bounces.parse(ooo) is None
    assert bounces.looks_like_auto_reply(ooo)
    # Bounces carry Auto-Submitted too: those are never dismissed as auto-replies.
    for name in ("bounce-postfix-hard.eml", "bounce-exim-plain.eml", "bounce-garbage.eml"):
        assert not bounces.looks_like_auto_reply(sample(name))


# --- finding the delivery and recording, on SQLite -----------------------------


@dataclass
class Store:
    session: Session
    delivery_ids: list[int]
    journalist_id: int


def _store(tmp_path: Path, items: int = 1, email: str = SAMPLE_RECIPIENT) -> Store:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    upgrade(url)
    session = make_session_factory(make_engine(url))()
    person = journalist(session, email, ([], []))
    ids: list[int] = []
    for n in range(items):
        item_id = published_item(session, countries=["MX"], title=f"Item {n}")
        ids += fan_out(session, item_id, utcnow())
    for delivery_id in ids:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.status = DeliveryStatus.SENT
        row.message_id = f"<alert.{row.item_id}.{delivery_id}.0123456789ab@ngo.example>"
    session.commit()
    return Store(session, ids, person.id)


def _verp(delivery_id: int) -> str:
    return f"{SIGNER.verp_local_part(delivery_id)}@ngo.example"


def _events(session: Session) -> list[tuple[int | None, str, str | None]]:
    rows = session.execute(
        select(BounceEvent.delivery_id, BounceEvent.kind, BounceEvent.status).order_by(
            BounceEvent.id
        )
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_envelope_verp_address_names_the_delivery(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    report = parsed("bounce-postfix-hard.eml")
    found = bounces.find_delivery(store.session, SIGNER, report, [_verp(delivery_id)])
    assert found == bounces.Found(delivery_id, "envelope")


def test_a_forged_envelope_token_finds_nothing_whatever_the_report_says(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    forged = f"bounces+{delivery_id}.{'0' * 16}@ngo.example"
    # Final-Recipient and the original's Return-Path name a real journalist and
    # delivery; without a valid signature or the stored Message-ID they count for nothing.
    report = parsed("bounce-postfix-hard.eml", **{SAMPLE_VERP: forged})
    found = bounces.find_delivery(store.session, SIGNER, report, [forged])
    assert found == bounces.Found(None, "forged return path")


def test_a_feedback_report_is_found_by_the_originals_return_path(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    report = parsed("arf-gmail-abuse.eml", **{SAMPLE_VERP: _verp(delivery_id)})
    found = bounces.find_delivery(store.session, SIGNER, report, ["fbl@ngo.example"])
    assert found == bounces.Found(delivery_id, "return-path")


def test_a_feedback_report_is_found_by_the_stored_message_id(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    row = store.session.get(Delivery, delivery_id)
    assert row is not None and row.message_id is not None
    report = parsed("arf-yahoo-abuse.eml", **{SAMPLE_MESSAGE_ID: row.message_id})
    found = bounces.find_delivery(store.session, SIGNER, report, ["fbl@ngo.example"])
    assert found == bounces.Found(delivery_id, "message-id")
    # The right shape with the wrong tag is not ours.
    guessed = row.message_id.replace("0123456789ab", "ba9876543210")
    report = parsed("arf-yahoo-abuse.eml", **{SAMPLE_MESSAGE_ID: guessed})
    found = bounces.find_delivery(store.session, SIGNER, report, ["fbl@ngo.example"])
    assert found.delivery_id is None


def test_one_report_for_two_deliveries_is_ambiguous(tmp_path: Path) -> None:
    store = _store(tmp_path, items=2)
    report = parsed("bounce-postfix-hard.eml")
    envelope = [_verp(d) for d in store.delivery_ids]
    assert bounces.find_delivery(store.session, SIGNER, report, envelope).delivery_id is None


def test_a_hard_bounce_suppresses_once_however_often_it_arrives(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    report = parsed("bounce-postfix-hard.eml")
    now = utcnow()
    first = bounces.record(store.session, report, delivery_id, now, 3, WINDOW)
    second = bounces.record(store.session, report, delivery_id, now, 3, WINDOW)
    store.session.commit()
    assert (first, second) == (bounces.Result.SUPPRESSED, bounces.Result.DUPLICATE)
    assert _events(store.session) == [(delivery_id, "hard", "5.1.1")]
    suppression = store.session.get(Suppression, SAMPLE_RECIPIENT)
    assert suppression is not None and suppression.reason.startswith("bounce: 5.1.1 ")
    status = store.session.scalar(
        select(Journalist.status).where(Journalist.id == store.journalist_id)
    )
    assert status == JournalistStatus.SUPPRESSED


def test_a_complaint_suppresses_with_its_feedback_type(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    result = bounces.record(
        store.session, parsed("arf-gmail-abuse.eml"), delivery_id, utcnow(), 3, WINDOW
    )
    store.session.commit()
    assert result == bounces.Result.SUPPRESSED
    assert _events(store.session) == [(delivery_id, "complaint", None)]
    suppression = store.session.get(Suppression, SAMPLE_RECIPIENT)
    assert suppression is not None and suppression.reason == "complaint: abuse (Gmail-FBL/1.0)"


def test_soft_bounces_suppress_after_the_limit_of_alerts_within_the_window(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, items=4)
    first, second, third, fourth = store.delivery_ids
    soft = parsed("bounce-postfix-delayed.eml")
    later = parsed("bounce-postfix-delayed.eml", **{"4.2.2": "4.4.7"})
    now = utcnow()

    def record(delivery_id: int, report: bounces.Report, at: timedelta) -> bounces.Result:
        return bounces.record(store.session, report, delivery_id, now + at, 3, WINDOW)

    # One alert outside the window, then two within it: still mailable.
    assert record(first, soft, -WINDOW - timedelta(days=1)) == bounces.Result.COUNTED
    assert record(second, soft, timedelta(0)) == bounces.Result.COUNTED
    assert record(third, soft, timedelta(hours=1)) == bounces.Result.COUNTED
    # A later notice about the same alert is the same problem, not a new one.
    assert record(third, later, timedelta(hours=20)) == bounces.Result.COUNTED
    assert store.session.get(Suppression, SAMPLE_RECIPIENT) is None
    # A third alert within the window: suppressed.
    assert record(fourth, soft, timedelta(days=1)) == bounces.Result.SUPPRESSED
    store.session.commit()
    suppression = store.session.get(Suppression, SAMPLE_RECIPIENT)
    assert suppression is not None
    assert suppression.reason == "soft bounces: 3 alerts in 14 days, last 4.2.2"


def test_a_bounce_for_an_erased_journalist_is_kept_without_suppressing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    [delivery_id] = store.delivery_ids
    person = store.session.get(Journalist, store.journalist_id)
    assert person is not None
    person.email = None
    store.session.commit()
    result = bounces.record(
        store.session, parsed("bounce-postfix-hard.eml"), delivery_id, utcnow(), 3, WINDOW
    )
    assert result == bounces.Result.RECORDED
    assert store.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_a_valid_token_for_a_deleted_delivery_records_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    result = bounces.record(
        store.session, parsed("bounce-postfix-hard.eml"), 999_999, utcnow(), 3, WINDOW
    )
    assert result == bounces.Result.UNKNOWN_DELIVERY
    assert _events(store.session) == []


# --- the handler, without a network --------------------------------------------


def _kept(maildir: Path) -> list[tuple[str, str]]:
    box = mailbox.Maildir(maildir, create=False)
    return sorted((str(m["X-Alerts-Bounce-Reason"]), str(m["X-Alerts-Envelope-To"])) for m in box)


def test_an_error_while_recording_keeps_the_message_and_answers_250(tmp_path: Path) -> None:
    def broken_sessions() -> Session:
        raise OperationalError("SELECT 1", {}, Exception("database is down"))

    handler = BounceHandler(
        broken_sessions,  # type: ignore[arg-type]
        SIGNER,
        tmp_path / "unprocessed",
        soft_limit=3,
        window=WINDOW,
    )
    try:
        reply = handler.process(sample("bounce-postfix-hard.eml"), (SAMPLE_VERP,))
    finally:
        handler.close()
    assert reply.startswith("250 ")
    assert _kept(tmp_path / "unprocessed") == [("error: OperationalError", SAMPLE_VERP)]


def test_when_nothing_can_be_stored_the_sender_is_asked_to_retry(tmp_path: Path) -> None:
    blocker = tmp_path / "unprocessed"
    handler = BounceHandler(
        make_session_factory(make_engine("sqlite://")),
        SIGNER,
        blocker,
        soft_limit=3,
        window=WINDOW,
    )
    # The Maildir's directories vanish and a file takes their place: nothing can be written.
    for sub in ("tmp", "new", "cur"):
        (blocker / sub).rmdir()
    (blocker / "tmp").write_text("")
    try:
        reply = handler.process(b"garbage", (SAMPLE_VERP,))
    finally:
        handler.close()
    assert reply.startswith("451 ")


# --- end to end: real worker, real SMTP ----------------------------------------


@dataclass
class BounceServer:
    handler: BounceHandler
    port: int
    maildir: Path
    domain: str

    def send(self, rcpt: str, data: bytes, mail_from: str = "") -> tuple[int, bytes]:
        """One SMTP transaction; returns the reply to DATA (RCPT refusals raise)."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.ehlo("mx.example.net")
            smtp.mail(mail_from)
            code, message = smtp.rcpt(rcpt)
            if code >= 400:
                raise smtplib.SMTPRecipientsRefused({rcpt: (code, message)})
            # On the wire lines end in CRLF (smtplib leaves bytes as they are).
            return smtp.data(re.sub(rb"\r?\n", b"\r\n", data))

    def kept(self) -> list[tuple[str, str]]:
        return _kept(self.maildir)


@pytest.fixture
def bounce_server(pipeline: Stack, tmp_path: Path) -> Iterator[BounceServer]:
    maildir = tmp_path / "bounces-unprocessed"
    handler = make_handler(pipeline.app.runtime, ["fbl"], maildir)
    controller = start_bounce_server(handler, "127.0.0.1", free_port())
    try:
        yield BounceServer(handler, controller.port, maildir, pipeline.settings.from_domain)
    finally:
        controller.stop()
        handler.close()


@dataclass(frozen=True)
class Sent:
    email: str
    delivery_id: int
    message_id: str
    headers: str  # the header block as the recipient's server received it
    return_path: str


def _deliver_to(pipeline: Stack, *emails: str) -> dict[str, Sent]:
    """Publish an item to these journalists and wait until each got it."""
    with pipeline.session() as session:
        for email in emails:
            journalist(session, email, ([], []))
        item_id = published_item(session, countries=["MX"], topics=["asylum"])
        session.commit()
    assert pipeline.wait_for_item(item_id) == {DeliveryStatus.SENT: len(emails)}
    by_address: dict[str, Sent] = {}
    with pipeline.session() as session:
        rows = session.execute(
            select(Journalist.email, Delivery.id, Delivery.message_id)
            .join(Journalist, Journalist.id == Delivery.journalist_id)
            .where(Delivery.item_id == item_id)
        ).all()
    stored = {str(email): (int(d), str(m)) for email, d, m in rows}
    for received in pipeline.received():
        message = received.parsed()
        [to] = received.rcpt_tos
        if str(message["Message-ID"]).startswith(f"<alert.{item_id}."):
            delivery_id, message_id = stored[to]
            # The Message-ID the recipient saw is the one the delivery record keeps.
            assert str(message["Message-ID"]) == message_id
            head = received.data.decode().replace("\r\n", "\n").split("\n\n", 1)[0]
            by_address[to] = Sent(to, delivery_id, message_id, head, received.mail_from)
    assert set(by_address) == set(emails)
    return by_address


def _dsn_for(sent: Sent, verp: str) -> bytes:
    return sample(
        "bounce-postfix-hard.eml",
        **{SAMPLE_VERP: verp, SAMPLE_MESSAGE_ID: sent.message_id, SAMPLE_RECIPIENT: sent.email},
    )


def _arf_for(sent: Sent) -> bytes:
    """The Gmail-style report, quoting the headers our alert really arrived with."""
    text = sample("arf-gmail-abuse.eml", **{SAMPLE_RECIPIENT: sent.email}).decode()
    headers = f"Return-Path: <{sent.return_path}>\n{sent.headers}\n"
    text = re.sub(
        r"(Content-Type: text/rfc822-headers\n\n).*?(\n--00000000000050046b0630126abd--)",
        lambda m: m.group(1) + headers + m.group(2),
        text,
        flags=re.S,
    )
    return text.encode()


def _verp_address(pipeline: Stack, delivery_id: int) -> str:
    local = pipeline.app.runtime.signer.verp_local_part(delivery_id)
    return f"{local}@{pipeline.settings.from_domain}"


def _status(pipeline: Stack) -> dict[str, str]:
    with pipeline.session() as session:
        rows = session.execute(select(Journalist.email, Journalist.status)).all()
    return {str(email): str(status) for email, status in rows}


def test_a_dsn_and_an_arf_report_suppress_the_addresses_and_stop_their_alerts(
    pipeline: Stack, bounce_server: BounceServer
) -> None:
    sent = _deliver_to(
        pipeline,
        "gone@example.net",
        "annoyed@example.org",
        "clicker@example.org",
        "reader@example.com",
    )
    gone, annoyed, clicker = (
        sent["gone@example.net"],
        sent["annoyed@example.org"],
        sent["clicker@example.org"],
    )

    # The relay bounces one alert to its VERP return path...
    verp = _verp_address(pipeline, gone.delivery_id)
    code, _ = bounce_server.send(verp, _dsn_for(gone, verp))
    assert code == 250
    # ...and a mailbox provider reports the other as spam to our feedback address.
    code, _ = bounce_server.send(
        f"fbl@{bounce_server.domain}", _arf_for(annoyed), "fbl@isp.example"
    )
    assert code == 250
    # A report carrying a copy taken before delivery: only the Message-ID says which alert.
    yahoo = sample(
        "arf-yahoo-abuse.eml",
        **{SAMPLE_MESSAGE_ID: clicker.message_id, SAMPLE_RECIPIENT: clicker.email},
    )
    assert bounce_server.send(f"fbl@{bounce_server.domain}", yahoo)[0] == 250

    with pipeline.session() as session:
        events = session.execute(
            select(BounceEvent.delivery_id, BounceEvent.journalist_id, BounceEvent.kind)
        ).all()
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
    assert sorted((d, k) for d, _, k in events) == sorted(
        [
            (gone.delivery_id, "hard"),
            (annoyed.delivery_id, "complaint"),
            (clicker.delivery_id, "complaint"),
        ]
    )
    assert set(reasons) == {"gone@example.net", "annoyed@example.org", "clicker@example.org"}
    assert reasons["gone@example.net"].startswith("bounce: 5.1.1")
    assert reasons["annoyed@example.org"] == "complaint: abuse (Gmail-FBL/1.0)"
    assert _status(pipeline) == {
        "gone@example.net": JournalistStatus.SUPPRESSED,
        "annoyed@example.org": JournalistStatus.SUPPRESSED,
        "clicker@example.org": JournalistStatus.SUPPRESSED,
        "reader@example.com": JournalistStatus.ACTIVE,
    }
    assert bounce_server.kept() == []

    # The next alert reaches only the reader.
    with pipeline.session() as session:
        item_id = published_item(session, countries=["MX"], title="Second alert")
        session.commit()
    pipeline.wait_for_item(item_id)
    second = [
        r.rcpt_tos
        for r in pipeline.received()
        if str(r.parsed()["Message-ID"]).startswith(f"<alert.{item_id}.")
    ]
    assert second == [("reader@example.com",)]


def test_a_forged_token_records_nothing_and_is_kept_for_a_human(
    pipeline: Stack, bounce_server: BounceServer
) -> None:
    sent = _deliver_to(pipeline, "target@example.net")["target@example.net"]
    genuine = _verp_address(pipeline, sent.delivery_id)
    forged = re.sub(r"\.[0-9a-f]{16}@", ".0000000000000000@", genuine)
    assert forged != genuine
    # Someone who knows the address and the delivery number, but not the secret.
    dsn = _dsn_for(sent, forged).replace(sent.message_id.encode(), b"<made-up@ngo.example>")
    code, _ = bounce_server.send(forged, dsn)
    assert code == 250
    with pipeline.session() as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 0
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert _status(pipeline) == {"target@example.net": JournalistStatus.ACTIVE}
    assert bounce_server.kept() == [("unattributed hard: forged return path", forged)]


def test_garbage_is_kept_and_the_server_keeps_answering(
    pipeline: Stack, bounce_server: BounceServer
) -> None:
    sent = _deliver_to(pipeline, "later@example.net")["later@example.net"]
    verp = _verp_address(pipeline, sent.delivery_id)
    garbage = (DATA / "bounce-garbage.eml").read_bytes()
    assert bounce_server.send(verp, garbage)[0] == 250
    assert bounce_server.send(verp, b"\x00\xff binary junk \xfe\n")[0] == 250
    # Addresses that are neither bounces nor feedback are refused at RCPT.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        bounce_server.send(f"press@{bounce_server.domain}", garbage)
    assert [reason for reason, _ in bounce_server.kept()] == ["unparseable", "unparseable"]
    kept = [message_from_bytes(bytes(m), policy=policy.default) for m in _box(bounce_server)]
    assert any("You have WON" in str(m["Subject"]) for m in kept)

    # Still serving: a real bounce for the same delivery is recorded.
    code, _ = bounce_server.send(verp, _dsn_for(sent, verp))
    assert code == 250
    assert _status(pipeline) == {"later@example.net": JournalistStatus.SUPPRESSED}


def _box(server: BounceServer) -> list[mailbox.MaildirMessage]:
    return list(mailbox.Maildir(server.maildir, create=False))


# --- the command ---------------------------------------------------------------

# The real entry point: `alerts bounces serve`.
ENTRY = "from alerts.cli.root import main; main()"


def _cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    return env | {"ALERTS_DATA_DIR": str(data_dir)}


def test_serve_refuses_a_feedback_address_that_is_not_a_local_part(tmp_path: Path) -> None:
    for bad in ("fbl@ngo.example", "bounces+1", " "):
        result = subprocess.run(
            [sys.executable, "-c", ENTRY, "bounces", "serve", "--feedback-address", bad],
            env=_cli_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "error:" in result.stderr and "--feedback-address" in result.stderr


def test_serve_answers_until_ctrl_c_and_keeps_garbage_in_the_data_dir(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "bounces", "serve", "--port", str(port)],
        env=_cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    smtp.ehlo("mx.example.net")
                    smtp.mail("")
                    assert smtp.rcpt(f"bounces+1.{'0' * 16}@ngo.example")[0] == 250
                    assert smtp.rcpt("someone@ngo.example")[0] == 550
                    assert smtp.data(b"Subject: nonsense\r\n\r\nnot a bounce\r\n")[0] == 250
                break
            except ConnectionRefusedError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout
                time.sleep(0.1)
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, output
    assert b"bounce server on 127.0.0.1:" in output
    assert b"Traceback" not in output
    kept = list(mailbox.Maildir(tmp_path / "bounces-unprocessed", create=False))
    assert [str(m["X-Alerts-Bounce-Reason"]) for m in kept] == ["unparseable"]
