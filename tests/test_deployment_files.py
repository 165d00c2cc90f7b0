"""docker-compose.yml and the Dockerfile, checked without a container engine.

Nothing here builds an image: the compose file is parsed, every command it runs
is run with ``--help`` from this checkout's own CLI (so a renamed command or flag
breaks the test, not a deployment), and every setting it names is a real one.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from alerts.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# The image every app service runs (the flower variant adds one package to it).
APP_IMAGES = {"newsroom-alerts:dev", "newsroom-alerts-flower:dev"}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def setting_variables() -> set[str]:
    """Every ``ALERTS_*`` name the Settings model reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str) and c.startswith("ALERTS_")}
        else:
            names.add(f"ALERTS_{name.upper()}")
    return names


def _help_env(tmp_path: Path) -> dict[str, str]:
    # No ALERTS_* from the caller's environment: the commands must stand on their own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    return env | {"ALERTS_DATA_DIR": str(tmp_path / "data")}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_web_app_and_the_bounce_receiver_are_services_with_health_checks() -> None:
    services = _services()
    web, bounces = services["web"], services["bounces"]
    assert _command(web)[:2] == ["alerts", "serve"]
    assert _command(bounces)[:3] == ["alerts", "bounces", "serve"]
    web_check = " ".join(web["healthcheck"]["test"])
    assert "/healthz" in web_check and ":8000" in web_check
    assert ":8000:8000" in web["ports"][0]
    bounce_check = " ".join(bounces["healthcheck"]["test"])
    assert "8026" in bounce_check and "8026" in _command(bounces)
    # The links in the emails lead to the web service.
    assert web["environment"]["ALERTS_BASE_URL"].endswith(":8000")


def test_every_service_command_runs_with_help_from_this_cli(tmp_path: Path) -> None:
    """`alerts …` commands with their flags, and the Celery app path of `celery -A …`."""
    alerts = str(Path(sys.executable).with_name("alerts"))
    celery = str(Path(sys.executable).with_name("celery"))
    env = _help_env(tmp_path)
    checked = []
    for name, service in _services().items():
        command = _command(service)
        if not command or service.get("image") not in APP_IMAGES:
            continue  # postgres, redis: images of their own
        program, args = command[0], command[1:]
        if program == "alerts":
            # The whole command line plus --help: an unknown command or flag is refused
            # before --help is honoured.
            result = _run([alerts, *args, "--help"], tmp_path, env)
        elif program == "celery":
            assert args[:2] == ["-A", "worker"], f"{name}: {command}"
            subcommand = args[2]
            if subcommand == "flower":
                # Flower is not a dependency: the service builds it into its own image.
                extra = service["build"]["args"]["EXTRA_PIP_PACKAGES"]
                assert extra.startswith("flower"), f"{name}: flower is not installed"
                result = _run([celery, "-A", "worker", "--help"], ROOT, env)
            else:
                # Run from where `worker.py` sits, as the image's WORKDIR does: the app
                # path must resolve and every flag must exist.
                result = _run([celery, *args, "--help"], ROOT, env)
        else:
            pytest.fail(f"service {name} runs {program!r}, which is not this project's CLI")
        assert result.returncode == 0, f"{name}: {command}\n{result.stdout}\n{result.stderr}"
        assert "Usage:" in result.stdout, f"{name}: {result.stdout}"
        checked.append(name)
    assert {"migrate", "sink", "worker", "beat", "flower", "web", "bounces"} <= set(checked)


def test_a_misspelt_command_in_a_service_would_fail_the_check(tmp_path: Path) -> None:
    alerts = str(Path(sys.executable).with_name("alerts"))
    env = _help_env(tmp_path)
    result = _run([alerts, "bounces", "serve", "--hots", "0.0.0.0", "--help"], tmp_path, env)
    assert result.returncode != 0
    result = _run([alerts, "serv", "--help"], tmp_path, env)
    assert result.returncode != 0


def test_every_alerts_variable_in_the_compose_file_is_a_setting() -> None:
    known = setting_variables()
    assert {"ALERTS_FROM", "ALERTS_SECRET_KEY", "ALERTS_BASE_URL"} <= known
    used: set[str] = set()
    for service in _services().values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(entry.split("=", 1) for entry in environment)
        used |= {k for k in environment if k.startswith("ALERTS_")}
    # Commented-out examples count too: a reader will uncomment them.
    mentioned = set(re.findall(r"\bALERTS_[A-Z0-9_]+", COMPOSE.read_text()))
    assert used, "no ALERTS_* settings found in the compose file"
    assert sorted((used | mentioned) - known) == []


def test_the_secret_key_has_no_default_in_any_app_service() -> None:
    for name, service in _services().items():
        if service.get("image") not in APP_IMAGES:
            continue
        value = service["environment"]["ALERTS_SECRET_KEY"]
        assert value.startswith("${ALERTS_SECRET_KEY:?"), f"{name}: {value}"


def _host_ip(entry: Any) -> str | None:
    """The host address a compose `ports` entry publishes on (None: every address)."""
    if isinstance(entry, dict):
        host_ip = entry.get("host_ip")
        return str(host_ip) if host_ip else None
    text = str(entry)
    if text.startswith("["):  # [::1]:8000:8000
        return text[1 : text.index("]")]
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else None


def published_beyond_loopback(compose: dict[str, Any]) -> list[str]:
    wide = []
    for name, service in compose["services"].items():
        for entry in service.get("ports", []):
            host_ip = _host_ip(entry)
            if host_ip is None or not ipaddress.ip_address(host_ip).is_loopback:
                wide.append(f"{name}: {entry}")
    return wide


def test_no_service_publishes_a_port_beyond_loopback() -> None:
    compose = _compose()
    assert published_beyond_loopback(compose) == []
    assert any(service.get("ports") for service in compose["services"].values())
    # The check itself: each of these would be reachable from the network.
    for entry in ("8000:8000", "8000", "0.0.0.0:8000:8000", {"target": 8000, "published": 8000}):
        exposed = {"services": {"web": {"ports": [entry]}}}
        assert published_beyond_loopback(exposed) == [f"web: {entry}"]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_user(dockerfile: str) -> str | None:
    """The user the final stage's CMD/ENTRYPOINT runs as (None: root, by default)."""
    user = None
    for keyword, rest in _instructions(dockerfile):
        if keyword == "FROM":
            user = None  # every stage starts as root again
        elif keyword == "USER":
            user = rest.split(":")[0]
        elif keyword in {"CMD", "ENTRYPOINT"}:
            return user
    return user


def test_the_image_runs_as_an_unprivileged_user() -> None:
    text = DOCKERFILE.read_text()
    user = final_user(text)
    assert user not in (None, "root", "0"), f"the image runs as {user or 'root'}"
    assert re.search(rf"useradd\b[^\n]*(\\\n[^\n]*)*\b{re.escape(user or '')}\b", text)
    # Nor does the compose file turn any app service back into root.
    for name, service in _services().items():
        if service.get("image") in APP_IMAGES:
            assert str(service.get("user", user)).split(":")[0] not in ("root", "0"), name
    # The check itself: no USER, or USER in an earlier stage only, is root.
    assert final_user("FROM a\nCMD x\n") is None
    assert final_user("FROM a AS b\nUSER app\nFROM c\nCMD x\n") is None
    assert final_user("FROM a\nUSER root\nCMD x\n") == "root"
