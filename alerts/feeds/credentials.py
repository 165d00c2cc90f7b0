"""URLs shown or logged without the credentials they may carry.

A feed behind HTTP basic auth is registered as ``https://user:pass@host/feed``;
the URL is stored whole (the poller needs it) but printed and logged as
``https://***@host/feed``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def hide_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable (a bad IPv6 literal): show no part of it that may be secret
        return url.rsplit("@", 1)[-1] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
