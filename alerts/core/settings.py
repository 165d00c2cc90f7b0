"""One settings class, read from ``ALERTS_*`` environment variables at start-up.

Nothing here runs at import: entry points call :func:`load_settings` once and pass
the result down.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

import limits
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.core import reader_languages
from alerts.core.dkim_keys import key_file_algorithm
from alerts.core.secret_policy import HOW_TO_GENERATE, secret_problem

SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class SettingsError(ValueError):
    """The configuration cannot work; raised at start-up with a message for humans."""


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ALERTS_", env_file=None, populate_by_name=True, extra="ignore"
    )

    data_dir: Path = Path("alerts-data")
    database_url: str = ""
    broker_url: str = ""
    smtp_url: str = "smtp://127.0.0.1:8025"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    from_address: str = Field(
        default="Newsroom Alerts <alerts@example.org>",
        validation_alias=AliasChoices("ALERTS_FROM", "from_address"),
    )
    reply_to: str = "press@example.org"
    templates_dir: Path | None = None
    topics_file: Path | None = None

    # Pipeline tuning.
    # Deliveries per send_batch task. Measured (bench/fanout.py, docs/performance.md):
    # 500 sends ~40 % faster than 100; the database and task costs are per batch.
    batch_size: int = Field(default=500, ge=1, le=1000)
    # Journalist ids per fan-out transaction: the first batches go out while
    # the rest of a large audience is still being matched.
    fan_out_slice: int = Field(default=20_000, ge=1)
    # Worker processes that match one item's slices at once (PostgreSQL; SQLite has one
    # writer, so one). Measured in docs/performance.md: the million in 23.7 s with one.
    fan_out_lanes: int = Field(default=2, ge=1)
    # Connections (threads of the planning task) that plan a minute's digests at once,
    # a chunk each (digests/lanes.py; PostgreSQL, SQLite has one writer, so one).
    digest_lanes: int = Field(default=2, ge=1)
    # Database connections a process keeps open; also the web's threads for its handlers,
    # so that a burst waits for a thread instead of opening and closing connections.
    db_pool_size: int = Field(default=8, ge=1, le=100)
    lease_seconds: int = Field(default=300, ge=10)
    # A queued batch may wait behind a big send: re-queue only well after the
    # lease and a long drain, or the sweep floods the queue with duplicates.
    requeue_after_seconds: int = Field(default=900, ge=1)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # A worker process keeps its relay connection across batches; many relays
    # cap messages per session, so a fresh one is started after this many.
    smtp_messages_per_connection: int = Field(default=1000, ge=1)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    retry_deadline_seconds: float = Field(default=24 * 3600.0, gt=0)
    worker_concurrency: int = Field(default=2, ge=1)
    # How often the beat looks for scheduled items that are due, and polls feeds.
    schedule_poll_seconds: float = Field(default=15.0, gt=0)
    feed_poll_seconds: float = Field(default=300.0, gt=0)
    # Feeds may reach loopback, private, link-local and other internal addresses only
    # when this is set: a feed URL must not become a way into the house's network.
    feeds_allow_private: bool = False
    # The whole download of a feed entry's lead photo (a slow server must not hold a poll).
    feed_image_timeout_seconds: float = Field(default=20.0, gt=0)
    # How often the beat plans the digests that have come due (embargoes lift on the
    # schedule poll, with scheduled items).
    digest_poll_seconds: float = Field(default=60.0, gt=0)

    # Media store (photos, documents): files under DATA_DIR/media unless set; the
    # public URLs may point at another host (a CDN or a bucket synced from that folder).
    media_dir: Path | None = None
    media_base_url: str = ""  # default BASE_URL/media
    media_max_bytes: int = Field(default=50_000_000, ge=1)

    # Operations.
    metrics_dir: Path | None = None  # default DATA_DIR/metrics, shared by a host's processes
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # At least a month: the record of who got an item is what keeps a correction, an
    # embargo notice or a digest from reaching anyone twice while they are followed up.
    retention_days: int = Field(default=365, ge=30)
    forget_unsubscribed_after_days: int = Field(default=28, ge=1)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)

    # DKIM: signing is on when a selector and a key file are given; the key says the
    # algorithm (RSA: rsa-sha256, Ed25519: ed25519-sha256). The second pair adds a
    # second signature of the other algorithm (RFC 8463: Ed25519 beside RSA).
    dkim_selector: str = ""
    dkim_domain: str = ""  # default: the domain of ALERTS_FROM
    dkim_private_key_file: Path | None = None
    dkim_second_selector: str = ""
    dkim_second_private_key_file: Path | None = None

    # Bounces and relay protection.
    soft_bounce_limit: int = Field(default=3, ge=1)  # soft bounces in the window → suppressed
    soft_bounce_window_days: int = Field(default=14, ge=1)
    smtp_rate_per_second: float = Field(default=0.0, ge=0)  # 0: no limit
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)  # doubles while down, capped
    breaker_max_cooldown_seconds: float = Field(default=600.0, gt=0)

    # Public pages.
    subscribe_limit_per_address: str = "3/hour"
    subscribe_limit_per_client: str = "20/hour"
    # The click endpoint (/c/TOKEN): a person opening a link again and again stays far
    # below the first; a client (one address) opening thousands of links a minute, not.
    click_limit_per_token: str = "20/minute"
    click_limit_per_client: str = "600/minute"
    # A preferences link opens the journalist's data: it expires after this many
    # days (every email carries a fresh one). Unsubscribe links never expire.
    preferences_link_days: int = Field(default=90, ge=1)
    # The languages a journalist may choose (comma-separated codes Babel knows); en, es
    # and fr, which the pages and emails have catalogues for, always among them. A reader
    # of another gets items in their language when translated, with English labels.
    reader_languages: str = reader_languages.DEFAULT
    # Where rate-limit counters live: memory:// (one process) or redis://…; by
    # default the Redis broker when there is one, so every web process agrees.
    rate_limit_storage: str = ""
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, `*` for any). Empty: none, so a client cannot pick the
    # address the per-client rate limit counts by sending the header itself.
    trusted_proxies: str = ""

    # Click-through links: off (links go straight to their targets), aggregate (counts
    # only; nothing stored names a journalist) or individual (who clicked what, shown
    # to staff, in the journalist's export, erased with them). Opens: a pixel, off by
    # default (mail apps prefetch images, so opens are unreliable).
    track_clicks: str = Field(default="aggregate", pattern="^(off|aggregate|individual)$")
    track_opens: str = Field(default="off", pattern="^(on|off)$")

    # Operators' endpoints. With a token, /metrics and /readyz answer only
    # `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting).
    metrics_token: SecretStr | None = None
    # /readyz reuses a relay check this recent: probes every few seconds from several
    # places must not each open an SMTP connection.
    ready_relay_cache_seconds: float = Field(default=10.0, ge=0)
    # Rendered newsroom lists and feeds kept per web process (web/newsroom_cache.py),
    # in MiB; 0 renders every request afresh.
    newsroom_cache_mb: int = Field(default=32, ge=0, le=4096)

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str) -> str:
        parse_smtp_url(value)
        return value

    @field_validator("from_address", "reply_to")
    @classmethod
    def _check_address(cls, value: str) -> str:
        _, addr = parseaddr(value)
        if "@" not in addr or "\n" in value or "\r" in value:
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base URL must be http(s)://host[/path], got {value!r}")
        return value.rstrip("/")

    @field_validator(
        "subscribe_limit_per_address",
        "subscribe_limit_per_client",
        "click_limit_per_token",
        "click_limit_per_client",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"a rate limit like '20/minute', got {value!r}") from exc
        return value

    @field_validator("media_base_url")
    @classmethod
    def _check_media_base_url(cls, value: str) -> str:
        # Its origin goes into every page's Content-Security-Policy: nothing but a plain
        # scheme, host and port may reach that header.
        if value:
            media_origin(value)
        return value.rstrip("/")

    @field_validator("reader_languages")
    @classmethod
    def _check_reader_languages(cls, value: str) -> str:
        return ",".join(reader_languages.parse(value))

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # `ALERTS_METRICS_TOKEN=` (as a compose file may pass it) means no token.
        return None if value == "" else value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        for entry in _split(value):
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"trusted proxies must be IP addresses or networks (or *), got {entry!r}"
                ) from exc
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _split(self.trusted_proxies)

    @property
    def reader_language_list(self) -> tuple[str, ...]:
        return tuple(self.reader_languages.split(","))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def smtp(self) -> SmtpTarget:
        return parse_smtp_url(self.smtp_url)

    @property
    def secret(self) -> str:
        if self.secret_key is None:
            raise SettingsError("settings were not loaded with load_settings()")
        return self.secret_key.get_secret_value()

    @property
    def from_domain(self) -> str:
        return parseaddr(self.from_address)[1].rsplit("@", 1)[1].lower()


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")


def media_origin(url: str) -> str:
    """``scheme://host[:port]`` of a media base URL, or ValueError saying what is wrong."""
    problem = f"media base URL must be http(s)://host[:port][/path], got {url!r}"
    if any(c.isspace() or c in ";,'\"" for c in url):
        raise ValueError(problem)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(problem) from exc
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or parts.username or parts.password:
        raise ValueError(problem)
    if parts.query or parts.fragment:
        raise ValueError(problem)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host):
            raise ValueError(problem) from None
        shown = host
    else:
        shown = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES:
        raise ValueError(
            f"SMTP URL scheme must be one of {', '.join(sorted(SMTP_SCHEMES))}, got {url!r}"
        )
    if not parts.hostname:
        raise ValueError(f"SMTP URL has no host: {url!r}")
    try:
        port = parts.port or SMTP_SCHEMES[parts.scheme]
    except ValueError as exc:
        raise ValueError(f"SMTP URL has a bad port: {url!r}") from exc
    return SmtpTarget(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _check_dkim(settings: Settings) -> None:
    """Both of each pair or neither, keys that can sign, one signature per algorithm."""
    algorithms = []
    s = settings
    for prefix, selector, key_file in (
        ("ALERTS_DKIM_", s.dkim_selector, s.dkim_private_key_file),
        ("ALERTS_DKIM_SECOND_", s.dkim_second_selector, s.dkim_second_private_key_file),
    ):
        if bool(selector) != bool(key_file):
            raise SettingsError(
                f"DKIM needs both {prefix}SELECTOR and {prefix}PRIVATE_KEY_FILE (or neither)"
            )
        if key_file is None:
            continue
        if not key_file.is_file():
            raise SettingsError(f"{prefix}PRIVATE_KEY_FILE: no such file {key_file}")
        try:
            algorithms.append(key_file_algorithm(key_file))
        except ValueError as exc:
            raise SettingsError(f"{prefix}PRIVATE_KEY_FILE {key_file}: {exc}") from None
    if settings.dkim_second_selector and not settings.dkim_selector:
        raise SettingsError("ALERTS_DKIM_SECOND_SELECTOR needs ALERTS_DKIM_SELECTOR as well")
    if len(algorithms) == 2 and algorithms[0] == algorithms[1]:
        raise SettingsError(
            f"both DKIM keys are {algorithms[0]}: the second signature is for the other "
            "algorithm (an Ed25519 key beside an RSA one, RFC 8463)"
        )
    if settings.dkim_second_selector and settings.dkim_second_selector == settings.dkim_selector:
        raise SettingsError("the two DKIM signatures need different selectors")


def load_settings(**overrides: object) -> Settings:
    """Build the settings and fill in the embedded defaults.

    With nothing configured the service runs on files in ``DATA_DIR``: a SQLite
    database, Kombu's SQLAlchemy transport over another SQLite file, and a secret
    generated once and kept there. A shared database without a secret is refused:
    a generated secret would differ between machines and break every link.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    data_dir = settings.data_dir.expanduser().resolve()
    settings.data_dir = data_dir
    if not settings.database_url:
        settings.database_url = f"sqlite:///{data_dir / 'alerts.db'}"
    if not settings.broker_url:
        settings.broker_url = f"sqla+sqlite:///{data_dir / 'broker.db'}"
    _check_dkim(settings)
    if settings.metrics_dir is None:
        settings.metrics_dir = data_dir / "metrics"
    if settings.media_dir is None:
        settings.media_dir = data_dir / "media"
    if not settings.media_base_url:
        settings.media_base_url = settings.base_url.rstrip("/") + "/media"
    if not settings.rate_limit_storage:
        redis_broker = settings.broker_url.startswith(("redis://", "rediss://"))
        settings.rate_limit_storage = settings.broker_url if redis_broker else "memory://"
    if settings.is_sqlite or settings.broker_url.startswith("sqla+sqlite"):
        data_dir.mkdir(parents=True, exist_ok=True)
    if settings.secret_key is None:
        if not settings.is_sqlite:
            raise SettingsError(
                "ALERTS_SECRET_KEY must be set when the database is not the embedded SQLite "
                "file: every worker and web process must sign links with the same secret"
            )
        settings.secret_key = SecretStr(_embedded_secret(data_dir))
    # Checked for the generated file too: someone may have written a placeholder there.
    problem = secret_problem(settings.secret)
    if problem:
        raise SettingsError(f"ALERTS_SECRET_KEY {problem}; {HOW_TO_GENERATE}")
    if settings.metrics_token is not None:
        problem = secret_problem(settings.metrics_token.get_secret_value())
        if problem:
            raise SettingsError(f"ALERTS_METRICS_TOKEN {problem}; {HOW_TO_GENERATE}")
    return settings


def _embedded_secret(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    # Written aside then hard-linked into place: two processes starting at once
    # end up with one secret, and nobody ever reads a half-written file.
    tmp = path.with_name(f".secret_key.{os.getpid()}.tmp")
    # Private from the first byte: created 0600, never world-readable even briefly.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(value)
    try:
        os.link(tmp, path)
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink()
    return value
