from pathlib import Path

import pytest

from alerts.core.settings import SettingsError, load_settings, parse_smtp_url


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'alerts.db'}"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    assert settings.smtp.host == "127.0.0.1" and settings.smtp.port == 8025


def test_embedded_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path).secret
    assert len(first) >= 32
    assert load_settings(data_dir=tmp_path).secret == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_shared_database_without_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ALERTS_SECRET_KEY must be set"):
        load_settings(data_dir=tmp_path, database_url="postgresql+psycopg://db/alerts")


def test_settings_come_from_alerts_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTS_FROM", "Press <alerts@ngo.example>")
    monkeypatch.setenv("ALERTS_SMTP_URL", "smtp+starttls://user:p%40ss@relay.example:2525")
    settings = load_settings()
    assert settings.from_domain == "ngo.example"
    smtp = settings.smtp
    assert (smtp.scheme, smtp.host, smtp.port, smtp.username, smtp.password) == (
        "smtp+starttls",
        "relay.example",
        2525,
        "user",
        "p@ss",
    )


@pytest.mark.parametrize(
    ("url", "port"), [("smtp://h", 25), ("smtps://h", 465), ("smtp+starttls://h", 587)]
)
def test_smtp_default_ports(url: str, port: int) -> None:
    assert parse_smtp_url(url).port == port


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("smtp_url", "http://relay:25", "scheme"),
        ("smtp_url", "smtp://", "no host"),
        ("from_address", "not an address", "not an email address"),
        ("base_url", "ftp://x", "base URL"),
        ("secret_key", "short", "at least 32"),
    ],
)
def test_bad_settings_are_clear_errors(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(data_dir=tmp_path, **{field: value})
