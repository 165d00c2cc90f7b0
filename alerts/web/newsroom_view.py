"""What the newsroom's templates read of an item: words for people, tags for machines.

One dictionary per item, so fields added to items later (photos, attachments,
contacts) are one more key here and one more block in the templates.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from alerts.core.i18n import comma, translations
from alerts.core.models import Item
from alerts.core.taxonomy import Taxonomy, localised_countries
from alerts.core.text_versions import TextVersion
from alerts.mail.markdown_body import render_body, safe_href
from alerts.mail.rendering import KIND_LABELS
from alerts.mail.rich_blocks import RichContent, rich_context
from alerts.newsroom.atom import updated_of
from alerts.newsroom.slugs import release_path


def item_view(
    item: Item, taxonomy: Taxonomy, language: str, version: TextVersion | None = None
) -> dict[str, Any]:
    """``version``: a translation's words in place of the original's (the address, from
    the original's title, stays the same)."""
    gettext = translations(language).gettext
    names = localised_countries(language)
    published = item.published_at
    body = version.body_of(item) if version else item.body
    return {
        "id": item.id,
        "path": release_path(item.id, item.title),
        "title": version.title_of(item) if version else item.title,
        "summary": version.summary_of(item) if version else item.summary,
        "language": version.language if version else item.language,
        "kind": item.kind,
        "kind_label": gettext(KIND_LABELS.get(item.kind, item.kind.replace("_", " "))),
        "countries": [(code, names.get(code, code)) for code in item.countries],
        "topics": [(code, gettext(taxonomy.topics.get(code, code))) for code in item.topics],
        "published_iso": published.astimezone(UTC).isoformat() if published else "",
        # As the emails write it: "5 de enero de 2026, 09:00 UTC".
        "published": (
            f"{format_date(published, 'long', locale=language)}{comma(language)}"
            f"{published.astimezone(UTC):%H:%M} UTC"
            if published
            else ""
        ),
        "is_correction": item.corrects_id is not None,
        # Checked again here: another application may have written the row.
        "url": safe_href(item.url) if item.url else None,
        # Rendered only where a page needs it (lists show the summary).
        "blocks": lambda: render_body(body).html,
    }


def language_name(code: str) -> str:
    """A language named in itself ("español", "العربية"): readers look for their own."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        name = None
    return name[:1].upper() + name[1:] if name else code


def language_switcher(
    item: Item, translated: list[str], shown: str, path: str
) -> list[dict[str, Any]]:
    """The release's languages, the original first: links to ``path?lang=CODE``."""
    codes = [item.language] + [code for code in translated if code != item.language]
    if len(codes) < 2:
        return []
    return [
        {
            "code": code,
            "name": language_name(code),
            "href": f"{path}?lang={code}",
            "current": code == shown,
            "original": code == item.language,
        }
        for code in codes
    ]


def release_extras(rich: RichContent, language: str) -> dict[str, Any]:
    """A release page's photo (web size), documents, notes to editors and contacts."""
    return rich_context(rich, language, 1)


def _iso(item: Item) -> tuple[str, str]:
    published = (item.published_at or item.updated_at).astimezone(UTC).isoformat()
    return published, updated_of(item).astimezone(UTC).isoformat()


def _words(item: Item, version: TextVersion | None) -> tuple[str, str, str]:
    """Title, summary and language of the version shown (a translation's, else the original's)."""
    if version is None:
        return item.title, item.summary, item.language
    return version.title_of(item), version.summary_of(item), version.language


def shown_url(canonical: str, version: TextVersion | None) -> str:
    """The address of the version shown: a shared translation opens in its language."""
    return f"{canonical}?lang={version.language}" if version else canonical


def open_graph(
    item: Item, canonical: str, press: str, version: TextVersion | None = None
) -> list[tuple[str, str]]:
    """``version``: the translation the page shows, whose words a shared link should carry."""
    published, modified = _iso(item)
    title, summary, language = _words(item, version)
    tags = [
        ("og:type", "article"),
        ("og:title", title),
        ("og:url", shown_url(canonical, version)),
        ("og:site_name", press),
        ("og:locale", language),  # the words' language, not the page frame's
        ("article:published_time", published),
        ("article:modified_time", modified),
    ]
    if summary:
        tags.insert(2, ("og:description", summary))
    return tags


def json_ld(item: Item, canonical: str, press: str, version: TextVersion | None = None) -> str:
    """schema.org NewsArticle, safe inside <script>: no "<", ">" or "&" left as such;
    a translation shown is described as one, of the original at ``canonical``."""
    published, modified = _iso(item)
    title, summary, language = _words(item, version)
    url = shown_url(canonical, version)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": title[:110],  # Google reads at most 110 characters
        "name": title,
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": published,
        "dateModified": modified,
        "inLanguage": language,
        "publisher": {"@type": "Organization", "name": press},
        "author": {"@type": "Organization", "name": press},
    }
    if version is not None:
        data["translationOfWork"] = {"@type": "NewsArticle", "url": canonical}
    if summary:
        data["description"] = summary
    if item.topics:
        data["keywords"] = item.topics
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
