"""``alerts bounces …``: the server that receives bounces and feedback-loop complaints."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from alerts.bounces.server import (
    DEFAULT_FEEDBACK_LOCAL_PARTS,
    UNPROCESSED_DIR,
    make_handler,
    start_bounce_server,
)
from alerts.cli.common import celery_app, console, fail
from alerts.cli.signals import install_stop_signals
from alerts.core.logs import use_json
from alerts.core.tokens import VERP_PREFIX

if TYPE_CHECKING:
    from alerts.core.runtime import Runtime

app = typer.Typer(
    help="Bounces and complaints: VERP bounces and ARF reports suppress addresses.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 1) -> NoReturn:
    fail(escape(message), code)


def _runtime() -> Runtime:
    return celery_app().runtime


def _feedback_local_parts(values: list[str]) -> list[str]:
    parts = [v.strip().lower() for v in values]
    for part in parts:
        if not part or "@" in part or part.startswith(f"{VERP_PREFIX}+") or part != part.split()[0]:
            _fail(f"--feedback-address takes a local part such as 'fbl', got {part!r}", 2)
    return parts


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8026,
    feedback_address: Annotated[
        list[str] | None,
        typer.Option(
            "--feedback-address",
            help="Local part that takes feedback-loop (ARF) reports; repeatable. Default: fbl.",
        ),
    ] = None,
    unprocessed: Annotated[
        Path | None,
        typer.Option(help=f"Maildir for mail to look at (DATA_DIR/{UNPROCESSED_DIR})."),
    ] = None,
) -> None:
    """Receive bounces (bounces+TOKEN@…) and complaints; suppress the addresses they name."""
    feedback = _feedback_local_parts(feedback_address or list(DEFAULT_FEEDBACK_LOCAL_PARTS))
    runtime = _runtime()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if runtime.settings.log_format == "json":
        use_json(logging.getLogger())
    # aiosmtpd logs every SMTP command at INFO, addresses included; we log one line per message.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = make_handler(runtime, feedback, unprocessed)
    install_stop_signals()
    controller = None
    # One try from the moment the port opens: a stop signal that lands before the wait
    # still closes the server, the handler and the database cleanly.
    try:
        try:
            controller = start_bounce_server(handler, host, port)
        except (OSError, RuntimeError) as exc:
            _fail(f"cannot listen on {host}:{port}: {exc}")
        console.print(
            f"bounce server on {host}:{port}; feedback address(es): {', '.join(feedback)}; "
            f"mail it cannot use is kept in {handler.unprocessed_path} (Ctrl-C stops)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if controller is not None:
            controller.stop()
        handler.close()
        runtime.dispose()
