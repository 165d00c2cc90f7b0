"""Naming the keys a caller misspelt, with the closest known one.

A misspelt key silently ignored changes an audience ("countires" publishes to
everyone), so every loader of staff input refuses unknown keys with this text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_keys_message(given: Iterable[str], known: Iterable[str]) -> str | None:
    """One sentence naming every unknown key, or None when all are known."""
    known_list = sorted(set(known))
    parts = []
    for key in given:
        if key in known_list:
            continue
        close = difflib.get_close_matches(key, known_list, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        parts.append(f'unknown key "{key[:60]}"{hint}')
    if not parts:
        return None
    return "; ".join(parts) + f"; known keys: {', '.join(known_list)}"
