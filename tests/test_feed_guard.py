"""Feeds stay outside the house: internal addresses refused at add, at poll, at every redirect.

The newsroom servers here listen on 127.0.0.1, which the default refuses. The
command-line tests switch ALERTS_FEEDS_ALLOW_PRIVATE on only to register a feed
and then poll with the default; the redirect tests use a policy that lets
through exactly one local server (address and port), so the hop it redirects
to is judged as any other internal address would be.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from typer.testing import CliRunner

from alerts.cli import feeds as feeds_cli
from alerts.cli.root import app as alerts_app
from alerts.core.db import make_engine
from alerts.core.models import Feed
from alerts.feeds.fetch import FeedSnapshot, PollFailed, fetch, make_client
from alerts.feeds.guard import AddressPolicy, GuardedTransport, is_public
from tests.test_feeds import DATA, TOPIC_MAP, FeedServer, serve_newsroom

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    try:
        yield feeds
    finally:
        feeds.stop()


class _Redirecting(BaseHTTPRequestHandler):
    target = ""  # set on a subclass per server

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Redirector:
    """A local server answering every GET with a 302 to ``target``."""

    def __init__(self, target: str) -> None:
        handler = type("Handler", (_Redirecting,), {"target": target})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.xml"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "ALERTS_DATABASE_URL",
        "ALERTS_BROKER_URL",
        "ALERTS_SECRET_KEY",
        "ALERTS_FEEDS_ALLOW_PRIVATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    result = runner.invoke(alerts_app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _feeds_stored(data_dir: Path) -> int:
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Feed)).scalar_one()
    engine.dispose()
    return int(count)


def _port(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


def _snapshot(url: str) -> FeedSnapshot:
    return FeedSnapshot(1, url, "press_release", "{}", None, None)


# --- which addresses are public -------------------------------------------------------------

INTERNAL_ADDRESSES = [
    *("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0"),
    *("100.64.0.1", "192.0.0.1", "224.0.1.1", "239.255.255.250", "240.0.0.1", "255.255.255.255"),
    *("::1", "::", "fe80::1", "fc00::1", "fec0::1", "ff02::1", "2001:db8::1"),
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]


@pytest.mark.parametrize("address", INTERNAL_ADDRESSES)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2001:4860:4860::8888", "2002:808:808::"]
)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# --- `alerts feed add` ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/feed.xml",
        "http://0x7f000001/feed.xml",
        "http://2130706433/feed.xml",
        "http://017700000001/feed.xml",
        "http://127.1/feed.xml",
        "http://localhost/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed.xml",
        "https://192.168.1.1/feed.xml",
        "http://[::1]/feed.xml",
        "http://[::ffff:127.0.0.1]/feed.xml",
        "http://[2002:7f00:1::]/feed.xml",
        "http://0.0.0.0/feed.xml",
    ],
)
def test_feed_add_refuses_an_internal_address_by_default(data_dir: Path, url: str) -> None:
    result = runner.invoke(feeds_cli.app, ["add", url, "--topic-map", str(TOPIC_MAP)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "is not a public address" in output
    assert "ALERTS_FEEDS_ALLOW_PRIVATE" in output
    assert _feeds_stored(data_dir) == 0


def test_feed_add_takes_an_internal_feed_when_the_setting_allows(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_FEEDS_ALLOW_PRIVATE", "true")
    result = runner.invoke(feeds_cli.app, ["add", "http://10.0.0.1/feed.xml"])
    assert result.exit_code == 0, result.output
    assert _feeds_stored(data_dir) == 1


# --- at poll time ----------------------------------------------------------------------------


def test_a_poll_refuses_a_feed_that_points_inside_and_records_why(
    data_dir: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered while internal feeds were allowed (or before its DNS changed)."""
    url = serve_newsroom(server, "atom")
    monkeypatch.setenv("ALERTS_FEEDS_ALLOW_PRIVATE", "true")
    assert runner.invoke(feeds_cli.app, ["add", url]).exit_code == 0
    monkeypatch.delenv("ALERTS_FEEDS_ALLOW_PRIVATE")

    polled = runner.invoke(feeds_cli.app, ["poll"])

    assert polled.exit_code == 1, polled.output
    assert "failed: AddressRefused: 127.0.0.1 is not a public address" in polled.output
    assert server.requests("/newsroom.atom") == []  # never connected
    listed = runner.invoke(feeds_cli.app, ["list"], env={"COLUMNS": "300"})
    assert "AddressRefused: 127.0.0.1 is not a public address" in listed.output


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/newsroom.atom",
        "http://0x7f000001:{port}/newsroom.atom",
        "http://2130706433:{port}/newsroom.atom",
        "http://[::ffff:127.0.0.1]:{port}/newsroom.atom",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed.xml",
    ],
)
def test_a_redirect_to_an_internal_address_is_refused_at_that_hop(
    server: FeedServer, target: str
) -> None:
    """The first server is let through by address and port; where it redirects is not."""
    port = _port(serve_newsroom(server, "atom"))
    redirector = Redirector(target.format(port=port))
    policy = AddressPolicy(allowed=frozenset({("127.0.0.1", redirector.port)}))
    try:
        with make_client(timeout=5, policy=policy) as client, pytest.raises(PollFailed) as caught:
            fetch(client, _snapshot(redirector.url))
    finally:
        redirector.stop()
    assert str(caught.value).startswith("AddressRefused: ")
    assert "is not a public address" in str(caught.value)
    assert server.requests("/newsroom.atom") == []


