"""The send-batch use case with an in-memory transport: claim, render, send, record.

The same function the ``send_batch`` task calls, given a session factory and a
transport that keeps what it is handed instead of talking SMTP.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

from alerts.audience.membership import Notice
from alerts.core.migrate import upgrade
from alerts.core.models import Delivery, DeliveryStatus, Journalist, RelayBreaker, utcnow
from alerts.core.runtime import Runtime
from alerts.core.settings import load_settings
from alerts.delivery.batch import BatchRules, send_deliveries
from alerts.delivery.outcome import Outcome, RetryPolicy, classify
from alerts.delivery.single import send_account_email, send_test
from tests.factories import fan_out, journalist, published_item


class MemoryTransport:
    """Keeps every message; answers with the reply scripted for its recipient (else 250)."""

    def __init__(self, replies: dict[str, tuple[int, str]] | None = None) -> None:
        self.replies = replies or {}
        self.sent: list[tuple[str, str, bytes]] = []
        self.closed = 0

    def send(self, from_addr: str, to_addr: str, message: bytes) -> Outcome:
        self.sent.append((from_addr, to_addr, message))
        return classify(*self.replies.get(to_addr, (250, "2.0.0 queued")))

    def close(self) -> None:
        self.closed += 1


RULES = BatchRules(
    lease=timedelta(seconds=60),
    relay="memory",
    policy=RetryPolicy(30, 3600, 86400),
    cooldown=60,
    max_cooldown=600,
)


def _runtime(tmp_path: Path) -> tuple[Runtime, list[int]]:
    settings = load_settings(data_dir=tmp_path, from_address="Press <press@ngo.example>")
    upgrade(settings.database_url)
    runtime = Runtime(settings)
    with runtime.sessions() as session:
        for address in ("a@example.net", "b@example.net", "gone@example.net"):
            journalist(session, address, ([], []))
        item_id = published_item(session, countries=["MX"], title="Floods in the north")
        ids = fan_out(session, item_id, utcnow())
        session.commit()
    return runtime, ids


def test_a_batch_is_sent_over_the_transport_and_recorded(tmp_path: Path) -> None:
    runtime, ids = _runtime(tmp_path)
    transport = MemoryTransport({"gone@example.net": (550, "5.1.1 no such user")})

    counts = send_deliveries(ids, runtime.sessions, transport, runtime, RULES)

    assert counts == {"sent": 2, "failed": 1}  # 5.1.1: failed, and the address suppressed
    assert sorted(to for _, to, _ in transport.sent) == [
        "a@example.net",
        "b@example.net",
        "gone@example.net",
    ]
    message = message_from_bytes(transport.sent[0][2])
    assert "Floods in the north" in str(message["Subject"])
    with runtime.sessions() as session:
        rows = {d.id: d for d in session.query(Delivery).filter(Delivery.id.in_(ids))}
        statuses = sorted(str(d.status) for d in rows.values())
    assert statuses.count(DeliveryStatus.SENT) == 2
    assert all(d.message_id for d in rows.values())
    # Run twice: nothing left to claim, nothing sent again.
    assert send_deliveries(ids, runtime.sessions, transport, runtime, RULES) == {}
    assert len(transport.sent) == 3


def test_an_open_breaker_hands_the_batch_back_untried(tmp_path: Path) -> None:
    runtime, ids = _runtime(tmp_path)
    with runtime.sessions() as session:
        session.add(
            RelayBreaker(
                relay="memory",
                failures=3,
                open_until=utcnow() + timedelta(minutes=5),
                updated_at=utcnow(),
            )
        )
        session.commit()
    transport = MemoryTransport()

    send_deliveries(ids, runtime.sessions, transport, runtime, RULES)

    assert transport.sent == []
    with runtime.sessions() as session:
        rows = session.query(Delivery).filter(Delivery.id.in_(ids)).all()
        assert {d.status for d in rows} == {DeliveryStatus.PENDING}
        assert {d.attempts for d in rows} == {0}


def test_relay_trouble_opens_the_breaker(tmp_path: Path) -> None:
    runtime, ids = _runtime(tmp_path)
    refusing = {a: (421, "4.7.0 closing") for a in ("a@example.net", "b@example.net")}
    transport = MemoryTransport(refusing | {"gone@example.net": (421, "4.7.0 closing")})

    send_deliveries(ids, runtime.sessions, transport, runtime, RULES)

    with runtime.sessions() as session:
        breaker = session.get(RelayBreaker, "memory")
        assert breaker is not None and breaker.open_until is not None
        rows = session.query(Delivery).filter(Delivery.id.in_(ids)).all()
        assert {d.status for d in rows} == {DeliveryStatus.PENDING}


def test_a_test_send_goes_over_the_given_transport_marked_test(tmp_path: Path) -> None:
    runtime, _ = _runtime(tmp_path)
    with runtime.sessions() as session:
        item_id = published_item(session, title="Drought report")
        session.commit()
    transport = MemoryTransport()

    outcome = send_test(item_id, "desk@ngo.example", runtime.sessions, transport, runtime)

    assert outcome is not None and outcome.verdict == "sent"
    [(_, to, raw)] = transport.sent
    assert to == "desk@ngo.example"
    assert str(message_from_bytes(raw)["Subject"]).startswith("[TEST] ")
    assert send_test(10_000, "desk@ngo.example", runtime.sessions, transport, runtime) is None


def test_a_confirmation_is_sent_once_and_noted(tmp_path: Path) -> None:
    runtime, _ = _runtime(tmp_path)
    with runtime.sessions() as session:
        person = journalist(session, "new@example.net", ([], []), status="pending")
        session.commit()
        pending = person.id
    transport = MemoryTransport()

    outcome = send_account_email(
        pending, Notice.CONFIRM, None, runtime.sessions, transport, runtime
    )

    assert not isinstance(outcome, str) and outcome.verdict == "sent"
    assert [to for _, to, _ in transport.sent] == ["new@example.net"]
    with runtime.sessions() as session:
        row = session.get(Journalist, pending)
        assert row is not None and row.confirmation_sent_at is not None
    # An active address gets no confirmation: stale, nothing sent.
    active = send_account_email(1, Notice.CONFIRM, None, runtime.sessions, transport, runtime)
    assert active == "stale" and len(transport.sent) == 1
