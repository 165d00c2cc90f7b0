"""A batch over one real SMTP connection: one bad message never loses the others."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.core.models import Item
from alerts.core.settings import parse_smtp_url
from alerts.core.taxonomy import Taxonomy
from alerts.delivery.outcome import Verdict
from alerts.delivery.sending import send_batch
from alerts.delivery.store import Claimed
from alerts.dev.sink import start_sink
from alerts.mail.rendering import Recipient, make_environment, render_item
from alerts.mail.smtp import SmtpTransport
from tests.conftest import ScriptedSink
from tests.test_rendering import SENDER


def _claimed(n: int, email: str) -> Claimed:
    return Claimed(n, 1, n, email, f"J{n}", 1, datetime.now(UTC))


def test_a_failing_message_is_recorded_and_the_batch_goes_on() -> None:
    handler = ScriptedSink()
    controller, _ = start_sink("127.0.0.1", 0, handler)
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
    rendered = {
        (1, "en"): render_item(make_environment(), item, Taxonomy(), SENDER, "https://a.example")
    }

    def recipient(c: Claimed) -> Recipient:
        if c.delivery_id == 2:
            raise RuntimeError("template blew up")
        return Recipient(c.delivery_id, c.journalist_id, c.email, c.name, "https://u", "https://p")

    batch = [
        _claimed(1, "a@example.net"),
        _claimed(2, "b@example.net"),
        _claimed(3, "josé@example.net"),
        _claimed(4, "d@example.net"),
    ]
    try:
        with SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{controller.port}"), 5) as t:
            results = send_batch(
                batch, lambda c: rendered[(c.item_id, c.language)], recipient, SENDER, t
            )
    finally:
        controller.stop()
    verdicts = {c.email: o.verdict for c, o, _ in results}
    assert verdicts == {
        "a@example.net": Verdict.SENT,
        "b@example.net": Verdict.FAILED,
        "josé@example.net": Verdict.FAILED,
        "d@example.net": Verdict.SENT,
    }
    assert [r.rcpt_tos for r in handler.snapshot()] == [("a@example.net",), ("d@example.net",)]
