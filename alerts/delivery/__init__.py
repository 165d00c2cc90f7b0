"""Delivery: fan-out, matching, the record, sending a batch, breaker, throttle, retention."""
