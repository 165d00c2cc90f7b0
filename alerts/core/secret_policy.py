"""What counts as a usable ``ALERTS_SECRET_KEY`` (and metrics token), and how to make one.

Everything a journalist or a staff member trusts is signed with the secret key:
unsubscribe, preferences and confirmation links, staff session cookies. A key that
someone can guess or read in this repository lets them forge all of those, so
start-up refuses:

- the placeholders this project has ever shipped (docker-compose.yml, docs);
- anything shorter than 32 characters;
- obvious patterns: a word such as ``secret``, ``password`` or ``changeme`` at the
  start, ``placeholder`` or ``insecure`` anywhere;
- anything whose estimated entropy is under 128 bits. The estimate is the lower of
  two Shannon estimates, times the length: one over the characters themselves, one
  over the steps between consecutive characters. The first catches a repeated
  character or a short alphabet (``abab…``), the second runs such as
  ``0123456789`` or ``abcdefgh``, which use many characters but follow a pattern.

A key from :func:`generate_secret` (or ``secrets.token_urlsafe(48)``, or
``openssl rand -base64 48``) passes with a wide margin (about 300 bits estimated).
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from itertools import pairwise

MIN_LENGTH = 32
MIN_ENTROPY_BITS = 128.0

HOW_TO_GENERATE = (
    'generate one with `alerts secret generate` or `python -c "import secrets; '
    'print(secrets.token_urlsafe(48))"`'
)

# Every placeholder value the repository has shipped, so a copied one never passes
# even if it were made long and varied enough.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "change-me-insecure-placeholder-key",
        "change-me",
        "changeme",
    }
)
_WEAK_PREFIXES = ("secret", "password", "passwd", "changeme", "change-me", "change_me")
_WEAK_WORDS = ("placeholder", "insecure", "not-for-production", "changeme", "change-me")


def generate_secret() -> str:
    """A fresh key: 48 random bytes, URL-safe base64 (64 characters)."""
    return secrets.token_urlsafe(48)


def _shannon_bits(symbols: list[int]) -> float:
    counts = Counter(symbols)
    total = len(symbols)
    per_symbol = -sum(n / total * math.log2(n / total) for n in counts.values())
    return max(0.0, per_symbol * total)


def estimated_entropy_bits(value: str) -> float:
    """A conservative estimate of how many random bits ``value`` holds (see module doc)."""
    if len(value) < 2:
        return 0.0
    codes = [ord(c) for c in value]
    steps = [b - a for a, b in pairwise(codes)]
    return min(_shannon_bits(codes), _shannon_bits(steps))


def secret_problem(value: str) -> str | None:
    """Why ``value`` is not a usable secret, or None when it is."""
    lowered = value.strip().lower()
    if lowered in KNOWN_PLACEHOLDERS:
        return "is the placeholder shipped with newsroom-alerts, which anyone can read"
    if len(value) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long (it has {len(value)})"
    if lowered.startswith(_WEAK_PREFIXES) or any(word in lowered for word in _WEAK_WORDS):
        return "looks like a placeholder or a password, not a random key"
    bits = estimated_entropy_bits(value)
    if bits < MIN_ENTROPY_BITS:
        return (
            f"is not random enough (about {bits:.0f} bits estimated, "
            f"{MIN_ENTROPY_BITS:.0f} needed): repeated characters or runs such as 0123…"
        )
    return None
