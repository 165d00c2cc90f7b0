"""The readable part of a release's address: ``/news/42-mexico-asylum-seekers``."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 80


def slugify(title: str) -> str:
    """ASCII words joined by hyphens, at most ``MAX_SLUG`` characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rsplit("-", 1)[0] or slug[:MAX_SLUG]
    return slug or "release"


def release_path(item_id: int, title: str) -> str:
    return f"/news/{item_id}-{slugify(title)}"
