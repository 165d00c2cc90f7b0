"""The ``alerts`` command line (Typer + Rich)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli import bounces as bounces_cli
from alerts.cli import db as db_cli
from alerts.cli import deliveries as deliveries_cli
from alerts.cli import dkim as dkim_cli
from alerts.cli import feeds as feeds_cli
from alerts.cli import items as items_cli
from alerts.cli import journalists as journalists_cli
from alerts.cli import media as media_cli
from alerts.cli import publish as publish_cli
from alerts.cli import secret as secret_cli
from alerts.cli import staff as staff_cli
from alerts.cli.common import celery_app, console, fail, schema_hint
from alerts.cli.output import print_json
from alerts.cli.signals import install_stop_signals, reset_inherited_sigint
from alerts.core.models import utcnow
from alerts.core.settings import SettingsError, load_settings
from alerts.worker.app import QUEUES

app = typer.Typer(
    help="Email press alerts for a newsroom.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(dkim_cli.app, name="dkim")
app.add_typer(secret_cli.app, name="secret")
app.add_typer(deliveries_cli.app, name="deliveries")
app.add_typer(db_cli.app, name="db")
app.add_typer(journalists_cli.app, name="journalists")
app.add_typer(staff_cli.app, name="staff")
app.add_typer(feeds_cli.app, name="feed")
app.add_typer(bounces_cli.app, name="bounces")
app.add_typer(media_cli.app, name="media")
app.add_typer(items_cli.app, name="items")
app.command()(publish_cli.publish)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the same as JSON.")] = False,
    watch: Annotated[bool, typer.Option(help="Refresh every few seconds (Ctrl-C stops).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 3.0,
) -> None:
    """Broker, workers, queues, deliveries and recent items at a glance."""
    import time

    from alerts.ops.status import broker_part, database_part, duties_part
    from alerts.ops.status_view import render

    celery = celery_app()

    def snapshot() -> dict[str, object]:
        try:
            with celery.runtime.sessions() as session:
                data = database_part(session, utcnow())
            data |= duties_part(celery)
        except (OperationalError, ProgrammingError) as exc:
            schema_hint(exc)
        return data | broker_part(celery)

    if as_json:
        print_json(snapshot())
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
    reset_inherited_sigint()
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
    install_stop_signals()
    controller = None
    # One try from the moment the port opens: a signal that lands between listening and
    # the wait (a supervisor stopping us at once) still takes the clean way out.
    try:
        try:
            controller, _ = start_sink(host, port, SinkHandler(maildir=maildir))
        except (OSError, RuntimeError) as exc:
            fail(f"cannot listen on {host}:{port}: {exc}")
        console.print(f"SMTP sink on {host}:{port}, storing messages in {maildir} (Ctrl-C stops)")
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
        if controller is not None:
            controller.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes answering requests (uvicorn's multi-process mode): one per core "
            "for bursts of one-click unsubscribes. More than one needs a shared "
            "ALERTS_RATE_LIMIT_STORAGE (redis://…).",
        ),
    ] = 1,
) -> None:
    """Serve the web pages (journalists' subscribe, preferences and unsubscribe)."""
    import contextlib
    from typing import Any
    from urllib.parse import urlsplit

    import uvicorn

    from alerts.core.log_redaction import uvicorn_log_config
    from alerts.web import create_app
    from alerts.web.served import FACTORY

    # Built here even with several workers: a configuration error stops the command
    # at once, before any process starts, and the embedded secret file exists.
    celery = celery_app()
    settings = celery.runtime.settings
    if workers > 1 and settings.rate_limit_storage.startswith("memory://"):
        fail(
            f"--workers {workers} needs ALERTS_RATE_LIMIT_STORAGE shared by the processes "
            "(redis://…): with memory:// each would count sign-ups on its own, "
            f"{workers} times the limit",
            2,
        )
    # One process: the app built here. Several: each builds its own from the environment.
    web: Any = create_app(celery) if workers == 1 else FACTORY
    if workers > 1:
        celery.runtime.dispose()
    root_path = urlsplit(settings.base_url).path.rstrip("/")
    # X-Forwarded-* only from ALERTS_TRUSTED_PROXIES (none by default): otherwise any
    # client could choose the address the per-client sign-up limit counts.
    trusted = settings.trusted_proxy_list
    # uvicorn finishes the requests in flight, then raises the signal it caught again
    # with the handler it found: with the inherited default, SIGTERM would then kill
    # the process (exit -15) and SIGINT end in a traceback. Ours make both the
    # KeyboardInterrupt caught here, after the graceful shutdown: exit 0.
    install_stop_signals()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            web,
            host=host,
            port=port,
            workers=workers,
            factory=workers > 1,
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

    install_stop_signals()
    try:
        run_demo(load_settings(), console, timeout)
    except SettingsError as exc:
        fail(f"configuration: {exc}", 2)
    except DemoFailed as exc:
        fail(str(exc))


def main() -> None:
    app()
