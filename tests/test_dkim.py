"""DKIM: keys made by `alerts dkim keygen`, signatures verified by dkimpy after real SMTP."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from dkim.canonicalization import Relaxed
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.runtime import Runtime
from alerts.core.settings import SettingsError, load_settings, parse_smtp_url
from alerts.core.taxonomy import Taxonomy
from alerts.delivery.outcome import Verdict
from alerts.dev.sink import start_sink
from alerts.mail.dkim import DkimKey, generate_ed25519, relaxed_body
from alerts.mail.rendering import build_message, make_environment, render_item
from alerts.mail.smtp import SmtpTransport
from tests.conftest import ScriptedSink
from tests.seed_emails import BASE_URL, LANGUAGES, SEED, seed_item, signed_recipient
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


# --- Ed25519 (RFC 8463), alone and beside RSA --------------------------------------


@pytest.fixture(scope="module")
def ed25519_key_and_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("dkim-ed25519")
    key = folder / "ed.pem"
    result = runner.invoke(
        cli,
        [
            *("dkim", "keygen", "--out", str(key), "--selector", "ed26"),
            *("--domain", "ngo.example", "--algorithm", "ed25519"),
        ],
        env={"ALERTS_DATA_DIR": str(folder)},
    )
    assert result.exit_code == 0, result.output
    match = re.search(
        r'ed26\._domainkey\.ngo\.example\. IN TXT "(v=DKIM1; k=ed25519; p=(\S+))"', result.stdout
    )
    assert match, result.output
    # RFC 8463 §4.2: the bare 32-byte key, not the SubjectPublicKeyInfo RSA records carry.
    assert len(base64.b64decode(match.group(2))) == 32
    assert "ALERTS_DKIM_SECOND_SELECTOR=ed26" in " ".join(result.output.split())
    assert key.stat().st_mode & 0o077 == 0
    return key, match.group(1).encode()


def _two_records(rsa: bytes, ed: bytes):  # type: ignore[no-untyped-def]
    records = {b"alerts26._domainkey.ngo.example.": rsa, b"ed26._domainkey.ngo.example.": ed}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return lookup


def _signatures(message: bytes) -> list[dict[bytes, bytes]]:
    header = message.split(b"\r\n\r\n", 1)[0]
    fields = re.split(rb"\r\n(?=[^ \t])", header)
    found = []
    for field in fields:
        if field.lower().startswith(b"dkim-signature:"):
            value = re.sub(rb"\s+", b"", field.split(b":", 1)[1])
            found.append(dict(tag.split(b"=", 1) for tag in value.split(b";") if tag))
    return found


def _verified(message: bytes, dns) -> list[bool]:  # type: ignore[no-untyped-def]
    checker = dkim.DKIM(message)
    return [checker.verify(idx=i, dnsfunc=dns) for i in range(len(_signatures(message)))]


def _send_through_sink(message: bytes) -> bytes:
    handler = ScriptedSink()
    controller, _ = start_sink("127.0.0.1", 0, handler)
    try:
        with SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{controller.port}"), 5) as smtp:
            outcome = smtp.send("a@ngo.example", "ana@example.net", message)
    finally:
        controller.stop()
    assert outcome.verdict is Verdict.SENT
    [received] = handler.snapshot()
    return received.data


def test_ed25519_signatures_verify_after_a_real_smtp_round_trip(
    ed25519_key_and_record: tuple[Path, bytes],
) -> None:
    key, record = ed25519_key_and_record
    sender = replace(SENDER, dkim=DkimKey("ed26", "ngo.example", key.read_bytes()))
    rendered = render_item(
        make_environment(), _item("México ✓"), Taxonomy(), sender, "https://a.example"
    )
    received = _send_through_sink(build_message(rendered, _recipient(name="Júlia"), sender))
    [tags] = _signatures(received)
    assert tags[b"a"] == b"ed25519-sha256"
    dns = _two_records(b"", record)
    assert _verified(received, dns) == [True]
    assert _verified(received.replace(b"Subject: ", b"Subject: FREE ", 1), dns) == [False]
    # The same signature checked against some other Ed25519 key fails.
    _, other = generate_ed25519()
    assert _verified(received, _two_records(b"", b"v=DKIM1; k=ed25519; p=" + other.encode())) == [
        False
    ]


def test_rsa_and_ed25519_from_the_settings_both_verify_through_the_sink(
    tmp_path: Path,
    key_and_record: tuple[Path, bytes],
    ed25519_key_and_record: tuple[Path, bytes],
) -> None:
    (rsa_key, rsa_record), (ed_key, ed_record) = key_and_record, ed25519_key_and_record
    settings = load_settings(
        data_dir=tmp_path,
        from_address="Press Office <alerts@ngo.example>",
        dkim_selector="alerts26",
        dkim_private_key_file=rsa_key,
        dkim_second_selector="ed26",
        dkim_second_private_key_file=ed_key,
    )
    runtime = Runtime(settings)
    try:
        sender = runtime.sender
        rendered = render_item(
            make_environment(), _item("Dual"), Taxonomy(), sender, "https://a.example"
        )
        received = _send_through_sink(build_message(rendered, _recipient(), sender))
    finally:
        runtime.dispose()
    tags = _signatures(received)
    assert [(t[b"a"], t[b"s"]) for t in tags] == [
        (b"rsa-sha256", b"alerts26"),
        (b"ed25519-sha256", b"ed26"),
    ]
    assert tags[0][b"bh"] == tags[1][b"bh"] and tags[0][b"h"] == tags[1][b"h"]
    dns = _two_records(rsa_record, ed_record)
    assert _verified(received, dns) == [True, True]
    # A receiver that knows only one of the keys still verifies that one.
    assert _verified(received, _two_records(rsa_record, b"")) == [True, False]
    tampered = received.replace(b"Dual", b"Duel", 1)
    assert tampered != received and _verified(tampered, dns) == [False, False]


def test_dkim_key_settings_are_checked_at_start_up(
    tmp_path: Path,
    key_and_record: tuple[Path, bytes],
    ed25519_key_and_record: tuple[Path, bytes],
) -> None:
    rsa_key, ed_key = key_and_record[0], ed25519_key_and_record[0]
    with pytest.raises(SettingsError, match="both DKIM keys are rsa-sha256"):
        load_settings(
            data_dir=tmp_path,
            dkim_selector="a",
            dkim_private_key_file=rsa_key,
            dkim_second_selector="b",
            dkim_second_private_key_file=rsa_key,
        )
    with pytest.raises(SettingsError, match="SECOND_SELECTOR needs ALERTS_DKIM_SELECTOR"):
        load_settings(
            data_dir=tmp_path, dkim_second_selector="b", dkim_second_private_key_file=ed_key
        )
    with pytest.raises(SettingsError, match="both ALERTS_DKIM_SECOND_SELECTOR"):
        load_settings(data_dir=tmp_path, dkim_second_selector="b")
    with pytest.raises(SettingsError, match="different selectors"):
        load_settings(
            data_dir=tmp_path,
            dkim_selector="a",
            dkim_private_key_file=rsa_key,
            dkim_second_selector="a",
            dkim_second_private_key_file=ed_key,
        )
    not_a_key = tmp_path / "cert.pem"
    not_a_key.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(SettingsError, match=r"ALERTS_DKIM_PRIVATE_KEY_FILE .*cert\.pem"):
        load_settings(data_dir=tmp_path, dkim_selector="a", dkim_private_key_file=not_a_key)
    # Ed25519 as the only key is allowed (the operator's choice); it signs alone.
    only = load_settings(data_dir=tmp_path, dkim_selector="e", dkim_private_key_file=ed_key)
    assert only.dkim_second_selector == ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_body_hash_from_the_skeleton_is_the_hash_of_the_body_sent(
    language: str, ed25519_key_and_record: tuple[Path, bytes]
) -> None:
    """The skeleton canonicalises its fixed parts once per item: whatever the recipient's
    values, bh= must still be the hash of the actual body (as dkimpy computes it)."""
    key, record = ed25519_key_and_record
    sender = replace(SENDER, dkim=DkimKey("ed26", "ngo.example", key.read_bytes()))
    names = ["Ana", "  Jo   Ann\t Lee  ", "Ñandú “Zoë” Ø", "x" * 90, "=?utf-8?q?a?= =20"]
    for index in range(len(SEED)):
        item = seed_item(index)
        rendered = render_item(
            make_environment(None, language), item, Taxonomy(), sender, BASE_URL, language
        )
        for n, name in enumerate(names):
            message = build_message(rendered, signed_recipient(n + 1, name, 100 + n), sender)
            body = message.split(b"\r\n\r\n", 1)[1]
            [tags] = _signatures(message)
            assert tags[b"bh"] == base64.b64encode(
                hashlib.sha256(Relaxed.canonicalize_body(body)).digest()
            ), (index, name)
            assert _verified(message, _two_records(b"", record)) == [True], (index, name)
