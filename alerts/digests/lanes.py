"""A planning tick in lanes: each chunk of due journalists its own transaction.

One transaction for a whole tick keeps the database and the planner's Python taking
turns: at 100,000 due digests, about 10 s of the server's CPU, then 7 s of ours,
one after the other. With the chunks planned by several threads, each on its own
connection, one chunk's statements run while another's Python works, and two
database processes share the cores (measured in docs/performance.md).

Nothing is weakened by committing a chunk at a time:
- a chunk records its digests, reserves their items and sets its journalists'
  next look in one transaction, so it is planned whole or not at all;
- a chunk that fails leaves its journalists due: the next tick plans them;
- the ids of a chunk's digests are queued once it has committed, by the caller's
  thread; a queue message lost in between is found again by the sweep
  (``runs.sweep``), never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from alerts.digests.due import CHUNK, due_ids
from alerts.digests.planning import plan_among

log = logging.getLogger(__name__)


def plan_in_lanes(
    sessions: sessionmaker[Session],
    now: datetime,
    lanes: int,
    committed: Callable[[list[int]], None],
) -> list[int]:
    """Plan every digest due by ``now``, ``lanes`` chunks at a time; the ids of those
    to send, each chunk's handed to ``committed`` (in this thread) once it committed.

    SQLite has one writer: give it one lane. A chunk's error is raised once the
    others are done (their work stands).
    """
    with sessions() as session:
        ids = due_ids(session, now)
    chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]

    def one(chunk: list[int]) -> list[int]:
        with sessions() as session, session.begin():
            return plan_among(session, now, chunk)

    planned: list[int] = []
    failed: BaseException | None = None
    if lanes <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            done = one(chunk)
            committed(done)
            planned += done
        return sorted(planned)
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="digest-lane") as pool:
        futures: list[Future[list[int]]] = [pool.submit(one, chunk) for chunk in chunks]
        for future in as_completed(futures):
            try:
                done = future.result()
            except Exception as error:  # the others go on; their journalists are planned
                log.warning("digest planning: a chunk failed, its journalists stay due: %r", error)
                failed = failed or error
                continue
            committed(done)
            planned += done
    if failed is not None:
        raise failed
    return sorted(planned)
