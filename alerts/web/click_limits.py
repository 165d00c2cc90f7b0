"""Rate limits on the click endpoint: per token and per client address.

A flood on one token is counted once anyway (``engagement.recording``); this keeps
it, and a client walking through thousands of links, from costing a request each.
The limits are generous (``ALERTS_CLICK_LIMIT_PER_TOKEN``, ``…_PER_CLIENT``): a
person opening a link a few times never meets them, and a moving window means the
first clicks of a token always redirect. The counters live where the sign-up
limits' do (memory, or Redis shared by every web process); if that store is down,
clicks redirect as if there were no limit: the reader's page matters more.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from alerts.core.settings import Settings

log = logging.getLogger(__name__)

# A Redis store that stops answering must not hold a redirect: a quarter of a second,
# then the click goes through unlimited.
STORE_TIMEOUT_SECONDS = 0.25


class ClickLimits:
    def __init__(self, storage_uri: str, per_token: str, per_client: str) -> None:
        options: dict[str, float] = {}
        if storage_uri.startswith(("redis://", "rediss://")):
            options = {
                "socket_timeout": STORE_TIMEOUT_SECONDS,
                "socket_connect_timeout": STORE_TIMEOUT_SECONDS,
            }
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._per_token: RateLimitItem = parse(per_token)
        self._per_client: RateLimitItem = parse(per_client)

    @classmethod
    def of(cls, settings: Settings) -> ClickLimits:
        return cls(
            settings.rate_limit_storage,
            settings.click_limit_per_token,
            settings.click_limit_per_client,
        )

    def wait(self, token: str, client: str) -> int | None:
        """None if this click may go through; otherwise the seconds until it may."""
        # Hashed: the counters' keys are neither tokens nor addresses.
        keys = (
            (self._per_client, "click-client", _hashed(client)),
            (self._per_token, "click-token", _hashed(token)),
        )
        try:
            for limit, scope, key in keys:
                if not self._limiter.hit(limit, scope, key):
                    reset = self._limiter.get_window_stats(limit, scope, key).reset_time
                    return max(1, math.ceil(reset - time.time()))
        except Exception as exc:  # the store is down: redirect anyway
            log.warning("click rate limits unavailable (%s); click let through", type(exc).__name__)
        return None


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
