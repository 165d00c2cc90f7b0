"""SMTP transport against a real aiosmtpd server that answers as relays do."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from alerts.core.settings import SmtpTarget, parse_smtp_url
from alerts.delivery.outcome import Stage, Verdict, classify
from alerts.dev.sink import free_port, start_sink
from alerts.mail.smtp import SmtpTransport, dot_stuffed
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


class PipeliningSink(ScriptedSink):
    """Advertises PIPELINING (RFC 2920), as Postfix and most relays do (the default)."""


class LockstepSink(ScriptedSink):
    """A relay that offers no PIPELINING: the sender goes command by command."""

    def __init__(self) -> None:
        super().__init__(pipelining=False)


@pytest.fixture(params=["lockstep", "pipelining"])
def relay(request: pytest.FixtureRequest) -> Iterator[ScriptedSink]:
    handler: ScriptedSink = PipeliningSink() if request.param == "pipelining" else LockstepSink()
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
            transport.send("a@ngo.example", "another@example.net", MESSAGE)
            # A refusal about us may be about this session: the next try starts afresh.
            assert transport.connections == 2
    finally:
        controller.stop()
    assert outcome.verdict is Verdict.RETRY and outcome.relay_trouble
    assert outcome.reply.startswith("relay: 553 5.1.8")


def _target(relay: ScriptedSink) -> SmtpTarget:
    return parse_smtp_url(f"smtp://127.0.0.1:{relay.port}")  # type: ignore[attr-defined]


def test_the_envelope_is_pipelined_when_the_relay_offers_it(relay: ScriptedSink) -> None:
    with SmtpTransport(_target(relay), timeout=5) as transport:
        transport.send("a@ngo.example", "ok@example.net", MESSAGE)
        assert transport._smtp is not None
        offered = transport._smtp.has_extn("pipelining")
    assert offered is isinstance(relay, PipeliningSink)


def test_lines_starting_with_a_dot_arrive_intact(relay: ScriptedSink) -> None:
    message = b"Subject: dots\r\n\r\n.\r\n..two\r\n.leading\r\nend\r\n"
    with SmtpTransport(_target(relay), timeout=5) as transport:
        outcome = transport.send("a@ngo.example", "ok@example.net", message)
    assert outcome.verdict is Verdict.SENT
    [received] = relay.snapshot()
    assert received.data.replace(b"\r\n", b"\n") == message.replace(b"\r\n", b"\n")


def test_a_fresh_connection_after_the_messages_per_connection_limit(relay: ScriptedSink) -> None:
    with SmtpTransport(_target(relay), timeout=5, max_messages=2) as transport:
        outcomes = [transport.send("a@ngo.example", f"j{i}@example.net", MESSAGE) for i in range(5)]
        assert transport.connections == 3  # 2 + 2 + 1
    assert all(o.verdict is Verdict.SENT for o in outcomes)
    assert [r.rcpt_tos for r in relay.snapshot()] == [(f"j{i}@example.net",) for i in range(5)]


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_connection_the_relay_closed_while_idle_is_reopened_once(pipelining: bool) -> None:
    handler = PipeliningSink() if pipelining else LockstepSink()
    # The relay drops connections idle for half a second, as real ones do after minutes.
    controller, _ = start_sink("127.0.0.1", 0, handler, timeout=0.5)
    try:
        target = parse_smtp_url(f"smtp://127.0.0.1:{controller.port}")
        with SmtpTransport(target, timeout=5) as transport:
            first = transport.send("a@ngo.example", "one@example.net", MESSAGE)
            time.sleep(1.2)  # the relay has hung up on us meanwhile
            second = transport.send("a@ngo.example", "two@example.net", MESSAGE)
            assert transport.connections == 2
    finally:
        controller.stop()
    assert first.verdict is Verdict.SENT and second.verdict is Verdict.SENT
    # Nothing lost, nothing doubled.
    assert [r.rcpt_tos for r in handler.snapshot()] == [("one@example.net",), ("two@example.net",)]


@pytest.mark.parametrize(
    "message",
    [
        b".starts with a dot\r\n",
        b"a\r\n.\r\n..\r\n...x\r\nend.\r\n",
        b"bare\n.lf line\n",
        b"no dots at line starts. here.\r\n",
        b"",
    ],
)
def test_dot_stuffing_matches_the_rule_smtplib_applies(message: bytes) -> None:
    # RFC 5321 4.5.2, as smtplib's data() writes it: a dot after every line start.
    assert dot_stuffed(message) == re.sub(rb"(?m)^\.", b"..", message)


def test_a_connection_idle_too_long_is_replaced_before_use(relay: ScriptedSink) -> None:
    # A connection a firewall silently forgot would cost a whole timeout: after
    # max_idle the transport does not trust it and opens a new one.
    with SmtpTransport(_target(relay), timeout=5, max_idle=0.2) as transport:
        transport.send("a@ngo.example", "one@example.net", MESSAGE)
        transport.send("a@ngo.example", "two@example.net", MESSAGE)
        assert transport.connections == 1  # back to back: reused
        time.sleep(0.4)
        outcome = transport.send("a@ngo.example", "three@example.net", MESSAGE)
        assert transport.connections == 2
    assert outcome.verdict is Verdict.SENT
    assert [r.rcpt_tos for r in relay.snapshot()] == [
        ("one@example.net",),
        ("two@example.net",),
        ("three@example.net",),
    ]
