"""``alerts demo``: the whole pipeline on one laptop, with nothing installed."""

from __future__ import annotations

import contextlib
import io
import mailbox
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience.csv_import import import_journalists
from alerts.core.migrate import upgrade
from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    ItemStatus,
    Journalist,
    utcnow,
)
from alerts.core.settings import Settings
from alerts.delivery.progress import counts_for_item
from alerts.dev.mailbox_view import create_mailbox_app
from alerts.dev.seed import demo_audience, demo_journalists_csv, seed_drafts
from alerts.dev.sink import SinkHandler, free_port, start_sink
from alerts.items.drafts import create_item, find_by_external_id
from alerts.items.lifecycle import publish_item
from alerts.worker.app import create_celery

OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
# The mailbox view's port when it is free (as in the README's `alerts sink --web 8080`).
MAILBOX_PORT = 8080


class DemoFailed(RuntimeError):
    pass


def _next_item(session: Session, runtime_taxonomy: object) -> Item:
    """The first seed item not yet published; once all are, a fresh copy of the first."""
    from alerts.core.taxonomy import Taxonomy

    assert isinstance(runtime_taxonomy, Taxonomy)
    drafts = seed_drafts()
    for draft in drafts:
        assert draft.external_id is not None
        item = find_by_external_id(session, draft.external_id)
        if item is None:
            item = create_item(session, runtime_taxonomy, draft)
        if item.status == ItemStatus.DRAFT:
            return item
    again = drafts[0].model_copy(update={"external_id": None})
    return create_item(session, runtime_taxonomy, again)


def run_demo(settings: Settings, console: Console, timeout: float) -> None:
    data_dir = settings.data_dir
    maildir = data_dir / "maildir"
    console.print(f"[bold]newsroom-alerts demo[/] in {data_dir}")
    upgrade(settings.database_url)
    viewer = MailboxViewer(maildir)
    try:
        _publish_one(settings, console, timeout, maildir, viewer)
        _linger(viewer, console)
    finally:
        viewer.stop()


def _publish_one(
    settings: Settings, console: Console, timeout: float, maildir: Path, viewer: MailboxViewer
) -> None:
    data_dir = settings.data_dir
    controller, _ = start_sink("127.0.0.1", 0, SinkHandler(maildir=maildir))
    smtp_url = f"smtp://{controller.hostname}:{controller.port}"
    settings = settings.model_copy(update={"smtp_url": smtp_url})
    app = create_celery(settings)
    runtime = app.runtime

    with runtime.sessions() as session:
        summary = import_journalists(
            session, io.BytesIO(demo_journalists_csv().encode()), runtime.taxonomy, utcnow()
        )
        for draft in seed_drafts():  # the archive, as drafts
            assert draft.external_id is not None
            if find_by_external_id(session, draft.external_id) is None:
                create_item(session, runtime.taxonomy, draft)
        session.commit()
    journalists, subscriptions = demo_audience()
    console.print(
        f"{journalists} sample journalists ({subscriptions} subscriptions), "
        f"{summary.journalists_created} added now; "
        f"SMTP sink on {smtp_url} storing into {maildir}"
    )
    console.print(f"mailbox view (every email the sink received): [bold]{viewer.url}[/]")

    log_path = data_dir / "demo-worker.log"
    env = os.environ | {
        "ALERTS_DATA_DIR": str(data_dir),
        "ALERTS_DATABASE_URL": settings.database_url,
        "ALERTS_BROKER_URL": settings.broker_url,
        "ALERTS_SECRET_KEY": settings.secret,
        "ALERTS_SMTP_URL": smtp_url,
    }
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "alerts", "worker", "--concurrency", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with runtime.sessions() as session:
            item = publish_item(session, _next_item(session, runtime.taxonomy))
            session.commit()  # the after-commit hook enqueues the fan-out
            item_id, title = item.id, item.title
        console.print(f"published item {item_id}: [bold]{escape(title)}[/]")
        _wait(runtime.sessions, item_id, worker, console, timeout, log_path)
        with runtime.sessions() as session:
            _summary(session, item_id, maildir, console)
            _drafts_left(session, console)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        controller.stop()
        runtime.dispose()


