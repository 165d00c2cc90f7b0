"""SMTP transport against a real aiosmtpd server that answers as relays do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.mailer import SmtpTransport, Stage, Verdict, classify
from alerts.settings import parse_smtp_url
from alerts.sink import free_port, start_sink
from tests.conftest import ScriptedSink

MESSAGE = b"Subject: hi\r\nFrom: a@ngo.example\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    ("code", "text", "verdict"),
    [
        (250, "2.0.0 Ok: queued as X", Verdict.SENT),
        (450, "4.2.1 mailbox busy", Verdict.RETRY),
        (451, "4.7.1 greylisted", Verdict.RETRY),
        (452, "4.5.3 too many recipients", Verdict.RETRY),
        (550, "5.1.1 no such user", Verdict.SUPPRESS),
        (553, "5.1.3 bad address syntax", Verdict.SUPPRESS),
        (550, "5.7.1 recipient rejected by policy", Verdict.SUPPRESS),
        (552, "5.3.4 message too big", Verdict.FAILED),
        (554, "5.6.0 content rejected", Verdict.FAILED),
        (550, "mailbox unavailable", Verdict.FAILED),
    ],
)
def test_reply_classification_of_a_recipient(code: int, text: str, verdict: Verdict) -> None:
    outcome = classify(code, text.encode(), Stage.RCPT)
    assert outcome.verdict is verdict
    assert outcome.reply == f"{code} {text}"


@pytest.mark.parametrize(
    ("code", "text", "stage"),
    [
        (554, "5.7.1 Relay access denied", Stage.MAIL),
        (553, "5.1.8 sender domain not found", Stage.MAIL),
        (535, "5.7.8 authentication failed", Stage.CONNECT),
        (421, "4.7.0 too many connections", Stage.RCPT),
    ],
)
def test_refusals_about_us_are_retried_never_blamed_on_the_recipient(
    code: int, text: str, stage: Stage
) -> None:
    outcome = classify(code, text, stage)
    assert outcome.verdict is Verdict.RETRY and outcome.relay_trouble


def test_a_data_stage_refusal_fails_the_message_without_suppressing() -> None:
    assert classify(550, "5.7.1 message content rejected", Stage.DATA).verdict is Verdict.FAILED


@pytest.fixture
def relay() -> Iterator[ScriptedSink]:
    handler = ScriptedSink()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def test_one_connection_carries_a_batch_past_refusals(relay: ScriptedSink) -> None:
    relay.rcpt_replies = {
        "gone@example.net": "550 5.1.1 no such user",
        "busy@example.net": "451 4.3.0 later",
    }
    target = parse_smtp_url(f"smtp://127.0.0.1:{relay.port}")  # type: ignore[attr-defined]
    with SmtpTransport(target, timeout=5) as transport:
        outcomes = [transport.send("a@ngo.example", "ok1@example.net", MESSAGE)]
        connection = transport._smtp
        outcomes += [
            transport.send("a@ngo.example", to, MESSAGE)
            for to in ("gone@example.net", "busy@example.net", "ok2@example.net")
        ]
        assert transport._smtp is connection  # one connection for the whole batch
    assert [o.verdict for o in outcomes] == [
        Verdict.SENT,
        Verdict.SUPPRESS,
        Verdict.RETRY,
        Verdict.SENT,
    ]
    assert outcomes[0].reply.startswith("250 2.0.0 Ok: queued as")
    assert [r.rcpt_tos for r in relay.snapshot()] == [("ok1@example.net",), ("ok2@example.net",)]


def test_refused_connection_is_a_retry() -> None:
    target = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}")
    with SmtpTransport(target, timeout=2) as transport:
        outcome = transport.send("a@ngo.example", "x@example.net", MESSAGE)
    assert outcome.verdict is Verdict.RETRY and outcome.relay_trouble
    assert "ConnectionRefusedError" in outcome.reply


def test_a_relay_refusing_our_sender_is_relay_trouble(relay: ScriptedSink) -> None:
    class RefusesSender(ScriptedSink):
        async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "553 5.1.8 <a@ngo.example>: sender address rejected"

    handler = RefusesSender()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    try:
        target = parse_smtp_url(f"smtp://127.0.0.1:{controller.port}")
        with SmtpTransport(target, timeout=5) as transport:
            outcome = transport.send("a@ngo.example", "someone@example.net", MESSAGE)
    finally:
        controller.stop()
    assert outcome.verdict is Verdict.RETRY and outcome.relay_trouble
    assert outcome.reply.startswith("relay: 553 5.1.8")
