"""The ``alerts`` command line (Typer + Rich)."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli import bounces as bounces_cli
from alerts.cli import feeds as feeds_cli
from alerts.cli.common import celery_app, console, errors, fail
from alerts.core.models import utcnow
from alerts.core.settings import SettingsError, load_settings
from alerts.items.drafts import InvalidItem, create_item, parse_draft
from alerts.items.embargoes import embargo
from alerts.items.lifecycle import create_and_publish
from alerts.worker.app import QUEUES

app = typer.Typer(
    help="Email press alerts for a newsroom.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
journalists_app = typer.Typer(help="Journalists and their subscriptions.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff API keys.", no_args_is_help=True)
deliveries_app = typer.Typer(help="The delivery record.", no_args_is_help=True)
dkim_app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)
secret_app = typer.Typer(help="The key that signs links and sessions.", no_args_is_help=True)
app.add_typer(dkim_app, name="dkim")
app.add_typer(secret_app, name="secret")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(db_app, name="db")
app.add_typer(journalists_app, name="journalists")
app.add_typer(staff_app, name="staff")
app.add_typer(feeds_cli.app, name="feed")
app.add_typer(bounces_cli.app, name="bounces")


def _schema_hint(exc: Exception) -> NoReturn:
    fail(f"the database is not ready ({str(exc).splitlines()[0]}); run `alerts db upgrade`")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or update the tables (Alembic migrations)."""
    from alerts.core.migrate import upgrade

    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(f"configuration: {exc}", 2)
    upgrade(settings.database_url)
    console.print("database is up to date")