def test_a_redirect_to_an_allowed_address_is_followed(server: FeedServer) -> None:
    """The same servers with both allowed: the refusal above is the guard's, nothing else."""
    feed_url = serve_newsroom(server, "atom")
    port = _port(feed_url)
    redirector = Redirector(feed_url)
    allowed = frozenset({("127.0.0.1", redirector.port), ("127.0.0.1", port)})
    try:
        with make_client(timeout=5, policy=AddressPolicy(allowed=allowed)) as client:
            fetched = fetch(client, _snapshot(redirector.url))
    finally:
        redirector.stop()
    assert fetched.url == feed_url and b"<feed" in fetched.content


def test_the_checked_address_is_connected_with_the_feeds_own_host_name(
    server: FeedServer,
) -> None:
    """The transport connects to the address it checked; the server still sees the name."""
    feed_url = serve_newsroom(server, "atom")
    port = _port(feed_url)
    named = f"http://localhost:{port}/newsroom.atom"
    allowed = frozenset({("127.0.0.1", port), ("::1", port)})
    with make_client(timeout=5, policy=AddressPolicy(allowed=allowed)) as client:
        fetched = fetch(client, _snapshot(named))
    assert fetched.url == named and b"<feed" in fetched.content
    [seen] = server.requests("/newsroom.atom")
    assert seen.headers["host"] == f"localhost:{port}"


def test_the_default_client_refuses_loopback() -> None:
    with make_client(timeout=5) as client, pytest.raises(PollFailed) as caught:
        fetch(client, _snapshot("http://127.0.0.1:9/feed.xml"))
    assert "AddressRefused: 127.0.0.1 is not a public address" in str(caught.value)


# --- credentials in feed URLs ----------------------------------------------------------------


def test_feed_credentials_are_used_but_never_shown_or_logged(
    data_dir: Path,
    server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ALERTS_FEEDS_ALLOW_PRIVATE", "true")  # the local newsroom server
    plain = serve_newsroom(server, "atom")
    url = plain.replace("http://", "http://editor:s3cret@")
    hidden = plain.replace("http://", "http://***@")
    caplog.set_level(logging.INFO, logger="alerts.feeds")

    added = runner.invoke(feeds_cli.app, ["add", url])
    again = runner.invoke(feeds_cli.app, ["add", url])
    listed = runner.invoke(feeds_cli.app, ["list"], env={"COLUMNS": "200"})
    polled = runner.invoke(feeds_cli.app, ["poll"])
    server.resources["/newsroom.atom"].status = 500
    failed = runner.invoke(feeds_cli.app, ["poll"])

    assert added.exit_code == 0 and hidden in added.output
    assert again.exit_code == 2 and hidden in again.output
    assert hidden in listed.output
    assert polled.exit_code == 0 and hidden in polled.output
    assert failed.exit_code == 1 and "HTTP 500" in failed.output
    for text in (added.output, again.output, listed.output, polled.output, failed.output):
        assert "s3cret" not in text and "editor" not in text
    assert "HTTP 500" in caplog.text and "s3cret" not in caplog.text
    # Hidden, not dropped: the poller still signs in with them.
    expected = "Basic " + base64.b64encode(b"editor:s3cret").decode()
    assert server.requests("/newsroom.atom")[0].headers["authorization"] == expected


# --- HTTPS: connected to the checked address, certificate checked against the name ----------


def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signs for "localhost" (no IP in it)."""
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("feed test CA"))
        .issuer_name(name("feed test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Atom(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (DATA / "newsroom.atom").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_https_feed_is_verified_against_its_name_while_connected_by_address(
    tmp_path: Path,
) -> None:
    """The TLS server name stays "localhost": its certificate (for that name only) verifies."""
    ca_file, cert_file, key_file = _tls_files(tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert_file, key_file)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Atom)
    http.socket = serving.wrap_socket(http.socket, server_side=True)
    port = http.server_address[1]
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    trusting = ssl.create_default_context(cafile=str(ca_file))
    policy = AddressPolicy(allowed=frozenset({("127.0.0.1", port), ("::1", port)}))
    url = f"https://localhost:{port}/newsroom.atom"
    try:
        transport = GuardedTransport(policy, verify=trusting)
        with httpx.Client(transport=transport, timeout=5) as client:
            fetched = fetch(client, _snapshot(url))
            # The same server by address: its certificate does not name 127.0.0.1.
            with pytest.raises(PollFailed) as caught:
                fetch(client, _snapshot(f"https://127.0.0.1:{port}/newsroom.atom"))
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
    assert fetched.url == url and b"<feed" in fetched.content
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
