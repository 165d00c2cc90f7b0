"""Rendering public pages: Jinja2 with the journalist's language, CSRF cookie set."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from alerts.core.i18n import LANGUAGES, RTL_LANGUAGES
from alerts.core.models import Cadence
from alerts.core.reader_languages import own_names
from alerts.core.settings import Settings
from alerts.core.taxonomy import Taxonomy, localised_countries, regions
from alerts.digests.schedule import WEEKDAYS, zone_names
from alerts.mail.rendering import make_environment
from alerts.web.csrf import COOKIE, FIELD, Csrf


class Pages:
    def __init__(self, settings: Settings, taxonomy: Taxonomy, csrf: Csrf, press_name: str):
        self.csrf = csrf
        self.root = urlsplit(settings.base_url).path.rstrip("/")
        self.press_name = press_name or "Newsroom"
        self._envs: dict[str, Environment] = {
            language: make_environment(settings.templates_dir, language) for language in LANGUAGES
        }
        self._common: dict[str, Any] = {
            "root": self.root,
            "press_name": self.press_name,
            "languages": LANGUAGES,
            # What a journalist may choose (ALERTS_READER_LANGUAGES), by their own names.
            "reader_languages": own_names(settings.reader_language_list),
            # For scripts that set the direction of a language typed in (compose-tabs.js).
            "rtl_languages": " ".join(sorted(RTL_LANGUAGES)),
            "regions": sorted((slug, name) for slug, (name, _) in regions().items()),
            "topics": sorted(taxonomy.topics.items(), key=lambda pair: pair[1]),
            "cadences": [c.value for c in Cadence],
            "zones": ["UTC", *zone_names()],
            "weekdays": WEEKDAYS,
            "topic_names": dict(taxonomy.topics),
            "csrf_field": FIELD,
            # How the links in alerts are counted (ALERTS_TRACK_CLICKS): pages say so.
            "click_tracking": settings.track_clicks,
            # Optional parts of pages (templates are strict about undefined names).
            "link": None,
            "link_text": "",
            "paragraphs": [],
            "errors": [],
            "saved": None,
        }

    def render(
        self,
        request: Request,
        template: str,
        language: str,
        status: int = 200,
        csrf_token: str | None = None,
        html_lang: str | None = None,
        set_cookie: bool = True,
        **context: Any,
    ) -> HTMLResponse:
        """``csrf_token``: the staff pages pass their session-bound one; ``html_lang``: the
        page's language when its words are in one the frame has no catalogue for (a
        release in Persian): ``<html lang>`` and its direction; ``set_cookie``: False for
        pages with no form to post (the newsroom's), which shared caches may then keep."""
        cookie = self.csrf.cookie_value(request.cookies.get(COOKIE))
        names = localised_countries(language)
        env = self._envs.get(language) or self._envs["en"]
        html = env.get_template(f"web/{template}").render(
            self._common
            | {"countries": _sorted_by_name(language), "country_names": names}
            | context
            | {
                "lang": html_lang or language,
                "csrf_token": csrf_token or self.csrf.form_token(cookie),
            }
        )
        response = HTMLResponse(html, status_code=status)
        if not set_cookie:
            return response
        response.set_cookie(
            COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=self.csrf.secure_cookie,
            path=self.root or "/",
        )
        return response


@cache
def _sorted_by_name(language: str) -> list[tuple[str, str]]:
    # Sorted by the name people read, accents and all (Babel's collation is overkill here).
    import unicodedata

    def key(pair: tuple[str, str]) -> str:
        return unicodedata.normalize("NFKD", pair[1]).encode("ascii", "ignore").decode().lower()

    return sorted(localised_countries(language).items(), key=key)
