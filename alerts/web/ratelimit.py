"""Rate limits on sign-up requests (the `limits` library; memory or Redis storage)."""

from __future__ import annotations

import hashlib

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class SignUpLimits:
    def __init__(self, storage_uri: str, per_address: str, per_client: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_address: RateLimitItem = parse(per_address)
        self._per_client: RateLimitItem = parse(per_client)

    def client_allowed(self, client: str) -> bool:
        return self._limiter.hit(self._per_client, "signup-client", client)

    def address_allowed(self, email: str) -> bool:
        # Hashed: the counters' keys should not be a list of addresses.
        key = hashlib.sha256(email.encode()).hexdigest()
        return self._limiter.hit(self._per_address, "signup-address", key)
