"""The embedded broker: Kombu's SQLAlchemy transport over a SQLite file, tuned for it.

What the stock transport does that costs the embedded set-up, and what we change
(measured in docs/performance.md):

- **It polls, and sleeps between polls.** Kombu's virtual transports sleep
  ``polling_interval`` (1 s by default) whenever no queue has a message *or the
  worker's prefetch is full*. Here the interval is ``POLLING_INTERVAL``, and the
  sleep is a wait that an acknowledgement ends at once: with prefetch 1, the moment
  a pool process finishes a batch is the moment its next message can be fetched, so
  it no longer idles until the next poll (about an eighth of each process's time in
  the profile before). Messages published by another process still wait for a poll.
- **It never deletes a message.** A fetched message is only marked invisible, and
  every poll (``visible != 0 ORDER BY timestamp, id``) scans the rows of every
  message ever sent, holding the file's write lock while it does: 10 ms per queue
  per poll after 10,000 messages, 57 ms after 100,000 (three queues, twenty polls a
  second). Here a fetched message is deleted in the same transaction. Nothing read
  an invisible row again: a message handed back (a worker stopping with it unacked)
  is written anew by Kombu, never made visible again. Rows left invisible by the
  stock transport are deleted when the broker is first opened.
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

import threading
import time
from queue import Empty
from typing import Any, ClassVar

from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from sqlalchemy import Engine, event, text

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
    connection: Transport
    # Broker files already rid of the stock transport's leftovers, by URL (as Kombu's
    # own engine cache, which the stock channel shares with this one).
    _pruned: ClassVar[set[str]] = set()

    def _engine_from_config(self) -> Engine:
        engine: Engine = super()._engine_from_config()  # type: ignore[no-untyped-call]
        event.listen(engine, "connect", _pragmas)
        return engine

    def _open(self) -> Any:
        opened = super()._open()  # type: ignore[no-untyped-call]
        url = self.connection.client.hostname  # type: ignore[union-attr]
        if url not in self._pruned:
            # What the stock transport left behind: every row it ever fetched.
            with opened[0].begin() as conn:
                conn.execute(text(f"DELETE FROM {self.message_tablename} WHERE NOT visible"))
            self._pruned.add(url)
        return opened

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """The stock fetch, with the row deleted rather than marked invisible."""
        session = self.session
        found = self._get_or_create(queue)  # type: ignore[no-untyped-call]
        # The write lock first: two pollers must not both read the same row.
        session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                session.query(self.message_cls)
                .filter(self.message_cls.queue_id == found.id)
                .filter(self.message_cls.visible != False)  # noqa: E712 (SQL, not Python)
                .order_by(self.message_cls.sent_at)
                .order_by(self.message_cls.id)
                .limit(1)
                .first()
            )
            if message is None:
                raise Empty()
            payload = loads(bytes_to_str(message.payload))  # type: ignore[no-untyped-call]
            session.delete(message)
            return payload
        finally:
            session.commit()

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        self.connection.wake()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        self.connection.wake()


class Transport(_Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)  # type: ignore[no-untyped-call]
        # Set when a message is acknowledged (in the pool's result thread): room in
        # the prefetch, so the sleeping poller looks again at once.
        self._room = threading.Event()

    def wake(self) -> None:
        self._room.set()

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        """Kombu's loop, with its sleep between polls cut short by :meth:`wake`."""
        started = time.monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            # Cleared before looking: an ack that lands after the look still wakes us.
            self._room.clear()
            try:
                self.cycle.get(self._deliver, timeout=timeout)  # type: ignore[union-attr]
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None  # socket.timeout, as Kombu raises
                if interval is not None:
                    self._room.wait(interval)


def broker_url(url: str) -> str:
    """The SQLAlchemy URL of a ``sqla+sqlite://`` broker URL, as the transport wants it."""
    return url.removeprefix("sqla+")
