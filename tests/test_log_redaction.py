"""Link tokens never reach the logs: a real `alerts serve` process, its real output."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from alerts.core.log_redaction import RedactTokens, redact
from alerts.core.migrate import upgrade
from alerts.core.tokens import Purpose, TokenSigner
from alerts.dev.sink import free_port
from tests.conftest import SECRET
from tests.factories import journalist


@dataclass
class Served:
    base: str
    log_path: Path
    journalist_id: int


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    database_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session:
        person = journalist(session, "reader@example.net", ([], []))
        session.commit()
        person_id = person.id
    engine.dispose()
    port = free_port()
    env = {
        "ALERTS_DATA_DIR": str(tmp_path),
        "ALERTS_DATABASE_URL": database_url,
        "ALERTS_SECRET_KEY": SECRET,
        "ALERTS_BASE_URL": f"http://127.0.0.1:{port}",
        "ALERTS_RATE_LIMIT_STORAGE": "memory://",
    }
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "alerts", "serve", "--port", str(port)],
            env=os.environ | env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield Served(base, log_path, person_id)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for_log(path: Path, needle: str, count: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        text = path.read_text(errors="replace")
        if text.count(needle) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_access_log_of_alerts_serve_keeps_no_token(served: Served) -> None:
    signer = TokenSigner(SECRET)
    unsubscribe = signer.sign(Purpose.UNSUBSCRIBE, served.journalist_id)
    preferences = signer.sign(Purpose.PREFERENCES, served.journalist_id)
    confirm = signer.sign(Purpose.CONFIRM, served.journalist_id)
    paths = [
        f"/u/{unsubscribe}",
        f"/preferences/{preferences}",
        f"/preferences/{preferences}/export",
        f"/preferences/{preferences}?saved=profile",
        f"/confirm/{confirm}",
        "/u/not-a-token-at-all",
    ]
    for path in paths:
        httpx.get(served.base + path)
    httpx.post(served.base + f"/u/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
    log = _wait_for_log(served.log_path, "[token]", len(paths) + 1)
    assert "GET /u/[token] HTTP/1.1" in log  # the access log is there, redacted
    assert "POST /u/[token] HTTP/1.1" in log
    assert "GET /preferences/[token]/export HTTP/1.1" in log
    assert "GET /preferences/[token]?saved=profile HTTP/1.1" in log
    assert "GET /confirm/[token] HTTP/1.1" in log
    for token in (unsubscribe, preferences, confirm, "not-a-token-at-all"):
        assert token not in log
    # Each token's signature alone is enough to spot a leak of a partial token.
    for token in (unsubscribe, preferences):
        assert token.rsplit(".", 1)[1] not in log


def test_filter_redacts_messages_arguments_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sent https://alerts.example/preferences/abc.def.ghi to %s", "x")
        logger.warning("link %s (%d)", "http://h/u/SECRET-TOKEN", 3)
        try:
            raise ValueError("bad /confirm/SECRET-CONFIRM link")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert "abc.def.ghi" not in joined and "SECRET" not in joined
    assert "/preferences/[token] to x" in joined and "/u/[token] (3)" in joined
    assert "/confirm/[token] link" in joined
    assert redact("/unsubscribe/ok /users/ok") == "/unsubscribe/ok /users/ok"
