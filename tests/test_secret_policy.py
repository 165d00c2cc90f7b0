"""Start-up refuses secrets that anyone could read or guess (item: no placeholder secrets)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.cli.root import app
from alerts.core.secret_policy import estimated_entropy_bits, secret_problem
from alerts.core.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _shipped_placeholders() -> list[str]:
    """The default secret docker-compose.yml gives, if it gives any."""
    compose = (REPO / "docker-compose.yml").read_text()
    return re.findall(r"ALERTS_SECRET_KEY:-([^}]+)\}", compose)


@pytest.mark.parametrize(
    "value",
    [
        "change-me-insecure-placeholder-key",  # docker-compose.yml's former default
        "a" * 64,
        "ab" * 32,
        "0123456789abcdefghijklmnopqrstuvwxyz",
        "test-secret-0123456789-abcdefghij",
        "secret-Xq8Lm2Vt7Rz4Kc9Wb3Nd6Hj1Fp5Gs0Ay",  # random tail, obvious prefix
        "password" + secrets.token_urlsafe(32),
        secrets.token_hex(8),  # random, but too short
    ],
)
def test_weak_or_placeholder_secrets_are_refused_at_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path, secret_key=value)
    message = str(caught.value)
    assert "ALERTS_SECRET_KEY" in message
    assert "alerts secret generate" in message and "secrets.token_urlsafe(48)" in message
    assert value not in message  # the refused key is not echoed into logs


def test_docker_compose_ships_no_usable_secret(tmp_path: Path) -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    assert "${ALERTS_SECRET_KEY:?" in compose
    for placeholder in _shipped_placeholders():
        assert secret_problem(placeholder) is not None
    example = (REPO / ".env.example").read_text()
    values = re.findall(r"^ALERTS_SECRET_KEY=(.*)$", example, re.M)
    assert values and all(secret_problem(v.strip()) is not None for v in values)


@pytest.mark.parametrize(
    "value", [secrets.token_urlsafe(32), secrets.token_urlsafe(48), secrets.token_hex(32)]
)
def test_random_keys_pass(tmp_path: Path, value: str) -> None:
    assert load_settings(data_dir=tmp_path, secret_key=value).secret == value


def test_generated_keys_always_pass_with_a_margin() -> None:
    # The estimate must never refuse what `alerts secret generate` prints.
    for _ in range(2000):
        result = runner.invoke(app, ["secret", "generate"])
        assert result.exit_code == 0, result.output
        value = result.output.strip()
        assert secret_problem(value) is None
        assert estimated_entropy_bits(value) > 250


def test_secret_generate_prints_a_fresh_key_each_time() -> None:
    first = runner.invoke(app, ["secret", "generate"]).output.strip()
    second = runner.invoke(app, ["secret", "generate"]).output.strip()
    assert first != second and len(first) >= 64


def test_cli_start_up_with_a_placeholder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTS_SECRET_KEY", "change-me-insecure-placeholder-key")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "ALERTS_SECRET_KEY" in output and "alerts secret generate" in output
    assert "Traceback" not in output


def test_embedded_default_still_needs_nothing_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERTS_SECRET_KEY", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert secret_problem(settings.secret) is None
    # A placeholder written into the generated file is refused too.
    (tmp_path / "secret_key").write_text("changeme")
    with pytest.raises(SettingsError, match="placeholder"):
        load_settings(data_dir=tmp_path)


def test_weak_metrics_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ALERTS_METRICS_TOKEN"):
        load_settings(data_dir=tmp_path, metrics_token="metrics")
    assert load_settings(data_dir=tmp_path, metrics_token="").metrics_token is None
