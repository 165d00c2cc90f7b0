"""Who may read /metrics and /readyz, and how often /readyz may knock on the relay.

Both endpoints sit on the public app port. /metrics names queue depths and failure
rates; /readyz names the broker and relay and, uncached, opened an SMTP connection
on every call, so anyone could make the service hammer its own relay. With
``ALERTS_METRICS_TOKEN`` set they answer only ``Authorization: Bearer <token>``
(what Prometheus sends with ``authorization: {credentials: …}``), and the relay's
answer is reused for ``ALERTS_READY_RELAY_CACHE_SECONDS``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

_create_lock = threading.Lock()


def denied(request: Request) -> Response | None:
    """A 401 answer when a metrics token is configured and the request lacks it."""
    token = request.app.state.runtime.settings.metrics_token
    if token is None:
        return None
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    # Constant time: the comparison must not tell a guesser how much was right.
    if scheme.lower() == "bearer" and secrets.compare_digest(
        credentials.strip().encode(), token.get_secret_value().encode()
    ):
        return None
    return JSONResponse(
        {"detail": "this endpoint needs Authorization: Bearer <ALERTS_METRICS_TOKEN>"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


class CachedCheck:
    """One check's result, reused while younger than ``ttl`` seconds.

    Concurrent callers wait for the one check in flight rather than each starting
    their own, so a burst of probes still opens one connection.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._result: dict[str, Any] | None = None
        self._at = 0.0

    def get(self, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            if self._result is not None and now - self._at < self._ttl:
                return self._result | {"cached": True}
            self._result, self._at = run(), self._clock()
            return self._result | {"cached": False}


def relay_check(request: Request) -> CachedCheck:
    """The app's cached relay check, made on first use."""
    state = request.app.state
    with _create_lock:
        check: CachedCheck | None = getattr(state, "relay_check", None)
        if check is None:
            check = CachedCheck(state.runtime.settings.ready_relay_cache_seconds)
            state.relay_check = check
    return check
