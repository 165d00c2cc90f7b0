"""RFC 8058 end to end: a received alert, the provider's POST, a real HTTP server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from alerts.core.models import Journalist, JournalistStatus, UnsubscribeEvent
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.webclient import wait_for_mail

SCRIPT = Path(__file__).with_name("rfc8058_unsubscribe.py")


def test_provider_one_click_post_unsubscribes(
    pipeline: Stack, live_server: str, tmp_path: Path
) -> None:
    with pipeline.session() as session:
        journalist(session, "gmail-user@example.net", ([], []))
        item_id = published_item(session, countries=["MX"])
        session.commit()
    pipeline.wait_for_item(item_id)
    wait_for_mail(pipeline, "gmail-user@example.net")
    [received] = [r for r in pipeline.received() if "gmail-user@example.net" in r.rcpt_tos]
    eml = tmp_path / "alert.eml"
    eml.write_bytes(received.data)

    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(eml)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"POST {live_server}/u/")

    with pipeline.session() as session:
        status = session.scalar(select(Journalist.status))
        methods = session.scalars(select(UnsubscribeEvent.method)).all()
    assert status == JournalistStatus.UNSUBSCRIBED
    assert methods == ["one-click"]
