"""Body limits on a real `alerts serve` process: memory stays flat whatever the client sends.

Bodies are streamed chunked over a raw socket (no Content-Length to trust), and
the server's peak resident memory (VmHWM in /proc/PID/status) is compared
before and after. A reader thread takes the answer as soon as it comes, so the
test also knows how much of the body had been sent by then.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerts.core.migrate import upgrade
from alerts.core.models import utcnow
from alerts.core.runtime import Runtime
from alerts.core.settings import load_settings
from alerts.dev.sink import free_port
from alerts.staff.keys import create_key
from tests.conftest import SECRET

MB = 1024 * 1024
CHUNK = 64 * 1024
# Loopback socket buffers hold a few MB that the client counts as sent
# although the server never read them.
SLACK = 12 * MB


@dataclass
class Server:
    base: str
    port: int
    pid: int
    key: str

    def peak_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "ALERTS_DATA_DIR": str(data_dir),
        "ALERTS_SECRET_KEY": SECRET,
        "ALERTS_BASE_URL": base,
        "ALERTS_RATE_LIMIT_STORAGE": "memory://",
    }
    settings = load_settings(data_dir=data_dir, secret_key=SECRET, base_url=base)
    upgrade(settings.database_url)
    runtime = Runtime(settings)
    with runtime.sessions() as session:
        key = create_key(session, "desk", "admin", utcnow())[1]
        session.commit()
    runtime.dispose()
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts", "serve", "--port", str(port)],
        env={k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")} | env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data_dir / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "alerts serve did not start"
            time.sleep(0.2)
        server = Server(base, port, process.pid, key)
        # Warm up what every request allocates once (imports, the first session, ...).
        for _ in range(3):
            httpx.post(f"{base}/api/items", json={"title": "x", "colour": 1}, headers=auth(key))
            httpx.post(f"{base}/api/items", content=b"{}")
            stream(server, "/api/items", 2 * MB, headers={"Authorization": f"Bearer {key}"})
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Answer:
    status: int
    body: bytes
    sent: int  # body bytes the client had sent when the answer came


def stream(
    server: Server,
    path: str,
    size: int,
    headers: dict[str, str] | None = None,
    prefix: bytes = b"",
    suffix: bytes = b"",
    content_type: str = "application/json",
) -> Answer:
    """POST ``prefix + filler + suffix`` (``size`` bytes in all), chunked, until answered."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    received = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while data := sock.recv(65536):
                received.extend(data)
                if b"\r\n\r\n" in received:
                    answered.set()
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Content-Type: {content_type}",
        "Transfer-Encoding: chunked",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    sent = 0
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        filler = size - len(prefix) - len(suffix)
        pieces = [prefix] + [b"x" * CHUNK] * (filler // CHUNK) + [b"x" * (filler % CHUNK), suffix]
        for piece in pieces:
            if answered.is_set():
                break
            if piece:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection: its answer is read below
    answered.wait(timeout=30)
    time.sleep(0.2)  # the rest of a short answer
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes the reader if the server keeps the connection
    sock.close()
    reader.join(timeout=5)
    head_bytes, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head_bytes, f"no answer after {sent} bytes"
    status = int(head_bytes.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _unchunk(body)
    return Answer(status, body, sent)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def test_100_mb_chunked_without_a_key_is_refused_unread(server: Server) -> None:
    before = server.peak_rss_kb()
    answer = stream(server, "/api/items", 100 * MB, prefix=b'{"title": "')
    grown_mb = (server.peak_rss_kb() - before) / 1024
    assert answer.status == 401, answer.body[:300]
    assert json.loads(answer.body) == {"detail": "a valid staff API key is required"}
    assert answer.sent < MB + SLACK
    assert grown_mb < 20, f"server memory grew by {grown_mb:.0f} MB"


def test_50_mb_to_keys_without_a_key_is_refused_unread(server: Server) -> None:
    before = server.peak_rss_kb()
    answer = stream(server, "/api/keys", 50 * MB, prefix=b'{"name": "')
    grown_mb = (server.peak_rss_kb() - before) / 1024
    assert answer.status in (401, 413)
    assert answer.sent < MB + SLACK
    assert grown_mb < 20, f"server memory grew by {grown_mb:.0f} MB"


def test_a_bad_key_is_refused_before_the_body_too(server: Server) -> None:
    answer = stream(server, "/api/items", 30 * MB, headers=auth("nra_not-a-key"))
    assert answer.status == 401
    assert answer.sent < MB + SLACK


def test_5_mb_chunked_title_with_a_key_is_413(server: Server) -> None:
    before = server.peak_rss_kb()
    answer = stream(
        server,
        "/api/items",
        5 * MB,
        headers=auth(server.key),
        prefix=b'{"title": "',
        suffix=b'", "countries": ["MX"]}',
    )
    grown_mb = (server.peak_rss_kb() - before) / 1024
    assert answer.status == 413, answer.body[:300]
    assert b"too large" in answer.body
    assert answer.sent < MB + SLACK
    assert grown_mb < 20, f"server memory grew by {grown_mb:.0f} MB"
    # Nothing was stored.
    listed = httpx.get(f"{server.base}/api/items", headers=auth(server.key)).json()
    assert listed["total"] == 0


def test_a_long_title_within_the_limit_is_a_short_422(server: Server) -> None:
    answer = stream(
        server,
        "/api/items",
        500 * 1024,
        headers=auth(server.key),
        prefix=b'{"title": "',
        suffix=b'"}',
    )
    assert answer.status == 422, answer.body[:300]
    assert len(answer.body) < 5_000
    assert b"x" * 1000 not in answer.body
    [error] = json.loads(answer.body)["detail"]
    assert error["loc"] == ["body", "title"]


def test_the_csv_import_keeps_its_20_mb_limit(server: Server) -> None:
    # 5 MB is fine for a CSV (refused for what it says, not for its size) ...
    answer = stream(
        server,
        "/api/journalists/import",
        5 * MB,
        headers=auth(server.key),
        prefix=b"not,a,header\n",
        content_type="text/csv",
    )
    assert answer.status == 422, answer.body[:300]
    assert b"missing column" in answer.body
    # ... 25 MB is not, and is refused after about 20 MB.
    answer = stream(
        server, "/api/journalists/import", 25 * MB, auth(server.key), content_type="text/csv"
    )
    assert answer.status == 413, answer.body[:300]
    assert answer.sent < 20 * MB + SLACK
    # Without a key, refused before any of it is read.
    answer = stream(server, "/api/journalists/import", 25 * MB, content_type="text/csv")
    assert answer.status == 401
    assert answer.sent < MB + SLACK


def test_content_length_over_the_limit_is_refused_up_front(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")


def test_web_forms_are_counted_too(server: Server) -> None:
    before = server.peak_rss_kb()
    answer = stream(
        server,
        "/subscribe",
        30 * MB,
        prefix=b"email=a%40example.org&name=",
        content_type="application/x-www-form-urlencoded",
    )
    grown_mb = (server.peak_rss_kb() - before) / 1024
    assert answer.status == 413, answer.body[:300]
    assert answer.sent < MB + SLACK
    assert grown_mb < 20, f"server memory grew by {grown_mb:.0f} MB"
