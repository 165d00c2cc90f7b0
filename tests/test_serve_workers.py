"""`alerts serve --workers N`: several processes answer, one configuration for all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerts.core.migrate import upgrade
from alerts.core.models import Journalist, JournalistStatus
from alerts.core.runtime import Runtime
from alerts.core.settings import load_settings
from alerts.core.tokens import Purpose, TokenSigner
from alerts.dev.sink import free_port
from tests.conftest import SECRET
from tests.factories import journalist

REDIS = os.environ.get("ALERTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _environment(data_dir: Path, base: str, limits: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    return clean | {
        "ALERTS_DATA_DIR": str(data_dir),
        "ALERTS_SECRET_KEY": SECRET,
        "ALERTS_BASE_URL": base,
        "ALERTS_RATE_LIMIT_STORAGE": limits,
    }


def _children(pid: int) -> list[int]:
    """The processes uvicorn started to answer requests (not multiprocessing's helpers)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            found.append(int(child))
    return found


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], int]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(data_dir=tmp_path, secret_key=SECRET, base_url=base)
    upgrade(settings.database_url)
    runtime = Runtime(settings)
    with runtime.sessions() as session:
        person = journalist(session, "ana@example.net", (["MX"], []))
        session.commit()
        journalist_id = person.id
    runtime.dispose()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts", "serve", "--port", str(port), "--workers", "2"],
        env=_environment(tmp_path, base, REDIS),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2 or not _healthy(base):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "alerts serve --workers 2 did not start"
            time.sleep(0.2)
        yield base, process, journalist_id
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_two_worker_processes_answer_and_stop_cleanly(
    two_workers: tuple[str, subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    base, process, journalist_id = two_workers
    workers = _children(process.pid)
    assert len(workers) == 2
    for _ in range(20):  # new connections each time: the kernel hands them to either
        page = httpx.get(f"{base}/subscribe", timeout=10)
        assert page.status_code == 200
        # The security headers, from a pure ASGI middleware, on every process's answers.
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "strict-transport-security" not in page.headers  # http: no HSTS
    token = TokenSigner(SECRET).sign(Purpose.UNSUBSCRIBE, journalist_id)
    answer = httpx.post(f"{base}/u/{token}", data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert answer.status_code == 200
    # A process that dies is replaced; the others keep answering meanwhile.
    os.kill(workers[0], signal.SIGKILL)
    assert httpx.get(f"{base}/subscribe", timeout=10).status_code == 200
    # The unsubscribe was written to the database every process shares.
    runtime = Runtime(load_settings(data_dir=tmp_path, secret_key=SECRET))
    with runtime.sessions() as session:
        person = session.get(Journalist, journalist_id)
        assert person is not None and person.status == JournalistStatus.UNSUBSCRIBED
    runtime.dispose()
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_several_workers_need_a_shared_rate_limit_store(tmp_path: Path) -> None:
    base = "http://127.0.0.1:9"
    upgrade(load_settings(data_dir=tmp_path, secret_key=SECRET).database_url)
    result = subprocess.run(
        [sys.executable, "-m", "alerts", "serve", "--workers", "2"],
        env=_environment(tmp_path, base, "memory://"),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"ALERTS_RATE_LIMIT_STORAGE" in result.stderr and b"memory://" in result.stderr
