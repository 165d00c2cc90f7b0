"""Rendered newsroom lists and feeds, kept while the newsroom's version holds.

A filtered list or a feed costs about 10 ms of a core to build (three queries,
the ORM, the template) and changes only when an item, its tags or translations
do: the database moves ``newsroom_version`` on every such write
(``newsroom/version.py``), so an entry is served only under the version it was
rendered at. Nothing time-based: an embargo lifting is a write like any other,
and the next request after it renders afresh.

Per process, bounded in bytes, least recently used out first. Keyed by the route,
the query string exactly as sent and the page's language (what the rendering
reads of the request; these pages set no cookie and read none).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from fastapi.responses import Response

Key = tuple[str, str, str]


@dataclass(frozen=True)
class CachedPage:
    version: int
    status: int
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...]
    updated: datetime | None = None  # a feed's Last-Modified, for If-Modified-Since

    @property
    def etag(self) -> str:
        return dict(self.headers).get("ETag", "")

    def response(self) -> Response:
        return Response(
            self.body,
            status_code=self.status,
            media_type=self.media_type,
            headers=dict(self.headers),
        )


def body_etag(body: bytes) -> str:
    """A strong validator for a list page: its bytes' digest."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class PageCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Key, CachedPage] = OrderedDict()
        self._bytes = 0
        self._lock = Lock()  # the sync routes run in a thread pool
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: Key, version: int | None) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None or version is None or page.version != version:
                if page is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: Key, page: CachedPage) -> None:
        if len(page.body) > self.max_bytes // 8:
            return  # one huge page must not empty the cache of every other
        with self._lock:
            if key in self._pages:
                self._drop(key)
            self._pages[key] = page
            self._bytes += len(page.body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._pages)))

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = 0

    def _drop(self, key: Key) -> None:
        self._bytes -= len(self._pages.pop(key).body)
