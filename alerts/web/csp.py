"""The pages' Content-Security-Policy: the app's own files, and images from the media store.

The media store's public URLs may point at another host (``ALERTS_MEDIA_BASE_URL``:
a CDN or a bucket); a release's photo there is only shown if that host's origin is
in ``img-src``. Only the origin (scheme, host, port) is added, as the settings
checked it at start-up: never a path, never anything a header could be split on.
"""

from __future__ import annotations

from alerts.core.settings import Settings, media_origin

BASE = "default-src 'self'; style-src 'self' 'unsafe-inline'"
ENDS = "form-action 'self'; frame-ancestors 'none'"


def media_source(settings: Settings) -> str | None:
    """The media host's origin when it is not the app's own (which 'self' already covers)."""
    if not settings.media_base_url:
        return None
    media = media_origin(settings.media_base_url)
    try:
        own = media_origin(settings.base_url)
    except ValueError:  # a base URL the media check is stricter about: compare as given
        own = ""
    return None if media == own else media


def image_sources(settings: Settings, *extra: str) -> str:
    sources = ["'self'", *extra]
    media = media_source(settings)
    if media is not None:
        sources.append(media)
    return " ".join(sources)


def app_policy(settings: Settings) -> str:
    """Every page's policy (public and staff); built once per app."""
    return f"{BASE}; img-src {image_sources(settings)}; {ENDS}"


def compose_policy(settings: Settings) -> str:
    """The compose page's: data: images too, for the thumbnail of a photo not uploaded yet."""
    return f"{BASE}; img-src {image_sources(settings, 'data:')}; {ENDS}"


def preview_policy(settings: Settings) -> str:
    """An email's HTML shown inside a staff page: it runs nothing and reaches out nowhere
    but to the release's own photo."""
    images = " ".join(["data:", media_origin(settings.media_base_url)])
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; frame-ancestors 'self'"
    )