@app.command()
def publish(
    title: Annotated[str | None, typer.Option(help="Headline; becomes the subject.")] = None,
    summary: Annotated[str, typer.Option(help="One-paragraph standfirst.")] = "",
    body: Annotated[str, typer.Option(help="Full text; blank lines separate paragraphs.")] = "",
    url: Annotated[str | None, typer.Option(help="Link to the item on the website.")] = None,
    kind: Annotated[str, typer.Option(help="press_release, report, statement or news.")] = (
        "press_release"
    ),
    country: Annotated[list[str] | None, typer.Option(help="ISO 3166-1 alpha-2; repeatable.")] = (
        None
    ),
    topic: Annotated[list[str] | None, typer.Option(help="Topic code; repeatable.")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your id; publishing twice is a no-op.")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="JSON items in the seed's shape.")] = None,
    embargo_until: Annotated[
        datetime | None,
        typer.Option(
            help="Under embargo until this time (ISO 8601 with a UTC offset): verified "
            "press get it now, everyone else then.",
            formats=["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
) -> None:
    """Publish an item now (or every item in --file); prints the item ids."""
    from alerts.dev.seed import drafts_from_json

    if file is not None and title is not None:
        fail("give either --file or --title, not both", 2)
    if embargo_until is not None and file is not None:
        fail("--embargo-until applies to one item: use --title", 2)
    try:
        if file is not None:
            try:
                drafts = drafts_from_json(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError) as exc:
                fail(f"cannot read {file}: {exc}", 2)
        elif title is not None:
            drafts = [
                parse_draft(
                    {
                        "title": title,
                        "summary": summary,
                        "body": body,
                        "url": url,
                        "kind": kind,
                        "countries": country or [],
                        "topics": topic or [],
                        "external_id": external_id,
                    }
                )
            ]
        else:
            fail("give --title (and the other fields) or --file", 2)
    except ValueError as exc:
        fail(str(exc), 2)
    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            if embargo_until is not None:
                item = create_item(session, runtime.taxonomy, drafts[0])
                items = [embargo(session, item, embargo_until, utcnow())]
            else:
                items = create_and_publish(session, runtime.taxonomy, drafts)
            session.commit()
    except InvalidItem as exc:
        fail(str(exc), 2)
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    for item in items:
        console.print(item.id)


def _verification(email: str, by: str | None) -> None:
    from sqlalchemy import select

    from alerts.audience import membership
    from alerts.audience.subscriptions import InvalidAddress, normalise_email
    from alerts.core.models import Journalist
    from alerts.items.embargoes import embargoed_item_ids

    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        fail(str(exc), 2)
    celery = celery_app()
    try:
        with celery.runtime.sessions() as session:
            journalist = session.scalar(select(Journalist).where(Journalist.email == address))
            if journalist is None:
                fail(f"no journalist {address}")
            if by is None:
                membership.unverify(journalist)
            else:
                membership.verify(journalist, by, utcnow())
            session.commit()
            owed = embargoed_item_ids(session) if by is not None else []
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    for item_id in owed:
        celery.enqueue_fan_out(item_id)  # what is under embargo now and matches them
    console.print(f"{address}: {'verified press' if by else 'no longer verified press'}")


@journalists_app.command("verify")
def journalists_verify(
    email: Annotated[str, typer.Argument(help="The journalist's address.")],
    by: Annotated[str, typer.Option(help="Who verified them (kept on record).")],
) -> None:
    """Mark a journalist verified press: embargoed items reach them before they lift."""
    _verification(email, by)


@journalists_app.command("unverify")
def journalists_unverify(email: Annotated[str, typer.Argument(help="The address.")]) -> None:
    """No longer verified press: embargoed items not yet sent to them are not sent."""
    _verification(email, None)


@journalists_app.command("import")
def journalists_import(
    file: Annotated[Path, typer.Argument(help="CSV: email,name,outlet,countries,topics,cadence")],
) -> None:
    """Import journalists (active at once) and their subscriptions; all rows or none."""
    from alerts.audience.csv_import import import_journalists
    from alerts.audience.csv_rows import ImportFailed

    runtime = celery_app().runtime
    try:
        source = file.open("rb")
    except OSError as exc:
        fail(f"cannot read {file}: {exc}", 2)
    try:
        with source, runtime.sessions() as session:
            summary = import_journalists(
                session, source, runtime.taxonomy, utcnow(), runtime.address_hasher
            )
            session.commit()
    except ImportFailed as exc:
        for problem in exc.problems:
            errors.print(f"{file}: {problem}", highlight=False)
        if exc.total > len(exc.problems):
            errors.print(f"… and {exc.total - len(exc.problems)} more", highlight=False)
        fail(f"nothing imported: {exc.bad_rows} bad row(s), {exc.total} problem(s)", 2)
    except OSError as exc:
        fail(f"cannot read {file}: {exc}", 2)
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    for line in summary.skipped:
        errors.print(f"skipped {line}", highlight=False)
    console.print(
        f"{summary.journalists_created} journalist(s) added, {summary.journalists_updated} "
        f"updated, {summary.subscriptions_added} subscription(s) added"
    )


@dkim_app.command("keygen")
def dkim_keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600).")],
    selector: Annotated[str, typer.Option(help="The DKIM selector, e.g. alerts2026.")],
    domain: Annotated[str | None, typer.Option(help="Default: the domain of ALERTS_FROM.")] = None,
) -> None:
    """Make a signing key and print the DNS TXT record to publish for it."""
    import os

    from alerts.mail.dkim import dns_record, generate

    if out.exists():
        fail(f"{out} exists: refusing to overwrite a key", 2)
    if not selector.replace("-", "").isalnum():
        fail(f"not a DKIM selector: {selector!r}", 2)
    if domain is None:
        try:
            domain = load_settings().from_domain
        except SettingsError as exc:
            fail(f"configuration: {exc}", 2)
    pem, public = generate()
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(pem)
    errors.print(
        f"private key written to {out}; publish this record, then set "
        f"ALERTS_DKIM_SELECTOR={selector} ALERTS_DKIM_PRIVATE_KEY_FILE={out}"
    )
    console.print(dns_record(selector, domain, public), highlight=False, soft_wrap=True)


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a fresh random value for ALERTS_SECRET_KEY (or ALERTS_METRICS_TOKEN)."""
    from alerts.core.secret_policy import generate_secret

    # Plain print: no Rich wrapping or markup may alter the key.
    print(generate_secret())


@deliveries_app.command("retry")
def deliveries_retry(
    item: Annotated[int | None, typer.Option(help="Only this item's deliveries.")] = None,
    status: Annotated[str, typer.Option(help="Which deliveries: only 'failed' is retried.")] = (
        "failed"
    ),
    since: Annotated[
        str | None, typer.Option(help="Only those created since (ISO date or date-time, UTC).")
    ] = None,
) -> None:
    """Queue failed deliveries again (suppressed or unsubscribed journalists stay out)."""
    from datetime import UTC, datetime

    from alerts.delivery.recovery import retry_failed

    if status != "failed":
        fail("only failed deliveries can be retried (--status failed)", 2)
    if item is None and since is None:
        fail("give --item ID or --since DATE, so a retry is never everything by accident", 2)
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since: not a date or date-time: {since!r}", 2)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    celery = celery_app()
    runtime = celery.runtime
    try:
        with runtime.sessions() as session:
            ids = retry_failed(session, item, utcnow(), when)
            session.commit()
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    celery.enqueue_batches(ids)
    console.print(f"{len(ids)} failed deliveries queued again")


@staff_app.command("add-key")
def staff_add_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option(help="publisher, operator or admin.")],
) -> None:
    """Create a staff API key; it is printed once and only its hash is kept."""
    from alerts.staff.keys import create_key

    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            row, key = create_key(session, name, role, utcnow())
            session.commit()
            key_id = row.id
    except ValueError as exc:
        fail(str(exc), 2)
    except (OperationalError, ProgrammingError) as exc:
        _schema_hint(exc)
    errors.print(f"key {key_id} ({role}) for {name}; store it now, it is not shown again:")
    console.print(key, highlight=False)


@staff_app.command("revoke-key")
def staff_revoke_key(
    key: Annotated[str, typer.Argument(help="The key's id or its prefix (nra_…).")],
) -> None:
    """Revoke a staff API key at once."""
    from alerts.staff.keys import UnknownKey, revoke_key

    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            row = revoke_key(session, key, utcnow())
            session.commit()
            console.print(f"revoked key {row.id} ({row.name}, {row.role})")
    except UnknownKey as exc:
        fail(str(exc), 2)


@staff_app.command("list-keys")
def staff_list_keys() -> None:
    """The staff keys (never the keys themselves)."""
    from rich.table import Table
    from sqlalchemy import select

    from alerts.core.models import ApiKey

    runtime = celery_app().runtime
    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    with runtime.sessions() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            table.add_row(
                str(row.id),
                row.name,
                row.role,
                row.prefix,
                f"{row.created_at:%Y-%m-%d}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
    console.print(table)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the same as JSON.")] = False,
    watch: Annotated[bool, typer.Option(help="Refresh every few seconds (Ctrl-C stops).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 3.0,
) -> None:
    """Broker, workers, queues, deliveries and recent items at a glance."""
    import time

    from alerts.ops.status import broker_part, database_part
    from alerts.ops.status_view import render

    celery = celery_app()

    def snapshot() -> dict[str, object]:
        try:
            with celery.runtime.sessions() as session:
                data = database_part(session, utcnow())
        except (OperationalError, ProgrammingError) as exc:
            _schema_hint(exc)
        return data | broker_part(celery)

    if as_json:
        console.print_json(json.dumps(snapshot(), default=str))
        return
    if not watch:
        console.print(render(snapshot()))
        return
    from rich.live import Live

    with Live(render(snapshot()), console=console, refresh_per_second=1) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render(snapshot()))
        except KeyboardInterrupt:
            pass


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Processes (default from settings).")
    ] = None,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = ",".join(
        QUEUES
    ),
    beat: Annotated[bool, typer.Option(help="Also run the beat (the periodic sweep).")] = False,
    loglevel: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Start a Celery worker with the project's settings."""
    celery = celery_app()
    settings = celery.runtime.settings
    argv = [
        "worker",
        "--loglevel",
        loglevel,
        "--queues",
        queues,
        "--concurrency",
        str(concurrency or settings.worker_concurrency),
        "--hostname",
        f"alerts-{os.getpid()}@%h",
    ]
    if beat:
        argv += ["--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    celery.worker_main(argv)


@app.command()
def sink(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8025,
    maildir: Annotated[Path | None, typer.Option(help="Default: DATA_DIR/maildir.")] = None,
    web: Annotated[
        int | None, typer.Option(help="Also serve a page listing the messages on this port.")
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Let --web listen on a non-loopback --host: the page has no login and "
            "shows every captured email with its live links.",
        ),
    ] = False,
) -> None:
    """Run the built-in SMTP sink: every message it receives is kept in a Maildir."""
    import threading

    from alerts.dev.mailbox_view import is_loopback
    from alerts.dev.sink import SinkHandler, start_sink

    if web is not None and not public and not is_loopback(host):
        fail(
            f"the mailbox view has no login and would publish every captured email on "
            f"{host}: use --host 127.0.0.1, or add --public if that is really meant",
            2,
        )

    if maildir is None:
        try:
            maildir = load_settings().data_dir / "maildir"
        except SettingsError as exc:
            fail(f"configuration: {exc}", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd logs every SMTP command at INFO; we log one line per message instead.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        controller, _ = start_sink(host, port, SinkHandler(maildir=maildir))
    except (OSError, RuntimeError) as exc:
        fail(f"cannot listen on {host}:{port}: {exc}")
    console.print(f"SMTP sink on {host}:{port}, storing messages in {maildir} (Ctrl-C stops)")
    try:
        if web is not None:
            import uvicorn

            from alerts.dev.mailbox_view import create_mailbox_app

            console.print(f"mailbox view on http://{host}:{web}/")
            uvicorn.run(create_mailbox_app(maildir), host=host, port=web, log_level="warning")
            return
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the web pages (journalists' subscribe, preferences and unsubscribe)."""
    from urllib.parse import urlsplit

    import uvicorn

    from alerts.core.log_redaction import uvicorn_log_config
    from alerts.web import create_app

    celery = celery_app()
    web = create_app(celery)
    settings = celery.runtime.settings
    root_path = urlsplit(settings.base_url).path.rstrip("/")
    # X-Forwarded-* only from ALERTS_TRUSTED_PROXIES (none by default): otherwise any
    # client could choose the address the per-client sign-up limit counts.
    trusted = settings.trusted_proxy_list
    uvicorn.run(
        web,
        host=host,
        port=port,
        root_path=root_path,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        # The access log would otherwise keep every link token it sees.
        log_config=uvicorn_log_config(),
    )


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the deliveries.")] = 120.0,
) -> None:
    """Run everything on the embedded defaults: publish a seed item to sample journalists."""
    from alerts.dev.demo import DemoFailed, run_demo

    try:
        run_demo(load_settings(), console, timeout)
    except SettingsError as exc:
        fail(f"configuration: {exc}", 2)
    except DemoFailed as exc:
        fail(str(exc))


def main() -> None:
    app()
