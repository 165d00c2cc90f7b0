"""A burst of requests waits for the web's threads; it never opens connections past the pool.

With FastAPI's 40 handler threads over a pool of 5, each request beyond the fifth
opened a PostgreSQL connection (a server process forked) and closed it again: a
burst of one-click POSTs paid a connection each. ``ALERTS_DB_POOL_SIZE`` now sets
both, so at most that many connections are ever opened. A real server, real
PostgreSQL, 40 requests at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event

from alerts.core.migrate import upgrade
from alerts.core.settings import load_settings
from alerts.core.tokens import Purpose
from alerts.dev.sink import free_port
from alerts.web import create_app
from alerts.worker.app import AlertsCelery, create_celery
from tests.conftest import SECRET
from tests.factories import journalist

POOL = 3
AT_ONCE = 40


@pytest.fixture()
def served(postgres_url: str, tmp_path: Path) -> Iterator[tuple[AlertsCelery, list[int]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        base_url=base,
        database_url=postgres_url,
        db_pool_size=POOL,
    )
    upgrade(settings.database_url)
    celery = create_celery(settings)
    opened: list[int] = []

    @event.listens_for(celery.runtime.engine, "connect")
    def _count(dbapi_connection: Any, _record: Any) -> None:
        opened.append(id(dbapi_connection))

    server = uvicorn.Server(
        uvicorn.Config(create_app(celery), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "web server did not start"
        time.sleep(0.05)
    try:
        yield celery, opened
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        celery.runtime.dispose()


def test_a_burst_opens_no_more_connections_than_the_pool(
    served: tuple[AlertsCelery, list[int]],
) -> None:
    celery, opened = served
    with celery.runtime.sessions() as session, session.begin():
        people = [journalist(session, f"burst{n}@example.org", ([], [])) for n in range(AT_ONCE)]
        session.flush()
        links = [celery.runtime.link(Purpose.UNSUBSCRIBE, p.id) for p in people]
    before = len(opened)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post(link, data={"List-Unsubscribe": "One-Click"}) for link in links)
            )
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * AT_ONCE
    assert len(opened) - before <= POOL, f"{len(opened) - before} connections opened"
