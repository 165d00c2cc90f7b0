"""`alerts deliveries retry`: failed deliveries go out again; suppressed ones never do."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.models import Delivery, DeliveryStatus, Journalist
from tests.conftest import Stack
from tests.factories import journalist, published_item

runner = CliRunner()


def test_retry_failed_deliveries_of_an_item(pipeline: Stack) -> None:
    pipeline.sink.rcpt_replies = {
        "full@example.net": "552 5.2.2 mailbox full",
        "gone@example.net": "550 5.1.1 no such user",
    }
    with pipeline.session() as session:
        for email in ("ok@example.net", "full@example.net", "gone@example.net"):
            journalist(session, email, ([], []))
        item_id = published_item(session)
        session.commit()
    pipeline.wait_for_item(item_id)
    env = {k: v for k, v in pipeline.env.items() if k.startswith("ALERTS_")}
    refused = runner.invoke(cli, ["deliveries", "retry"], env=env)
    assert refused.exit_code == 2 and "--item" in refused.output

    pipeline.sink.rcpt_replies = {}  # the mailbox has room again
    result = runner.invoke(cli, ["deliveries", "retry", "--item", str(item_id)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 failed deliveries queued again" in result.output
    pipeline.wait_for_item(item_id)
    with pipeline.session() as session:
        outcome = dict(
            session.execute(
                select(Journalist.email, Delivery.status).join(
                    Delivery, Delivery.journalist_id == Journalist.id
                )
            ).all()
        )
    assert outcome == {
        "ok@example.net": DeliveryStatus.SENT,
        "full@example.net": DeliveryStatus.SENT,
        "gone@example.net": DeliveryStatus.FAILED,
    }
    assert sorted(r.rcpt_tos[0] for r in pipeline.received()) == [
        "full@example.net",
        "ok@example.net",
    ]
