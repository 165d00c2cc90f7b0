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
        # One mailbox however it is tagged (ana+1@, ana+2@ …); hashed, so the
        # counters' keys are not a list of addresses.
        local, _, domain = email.partition("@")
        key = hashlib.sha256(f"{local.split('+', 1)[0]}@{domain}".encode()).hexdigest()
        return self._limiter.hit(self._per_address, "signup-address", key)
