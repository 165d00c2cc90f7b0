"""The embedded broker: Kombu's SQLAlchemy transport over a SQLite file, tuned for it.

Two things the stock transport cannot be told through its options (every option it
is given goes on to ``create_engine``):

- **How often it polls.** Kombu's virtual transports sleep ``polling_interval``
  (1 s by default) whenever no queue has a message *or the worker's prefetch is
  full*, so each finished batch could leave its process idle for up to a second
  before the next message was fetched, and the first email waited two polls
  (the fan-out, then its first batch). Here it is ``POLLING_INTERVAL``. An empty
  poll is one short transaction per queue on the broker's own small file (never
  the database's), so polling faster costs little; measured against 0.2 s and 1 s
  in docs/performance.md.
- **How the file is written.** WAL, so the pollers' reads do not block the writer,
  and ``synchronous=NORMAL``: a commit is not flushed to disk on its own, the WAL is
  at each checkpoint. A power cut can lose the last few messages, never corrupt the
  file. That is acceptable here and only here: a broker message is a hint to look at
  the database (docs/architecture.md), and the beat's sweep re-queues every pending
  delivery and fans out every published item whose message went missing. The
  database itself stays ``synchronous=FULL`` (core/db.py): an accepted alert is on
  disk before the API or the CLI says so.
"""

from __future__ import annotations

from typing import Any

from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from sqlalchemy import Engine, event

# Seconds between polls when no queue has a message for this worker.
POLLING_INTERVAL = 0.05

# The transport, for Celery's ``broker_transport`` (a dotted path, never from a URL).
TRANSPORT = f"{__name__}:Transport"


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Channel(_Channel):
    def _engine_from_config(self) -> Engine:
        engine: Engine = super()._engine_from_config()  # type: ignore[no-untyped-call]
        event.listen(engine, "connect", _pragmas)
        return engine


class Transport(_Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL


def broker_url(url: str) -> str:
    """The SQLAlchemy URL of a ``sqla+sqlite://`` broker URL, as the transport wants it."""
    return url.removeprefix("sqla+")
