"""Pipelining across messages (RFC 2920) against real aiosmtpd relays that script trouble.

Message N's content goes in one write with message N+1's envelope. These pin what
must hold whatever the relay does in between: N counts as sent only on a 2xx to its
own end of data, N+1 never sends content before its DATA's 354, nothing is doubled,
and a batch's checks (stop, lease) are made before anything of a message is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from alerts.core.models import Item
from alerts.core.settings import parse_smtp_url
from alerts.core.taxonomy import Taxonomy
from alerts.delivery.outcome import Outcome, Verdict
from alerts.delivery.sending import send_batch
from alerts.delivery.store import Claimed
from alerts.dev.sink import start_sink
from alerts.mail.rendering import Recipient, make_environment, render_item
from alerts.mail.smtp import SmtpTransport
from tests.conftest import ScriptedSink
from tests.test_rendering import SENDER

MESSAGE = b"Subject: hi\r\nFrom: a@ngo.example\r\n\r\nbody\r\n"


class Relay(ScriptedSink):
    """A relay offering PIPELINING (or not), with scripted end-of-data replies and hang-ups.

    ``data_replies``: the final reply for a recipient's message. ``hang_up_after``:
    once that recipient's message is accepted, the relay drops the connection when
    the next command arrives (as one that limits messages per session may).
    ``lost_at_data``: that recipient's message is taken, but the connection drops
    before the final reply leaves (the message is then in doubt for the sender).
    """

    def __init__(self, pipelining: bool = True) -> None:
        super().__init__()
        self.pipelining = pipelining
        self.data_replies: dict[str, str] = {}
        self.hang_up_after: set[str] = set()
        self.lost_at_data: set[str] = set()
        self.rcpts: list[str] = []  # every RCPT TO, in order, refused or not
        self.sessions = 0
        # Per message: was the next envelope already waiting when its end of data came?
        self.next_envelope_waiting: list[bool] = []
        self.on_rcpt: Callable[[str], None] | None = None
        self._hang_up: set[int] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        self.sessions += 1
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if id(session) in self._hang_up:
            # Abort, not close: whatever aiosmtpd writes afterwards is discarded.
            server.transport.abort()
            return "421 4.3.2 never seen"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.rcpts.append(address)
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)  # type: ignore[no-untyped-call]

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        # The client's next writes, already read by the server: pipelined behind this one.
        self.next_envelope_waiting.append(b"MAIL FROM" in bytes(server._reader._buffer))
        [to] = envelope.rcpt_tos
        reply = self.data_replies.get(to)
        if reply is not None:
            return reply
        accepted = await super().handle_DATA(server, session, envelope)
        if to in self.lost_at_data:
            server.transport.abort()
        if to in self.hang_up_after:
            self._hang_up.add(id(session))
        return accepted


@pytest.fixture
def relay() -> Iterator[Relay]:
    handler = Relay()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture
def lockstep_relay() -> Iterator[Relay]:
    handler = Relay(pipelining=False)
    controller, _ = start_sink("127.0.0.1", 0, handler)
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def _transport(relay: Relay, max_messages: int = 1000) -> SmtpTransport:
    target = parse_smtp_url(f"smtp://127.0.0.1:{relay.port}")  # type: ignore[attr-defined]
    return SmtpTransport(target, timeout=5, max_messages=max_messages)


def _pipelined(transport: SmtpTransport, addresses: list[str]) -> dict[str, Outcome]:
    pipe = transport.pipeline()
    settled: list[tuple[int, Outcome]] = []
    for key, to in enumerate(addresses):
        pipe.send(key, "a@ngo.example", to, MESSAGE)
        settled += pipe.take()
    pipe.flush()
    settled += pipe.take()
    assert sorted(k for k, _ in settled) == list(range(len(addresses)))  # each once
    return {addresses[k]: o for k, o in settled}


def _delivered(relay: Relay) -> list[str]:
    return [to for r in relay.snapshot() for to in r.rcpt_tos]


def test_each_envelope_leaves_with_the_previous_message(relay: Relay) -> None:
    addresses = [f"j{i}@example.net" for i in range(4)]
    with _transport(relay) as transport:
        outcomes = _pipelined(transport, addresses)
        assert transport.connections == 1
    assert all(o.verdict is Verdict.SENT for o in outcomes.values())
    assert outcomes["j0@example.net"].reply.startswith("250 2.0.0 Ok: queued as")
    assert _delivered(relay) == addresses
    # One round trip a message: each envelope had arrived with the message before it.
    assert relay.next_envelope_waiting == [True, True, True, False]


def test_a_relay_without_pipelining_is_sent_in_lockstep(lockstep_relay: Relay) -> None:
    addresses = [f"j{i}@example.net" for i in range(3)]
    with _transport(lockstep_relay) as transport:
        outcomes = _pipelined(transport, addresses)
        assert transport.connections == 1
    assert all(o.verdict is Verdict.SENT for o in outcomes.values())
    assert _delivered(lockstep_relay) == addresses
    assert lockstep_relay.next_envelope_waiting == [False, False, False]


def test_a_recipient_refused_behind_an_accepted_message(relay: Relay) -> None:
    relay.rcpt_replies = {
        "gone@example.net": "550 5.1.1 no such user",
        "busy@example.net": "451 4.3.0 later",
    }
    addresses = ["ok1@example.net", "gone@example.net", "busy@example.net", "ok2@example.net"]
    with _transport(relay) as transport:
        outcomes = _pipelined(transport, addresses)
        assert transport.connections == 1
    assert {to: o.verdict for to, o in outcomes.items()} == {
        "ok1@example.net": Verdict.SENT,
        "gone@example.net": Verdict.SUPPRESS,
        "busy@example.net": Verdict.RETRY,
        "ok2@example.net": Verdict.SENT,
    }
    assert outcomes["gone@example.net"].reply == "550 5.1.1 no such user"
    assert _delivered(relay) == ["ok1@example.net", "ok2@example.net"]


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("554 5.6.0 content rejected", Verdict.FAILED), ("451 4.3.0 try later", Verdict.RETRY)],
)
def test_a_refusal_at_end_of_data_with_the_next_envelope_behind_it(
    relay: Relay, reply: str, verdict: Verdict
) -> None:
    relay.data_replies = {"refused@example.net": reply}
    addresses = ["ok1@example.net", "refused@example.net", "ok2@example.net"]
    with _transport(relay) as transport:
        outcomes = _pipelined(transport, addresses)
        assert transport.connections == 1
    assert outcomes["refused@example.net"].verdict is verdict
    assert outcomes["refused@example.net"].reply == reply
    assert not outcomes["refused@example.net"].relay_trouble
    assert outcomes["ok1@example.net"].verdict is Verdict.SENT
    assert outcomes["ok2@example.net"].verdict is Verdict.SENT
    assert _delivered(relay) == ["ok1@example.net", "ok2@example.net"]


def test_a_hang_up_after_a_final_reply_hands_the_next_message_back(relay: Relay) -> None:
    relay.hang_up_after = {"last@example.net"}
    addresses = ["one@example.net", "last@example.net", "next@example.net"]
    with _transport(relay) as transport:
        pipe = transport.pipeline()
        settled: list[tuple[int, Outcome]] = []
        for key, to in enumerate(addresses):
            pipe.send(key, "a@ngo.example", to, MESSAGE)
            settled += pipe.take()
        pipe.flush()
        settled += pipe.take()
    outcomes = dict(settled)
    assert outcomes[1].verdict is Verdict.SENT  # its 250 came before the hang-up
    assert outcomes[2].again and outcomes[2].untried  # nothing of it was handed over
    assert _delivered(relay) == ["one@example.net", "last@example.net"]


def test_a_connection_lost_before_the_final_reply_leaves_that_message_in_doubt(
    relay: Relay,
) -> None:
    relay.lost_at_data = {"doubt@example.net"}
    with _transport(relay) as transport:
        pipe = transport.pipeline()
        pipe.send(0, "a@ngo.example", "doubt@example.net", MESSAGE)
        pipe.send(1, "a@ngo.example", "next@example.net", MESSAGE)
        outcomes = dict(pipe.take())
    # The relay may have it: retried later, never counted as sent.
    assert outcomes[0].verdict is Verdict.RETRY and outcomes[0].relay_trouble
    assert not outcomes[0].untried
    assert outcomes[1].again


def test_the_messages_per_connection_limit_holds_when_pipelining(relay: Relay) -> None:
    addresses = [f"j{i}@example.net" for i in range(5)]
    with _transport(relay, max_messages=2) as transport:
        outcomes = _pipelined(transport, addresses)
        assert transport.connections == 3  # 2 + 2 + 1
    assert all(o.verdict is Verdict.SENT for o in outcomes.values())
    assert _delivered(relay) == addresses
    assert relay.sessions == 3


# --------------------------------------------------------------------- the batch


def _claimed(n: int, email: str) -> Claimed:
    return Claimed(n, 1, n, email, f"J{n}", 1, datetime.now(UTC))


def _send(
    transport: SmtpTransport, addresses: list[str], stopping: Callable[[], bool] | None = None
) -> dict[str, Outcome]:
    item = Item(
        id=1,
        title="T",
        summary="",
        body="",
        url=None,
        kind="news",
        language="en",
        campaign=None,
        published_at=None,
        country_rows=[],
        topic_rows=[],
    )
    rendered = render_item(make_environment(), item, Taxonomy(), SENDER, "https://a.example")

    def recipient(c: Claimed) -> Recipient:
        return Recipient(c.delivery_id, c.journalist_id, c.email, c.name, "https://u", "https://p")

    batch = [_claimed(n, email) for n, email in enumerate(addresses, 1)]
    results = send_batch(batch, lambda c: rendered, recipient, SENDER, transport, stopping=stopping)
    assert sorted(c.delivery_id for c, _, _ in results) == list(range(1, len(batch) + 1))
    return {c.email: o for c, o, _ in results}


def test_a_batch_retries_at_once_what_a_hang_up_handed_back(relay: Relay) -> None:
    relay.hang_up_after = {"b@example.net"}
    addresses = ["a@example.net", "b@example.net", "c@example.net", "d@example.net"]
    with _transport(relay) as transport:
        outcomes = _send(transport, addresses)
        assert transport.connections == 2
    assert all(o.verdict is Verdict.SENT for o in outcomes.values())
    assert _delivered(relay) == addresses  # each exactly once, in order


def test_a_batch_over_a_connection_lost_mid_message(relay: Relay) -> None:
    relay.lost_at_data = {"b@example.net"}
    addresses = ["a@example.net", "b@example.net", "c@example.net"]
    with _transport(relay) as transport:
        outcomes = _send(transport, addresses)
        assert transport.connections == 2
    assert outcomes["a@example.net"].verdict is Verdict.SENT
    assert outcomes["b@example.net"].verdict is Verdict.RETRY  # in doubt: never "sent"
    assert outcomes["c@example.net"].verdict is Verdict.SENT  # sent anew, on a new connection
    assert _delivered(relay) == addresses  # the relay kept b: a retry may double it, not c


def test_an_address_smtp_cannot_carry_fails_alone_behind_a_message(relay: Relay) -> None:
    addresses = ["a@example.net", "josé@example.net", "c@example.net"]
    with _transport(relay) as transport:
        outcomes = _send(transport, addresses)
        assert transport.connections == 1  # the message in progress was not disturbed
    assert outcomes["josé@example.net"].verdict is Verdict.FAILED
    assert outcomes["a@example.net"].verdict is Verdict.SENT
    assert outcomes["c@example.net"].verdict is Verdict.SENT
    assert _delivered(relay) == ["a@example.net", "c@example.net"]


def test_a_stop_between_messages_finishes_the_one_begun_and_begins_no_other(
    relay: Relay,
) -> None:
    # The stop comes while b's envelope is at the relay, its content not yet sent.
    stop = False

    def at_rcpt(address: str) -> None:
        nonlocal stop
        stop = stop or address == "b@example.net"

    relay.on_rcpt = at_rcpt
    addresses = ["a@example.net", "b@example.net", "c@example.net", "d@example.net"]
    with _transport(relay) as transport:
        outcomes = _send(transport, addresses, stopping=lambda: stop)
    assert outcomes["a@example.net"].verdict is Verdict.SENT
    assert outcomes["b@example.net"].verdict is Verdict.SENT  # begun: finished, once
    for late in ("c@example.net", "d@example.net"):
        assert outcomes[late].untried and outcomes[late].at_once
        assert outcomes[late].reply == "not attempted: the worker was stopping"
    assert relay.rcpts == ["a@example.net", "b@example.net"]  # nothing of c or d went out
    assert _delivered(relay) == ["a@example.net", "b@example.net"]
