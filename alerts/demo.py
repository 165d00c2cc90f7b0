"""``alerts demo``: the whole pipeline on one laptop, with nothing installed."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.celery_app import create_celery
from alerts.migrate import upgrade
from alerts.models import Delivery, DeliveryStatus, FanOut, Item, ItemStatus, Journalist, utcnow
from alerts.publishing import create_item, find_by_external_id, publish_item
from alerts.seed import demo_journalists_csv, seed_drafts
from alerts.settings import Settings
from alerts.sink import SinkHandler, start_sink
from alerts.subscriptions import import_rows, parse_csv

OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class DemoFailed(RuntimeError):
    pass


def _next_item(session: Session, runtime_taxonomy: object) -> Item:
    """The first seed item not yet published; once all are, a fresh copy of the first."""
    from alerts.taxonomy import Taxonomy

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
    controller, _ = start_sink("127.0.0.1", 0, SinkHandler(maildir=maildir))
    smtp_url = f"smtp://{controller.hostname}:{controller.port}"
    settings = settings.model_copy(update={"smtp_url": smtp_url})
    app = create_celery(settings)
    runtime = app.runtime

    with runtime.sessions() as session:
        summary = import_rows(
            session, parse_csv(demo_journalists_csv(), runtime.taxonomy), utcnow()
        )
        for draft in seed_drafts():  # the archive, as drafts
            assert draft.external_id is not None
            if find_by_external_id(session, draft.external_id) is None:
                create_item(session, runtime.taxonomy, draft)
        session.commit()
    console.print(
        f"sample journalists: {summary.journalists_created} added; "
        f"SMTP sink on {smtp_url} storing into {maildir}"
    )

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
        console.print(f"published item {item_id}: [bold]{title}[/]")
        _wait(runtime.sessions, item_id, worker, console, timeout, log_path)
        with runtime.sessions() as session:
            _summary(session, item_id, maildir, console)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        controller.stop()
        runtime.dispose()


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
                counts = dict(
                    session.execute(
                        select(Delivery.status, func.count())
                        .where(Delivery.item_id == item_id)
                        .group_by(Delivery.status)
                    ).all()
                )
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
        table.add_row(name, email, status, path.name if path else (reply or ""))
    console.print(table)
    matched = len(rows)
    total = session.scalar(select(func.count()).select_from(Journalist)) or 0
    sent = sum(1 for r in rows if r.status == DeliveryStatus.SENT)
    console.print(
        f"{matched} of {total} journalists matched; {sent} email(s) sent. "
        f"Every message the sink received is in {maildir}"
    )
