"""Engine and session factory; the after-commit hook that enqueues fan-outs.

Which changes call for a fan-out is the items' rule (``items.fan_out_rule``),
handed in by the composition root: this module only collects and dispatches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

_PUBLISHED_KEY = "alerts.published_item_ids"


def upsert_insert(session: Session) -> Any:
    """The dialect's ``insert`` (PostgreSQL or SQLite): the one with ``on_conflict_*``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_engine(
    url: str, idle_in_transaction_seconds: float = 0, pool_size: int = 0, **kwargs: Any
) -> Engine:
    """``pool_size``: connections kept open (as many again when busier); 0, SQLAlchemy's
    default. An in-memory SQLite database has one connection per thread: not pooled."""
    if pool_size and make_url(url).database not in (None, "", ":memory:"):
        kwargs |= {"pool_size": pool_size, "max_overflow": pool_size}
    if url.startswith("sqlite"):
        # Workers, the web app and the CLI share the file: WAL lets readers run
        # beside the one writer, and the busy timeout queues writers instead of
        # failing them with "database is locked".
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: in WAL mode NORMAL leaves the last commits unflushed, and a power cut
            # would lose an alert the API or the CLI had already accepted. (The embedded
            # broker's file may use NORMAL: its messages are hints, see worker/sqlite_broker.)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql"):
        # Our statements are short and repeated: compiling them to machine code
        # (JIT) cost 0.6 s on a fan-out slice that runs in 0.2 s without it.
        options = "-c jit=off"
        if idle_in_transaction_seconds > 0:
            # A host lost or frozen inside a transaction (its link gone, its
            # processes stopped) says nothing, and the server would keep its
            # session and row locks for hours: the sweep that frees the host's rows
            # then waits on those locks, and every duty behind it. Our transactions
            # never wait on anything but the database, so one idle this long
            # belongs to a host that is gone: the server ends it.
            ms = int(idle_in_transaction_seconds * 1000)
            options += f" -c idle_in_transaction_session_timeout={ms}"
        kwargs.setdefault("connect_args", {"options": options})
    return create_engine(url, pool_pre_ping=True, **kwargs)


FanOutRule = Callable[[object, bool], int | None]


def make_session_factory(
    engine: Engine,
    on_published: Callable[[int], None] | None = None,
    fans_out: FanOutRule | None = None,
) -> sessionmaker[Session]:
    """Sessions whose commits call ``on_published`` for every item ``fans_out`` names.

    ``fans_out(obj, is_new)`` is asked about each new or changed object of a flush.

    The fan-out is sent only after the commit succeeded, so a worker never looks
    for rows that are not there yet; if the broker is down the sweep catches up.
    """
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    if on_published is None or fans_out is None:
        return factory
    rule = fans_out

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _ctx: Any) -> None:
        for obj in list(session.new) + list(session.dirty):
            item_id = rule(obj, obj in session.new)
            if item_id is not None:
                session.info.setdefault(_PUBLISHED_KEY, set()).add(item_id)

    @event.listens_for(factory, "after_commit")
    def _enqueue(session: Session) -> None:
        for item_id in sorted(session.info.pop(_PUBLISHED_KEY, ())):
            try:
                on_published(item_id)
            except Exception:  # the sweep re-enqueues it; the publish itself stands
                log.exception("could not enqueue fan-out for item %s", item_id)

    @event.listens_for(factory, "after_soft_rollback")
    def _forget(session: Session, previous_transaction: Any) -> None:
        # Only the outermost rollback undoes the publish; a savepoint's does not.
        if previous_transaction.parent is None:
            session.info.pop(_PUBLISHED_KEY, None)

    return factory
