"""DKIM: keys made by `alerts dkim keygen`, signatures verified by dkimpy after real SMTP."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from dkim.canonicalization import Relaxed
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.settings import SettingsError, load_settings, parse_smtp_url
from alerts.core.taxonomy import Taxonomy
from alerts.delivery.outcome import Verdict
from alerts.dev.sink import start_sink
from alerts.mail.dkim import DkimKey, relaxed_body
from alerts.mail.rendering import build_message, make_environment, render_item
from alerts.mail.smtp import SmtpTransport
from tests.conftest import ScriptedSink
from tests.test_rendering import SENDER, _item, _recipient

runner = CliRunner()


@pytest.fixture(scope="module")
def key_and_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    result = runner.invoke(
        cli,
        ["dkim", "keygen", "--out", str(key), "--selector", "alerts26", "--domain", "ngo.example"],
        env={"ALERTS_DATA_DIR": str(folder)},
    )
    assert result.exit_code == 0, result.output
    match = re.search(
        r'alerts26\._domainkey\.ngo\.example\. IN TXT "(v=DKIM1; k=rsa; p=\S+)"', result.stdout
    )
    assert match, result.output
    assert key.stat().st_mode & 0o077 == 0
    again = runner.invoke(cli, ["dkim", "keygen", "--out", str(key), "--selector", "x"])
    assert again.exit_code == 2 and "refusing to overwrite" in " ".join(again.output.split())
    return key, match.group(1).encode()


def _dns(record: bytes):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"alerts26._domainkey.ngo.example." else None

    return lookup


def _signed_sender(key: Path):  # type: ignore[no-untyped-def]
    return replace(SENDER, dkim=DkimKey("alerts26", "ngo.example", key.read_bytes()))


def test_alerts_are_signed_and_tampering_breaks_the_signature(
    key_and_record: tuple[Path, bytes],
) -> None:
    key, record = key_and_record
    sender = _signed_sender(key)
    rendered = render_item(
        make_environment(), _item("México: “title” ✓"), Taxonomy(), sender, "https://a.example"
    )
    message = build_message(rendered, _recipient(name="Júlia"), sender)
    assert message.startswith(b"DKIM-Signature:")
    header = message.split(b"\r\n\r\n", 1)[0]
    for name in (b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post", b"message-id"):
        assert name in header.split(b"h=", 1)[1].split(b";", 1)[0].lower()
    assert dkim.verify(message, dnsfunc=_dns(record))
    tampered = message.replace(b"Subject: ", b"Subject: FREE ", 1)
    assert not dkim.verify(tampered, dnsfunc=_dns(record))


def test_the_signature_survives_a_real_smtp_round_trip(
    key_and_record: tuple[Path, bytes],
) -> None:
    key, record = key_and_record
    sender = _signed_sender(key)
    rendered = render_item(make_environment(), _item(), Taxonomy(), sender, "https://a.example")
    handler = ScriptedSink()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    try:
        with SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{controller.port}"), 5) as smtp:
            outcome = smtp.send(
                "a@ngo.example", "ana@example.net", build_message(rendered, _recipient(), sender)
            )
    finally:
        controller.stop()
    assert outcome.verdict is Verdict.SENT
    [received] = handler.snapshot()
    assert dkim.verify(received.data, dnsfunc=_dns(record))


def test_dkim_settings_must_come_together(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="both ALERTS_DKIM_SELECTOR"):
        load_settings(data_dir=tmp_path, dkim_selector="alerts26")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(data_dir=tmp_path, dkim_selector="s", dkim_private_key_file=tmp_path / "x")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n\r\n",
        b"one line without an end",
        b"tabs\tand  spaces \t \r\nend  \r\n\r\n\r\n",
        b"  leading space\r\n \r\n\t\r\nx =\r\n  indented   html  <td>\r\n",
        b"trailing space at the very end ",
    ],
)
def test_body_canonicalisation_agrees_with_dkimpy(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_folded_headers_and_odd_whitespace_verify_with_dkimpy(
    key_and_record: tuple[Path, bytes],
) -> None:
    key, record = key_and_record
    message = (
        b"From: Press Office <press@ngo.example>\r\n"
        b"To:   =?utf-8?b?Sm9zw6k=?=\r\n\t <jose@example.net>\r\n"
        b"Subject: A long subject that was folded\r\n  over two lines\t \r\n"
        b"subject: a second Subject field: only the last one is signed\r\n"
        b"Message-ID: <x.1@ngo.example>\r\n"
        b"\r\n"
        b"Body  with   runs of  spaces \r\n\r\n\r\n"
    )
    signed = DkimKey("alerts26", "ngo.example", key.read_bytes()).sign(message)
    assert dkim.verify(signed, dnsfunc=_dns(record))
    assert not dkim.verify(
        signed.replace(b"only the last", b"only the first"), dnsfunc=_dns(record)
    )


def test_a_second_from_or_subject_added_above_ours_breaks_the_signature(
    key_and_record: tuple[Path, bytes],
) -> None:
    key, record = key_and_record
    sender = _signed_sender(key)
    env = make_environment()
    message = build_message(
        render_item(env, _item(), Taxonomy(), sender, "https://a.example"), _recipient(), sender
    )
    assert dkim.verify(message, dnsfunc=_dns(record))
    header = message.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in header.split(b"\r\n")), header
    for name in (b"From", b"Subject"):
        # Over-signed: a receiver shows the first one, so nobody may add one above.
        forged = message.replace(b"\r\n%s: " % name, b"\r\n%s: Forged\r\n%s: " % (name, name), 1)
        assert forged != message
        assert not dkim.verify(forged, dnsfunc=_dns(record))