class MailboxViewer:
    """The mailbox view (``alerts sink --web``) over the demo's Maildir, in a thread."""

    def __init__(self, maildir: Path, host: str = "127.0.0.1") -> None:
        port = MAILBOX_PORT if _port_is_free(host, MAILBOX_PORT) else free_port(host)
        self.url = f"http://{host}:{port}/"
        self._server = uvicorn.Server(
            uvicorn.Config(create_mailbox_app(maildir), host=host, port=port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, name="mailbox-view", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DemoFailed(f"the mailbox view could not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _linger(viewer: MailboxViewer, console: Console) -> None:
    """In a terminal, keep the mailbox view up until Enter; elsewhere (CI, pipes) finish."""
    again = f"alerts sink --web {MAILBOX_PORT}"
    if not (sys.stdin.isatty() and console.is_terminal):
        console.print(f"To read the emails later: [bold]{again}[/], then open its URL.")
        return
    console.print(
        f"Read the emails at [bold]{viewer.url}[/] (HTML, text, headers, source). "
        "Press Enter to stop."
    )
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        input()


def _wait(
    sessions: sessionmaker[Session],
    item_id: int,
    worker: subprocess.Popen[bytes],
    console: Console,
    timeout: float,
    log_path: Path,
) -> None:
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("delivering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("delivering", total=None)
        while True:
            if worker.poll() is not None:
                raise DemoFailed(f"the worker stopped (exit {worker.returncode}); see {log_path}")
            with sessions() as session:
                fanned = session.get(FanOut, item_id)
                counts = counts_for_item(session, item_id)
            total = sum(counts.values())
            done = total - sum(counts.get(s, 0) for s in OPEN)
            if fanned is not None:
                progress.update(task, total=total, completed=done)
                if done == total:
                    return
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"deliveries not finished after {timeout:.0f}s: {counts}; see {log_path}"
                )
            time.sleep(0.2)


def _summary(session: Session, item_id: int, maildir: Path, console: Console) -> None:
    files = {}
    box = mailbox.Maildir(maildir, create=False)
    for key in box.iterkeys():
        message_id = box[key].get("Message-ID")
        if message_id:
            files[message_id] = maildir / "new" / key
    rows = session.execute(
        select(
            Journalist.name,
            Journalist.email,
            Journalist.outlet,
            Delivery.status,
            Delivery.message_id,
            Delivery.last_reply,
        )
        .join(Journalist, Journalist.id == Delivery.journalist_id)
        .where(Delivery.item_id == item_id)
        .order_by(Journalist.email)
    ).all()
    table = Table(title=f"Deliveries of item {item_id}")
    for column in ("journalist", "address", "status", f"file in {maildir / 'new'}"):
        table.add_column(column, overflow="fold")
    for name, email, _outlet, status, message_id, reply in rows:
        path = files.get(message_id or "")
        cells = (name, email or "", status, path.name if path else (reply or ""))
        table.add_row(*(escape(text) for text in cells))
    console.print(table)
    matched = len(rows)
    total = session.scalar(select(func.count()).select_from(Journalist)) or 0
    sent = sum(1 for r in rows if r.status == DeliveryStatus.SENT)
    console.print(
        f"{matched} of {total} journalists matched; {sent} email(s) sent. "
        f"Every message the sink received is in {maildir}"
    )


def _drafts_left(session: Session, console: Console) -> None:
    """Say that the rest of the seed archive is loaded but unsent, and how to send it."""
    drafts = (
        session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.status == ItemStatus.DRAFT, Item.external_id.like("seed:%"))
        )
        or 0
    )
    if drafts:
        console.print(
            f"{drafts} more seed item(s) are drafts, not sent to anyone: run `alerts demo` "
            "again to publish the next one, or publish them from the staff pages "
            "(`alerts serve`, then /staff)."
        )
    else:
        console.print("Every seed item is published; the next `alerts demo` sends a copy.")
