"""Nothing is exposed by configuration alone: mailbox view, /metrics, /readyz, proxies, HSTS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from fastapi.testclient import TestClient

from alerts.core.migrate import upgrade
from alerts.core.settings import Settings, load_settings
from alerts.dev.sink import SinkHandler, free_port, start_sink
from alerts.web import create_app
from alerts.worker.app import create_celery
from tests.conftest import SECRET

TOKEN = "mT4qZ8vK2xR7bN1cW9pL5sH3jF6dG0yAeU-iOkVnXrQ"


@dataclass
class CountingSink(SinkHandler):
    """The sink, counting the NOOPs /readyz sends (one per connection it opens)."""

    noops: int = 0

    async def handle_NOOP(
        self, server: SMTPServer, session: Session, envelope: Envelope, arg: str
    ) -> str:
        self.noops += 1
        return "250 OK"


@contextmanager
def _relay() -> Iterator[tuple[CountingSink, int]]:
    handler = CountingSink()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def _settings(tmp_path: Path, smtp_port: int, **overrides: object) -> Settings:
    settings = load_settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        **overrides,
    )
    upgrade(settings.database_url)
    return settings


# --- /metrics and /readyz ------------------------------------------------------------


def test_metrics_and_readyz_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    with _relay() as (_, port):
        settings = _settings(tmp_path, port, metrics_token=TOKEN)
        with TestClient(create_app(create_celery(settings))) as client:
            for path in ("/metrics", "/readyz"):
                bare = client.get(path)
                assert bare.status_code == 401, (path, bare.text)
                assert bare.headers["www-authenticate"].startswith("Bearer")
                assert "ALERTS_METRICS_TOKEN" in bare.json()["detail"]
                wrong = client.get(path, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
                assert wrong.status_code == 401
                basic = client.get(path, headers={"Authorization": f"Basic {TOKEN}"})
                assert basic.status_code == 401
                good = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
                assert good.status_code == 200, (path, good.text)
            assert (
                "alerts_deliveries"
                in client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
            )
            # Liveness stays open: it says nothing and touches nothing.
            assert client.get("/healthz").status_code == 200


def test_readyz_reuses_a_recent_relay_check(tmp_path: Path) -> None:
    with _relay() as (relay, port):
        settings = _settings(tmp_path, port, ready_relay_cache_seconds=1.5)
        with TestClient(create_app(create_celery(settings))) as client:
            first, second = client.get("/readyz"), client.get("/readyz")
            assert first.status_code == second.status_code == 200, second.text
            assert relay.noops == 1  # two probes within the window: one SMTP connection
            assert second.json()["checks"]["smtp"]["cached"] is True
            time.sleep(1.6)
            assert client.get("/readyz").json()["checks"]["smtp"]["cached"] is False
            assert relay.noops == 2


# --- HSTS ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://alerts.ngo.example", "max-age=31536000; includeSubDomains"),
        ("http://127.0.0.1:8000", None),
    ],
)
def test_hsts_only_when_the_base_url_is_https(
    tmp_path: Path, base_url: str, expected: str | None
) -> None:
    settings = _settings(tmp_path, free_port(), base_url=base_url)
    with TestClient(create_app(create_celery(settings))) as client:
        for path in ("/healthz", "/subscribe"):
            response = client.get(path)
            assert response.headers.get("strict-transport-security") == expected, path


# --- the mailbox view's bind address -------------------------------------------------


def _alerts(*args: str) -> list[str]:
    return [sys.executable, "-m", "alerts", *args]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    return env | {"ALERTS_DATA_DIR": str(tmp_path), "COLUMNS": "200"} | extra


def test_mailbox_view_refuses_a_public_bind_without_public(tmp_path: Path) -> None:
    result = subprocess.run(
        _alerts("sink", "--host", "0.0.0.0", "--port", str(free_port()), "--web", str(free_port())),
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "--public" in message and "no login" in message, message


def test_mailbox_view_on_a_public_bind_with_public(tmp_path: Path) -> None:
    web = free_port()
    process = subprocess.Popen(
        _alerts(
            "sink", "--host", "0.0.0.0", "--port", str(free_port()), "--web", str(web), "--public"
        ),
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert "Mailbox" in _wait_for(f"http://127.0.0.1:{web}/", process).text
    finally:
        _stop(process)


# --- X-Forwarded-For -----------------------------------------------------------------


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def _served(tmp_path: Path, **env: str) -> Iterator[str]:
    """A real `alerts serve` process (uvicorn on a socket) on the embedded defaults."""
    port = free_port()
    full = _env(
        tmp_path,
        ALERTS_SECRET_KEY=SECRET,
        ALERTS_BASE_URL=f"http://127.0.0.1:{port}",
        ALERTS_SUBSCRIBE_LIMIT_PER_CLIENT="2/hour",
        ALERTS_RATE_LIMIT_STORAGE="memory://",
        **env,
    )
    subprocess.run(_alerts("db", "upgrade"), env=full, check=True, capture_output=True)
    process = subprocess.Popen(
        _alerts("serve", "--port", str(port)),
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _sign_ups(base: str, forwarded_for: list[str]) -> list[int]:
    """Sign-ups of different addresses, each claiming another client address."""
    codes = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for n, claimed in enumerate(forwarded_for):
            page = client.get("/subscribe")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, page.text
            response = client.post(
                "/subscribe",
                data={
                    "email": f"reporter{n}@wire.example",
                    "name": "Reporter",
                    "outlet": "Wire",
                    "language": "en",
                    "cadence": "immediate",
                    "csrf_token": token.group(1),
                },
                headers={"X-Forwarded-For": claimed},
            )
            codes.append(response.status_code)
    return codes


FORGED = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]


def test_forged_forwarded_for_does_not_dodge_the_client_limit(tmp_path: Path) -> None:
    with _served(tmp_path) as base:
        # By default no proxy is trusted: all three come from 127.0.0.1, the third is over.
        assert _sign_ups(base, FORGED) == [200, 200, 429]


def test_trusted_proxies_setting_is_honoured(tmp_path: Path) -> None:
    with _served(tmp_path, ALERTS_TRUSTED_PROXIES="127.0.0.1") as base:
        # Behind a trusted proxy, each forwarded client has its own budget.
        assert _sign_ups(base, FORGED) == [200, 200, 200]


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trusted proxies"):
        load_settings(data_dir=tmp_path, trusted_proxies="127.0.0.1, proxy.internal")
    settings = load_settings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, ::1")
    assert settings.trusted_proxy_list == ["10.0.0.0/8", "::1"]
