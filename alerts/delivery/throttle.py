"""A per-relay send rate shared by every worker (Redis), or per process (embedded)."""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RelayThrottle:
    """Blocks before each message so the relay sees at most ``per_second`` of them."""

    def __init__(self, storage_uri: str, per_second: float, relay: str) -> None:
        self.relay = relay
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        # Sub-one rates are expressed per minute, as `limits` counts whole messages.
        self._item: RateLimitItem = (
            RateLimitItemPerSecond(int(per_second))
            if per_second >= 1
            else RateLimitItemPerMinute(max(int(per_second * 60), 1))
        )
        self._pause = 1.0 / max(per_second, 1 / 60) / 4

    def acquire(self) -> None:
        while not self._limiter.hit(self._item, "smtp-relay", self.relay):
            time.sleep(self._pause)
