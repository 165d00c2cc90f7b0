"""A digest as an email: its items grouped by country or topic, newest first.

Rendered once per digest (each is one journalist's), through the same base
layout, footer and wire assembly as an alert.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from email.utils import parseaddr

import css_inline
from babel.dates import format_date
from jinja2 import Environment

from alerts.core.i18n import N_, frame_language, translations
from alerts.core.models import Cadence, Item
from alerts.core.taxonomy import Taxonomy, localised_countries
from alerts.core.text_versions import TextVersion
from alerts.digests.links import DigestLinks, track
from alerts.digests.runs import ClaimedDigest
from alerts.mail.rendering import (
    FIELDS,
    RenderedItem,
    Sender,
    header_safe,
    item_context,
    web_url,
)
from alerts.mail.rich_blocks import PLAIN, RichContent

OTHER = N_("Other news")


@dataclass
class Group:
    title: str
    items: list[dict[str, object]] = field(default_factory=list)


def _newest_first(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (i.published_at, i.id), reverse=True)


def group_items(
    items: list[Item],
    countries: frozenset[str],
    topics: frozenset[str],
    taxonomy: Taxonomy,
    language: str,
) -> list[tuple[str, list[Item]]]:
    """(heading, items) pairs: each item once, under the first of its countries the
    journalist follows (or topics, if their digest names no country); groups in
    order of their newest item, items newest first."""
    gettext = translations(language).gettext
    by_country = bool(countries) or not topics
    names = localised_countries(language)

    def heading(item: Item) -> str:
        codes = item.countries if by_country else item.topics
        wanted = countries if by_country else topics
        chosen = [c for c in codes if c in wanted] or list(codes)
        labels = sorted(
            names.get(c, c) if by_country else gettext(taxonomy.topics.get(c, c)) for c in chosen
        )
        return labels[0] if labels else gettext(OTHER)

    groups: dict[str, list[Item]] = {}
    for item in _newest_first(items):
        groups.setdefault(heading(item), []).append(item)
    return list(groups.items())  # dicts keep insertion order: the newest group first


def subject(cadence: str, period: date, count: int, language: str) -> str:
    translation = translations(language)
    day = format_date(period, "long", locale=language)
    if cadence == Cadence.WEEKLY:
        text = translation.ngettext(
            "Your weekly press digest, %(date)s: %(count)d item",
            "Your weekly press digest, %(date)s: %(count)d items",
            count,
        )
    else:
        text = translation.ngettext(
            "Your daily press digest, %(date)s: %(count)d item",
            "Your daily press digest, %(date)s: %(count)d items",
            count,
        )
    return text % {"date": day, "count": count}


def render_digest(
    env: Environment,
    claimed: ClaimedDigest,
    taxonomy: Taxonomy,
    sender: Sender,
    base_url: str,
    rich: Mapping[int, RichContent] | None = None,
    versions: Mapping[int, TextVersion] | None = None,
    links: DigestLinks | None = None,
) -> RenderedItem:
    """``rich``: each item's photo (a thumbnail here) and the rest, by item id;
    ``versions``: the translations in the journalist's language, by item id;
    ``links``: when clicks are tracked, each item's link table and delivery."""
    language = claimed.language
    frame = frame_language(language)  # labels, dates, headings; the words in ``language``
    rich = rich or {}
    versions = versions or {}
    nonce = secrets.token_hex(8)
    groups = [
        Group(
            heading,
            [
                item_context(item, taxonomy, frame, rich.get(item.id, PLAIN), versions.get(item.id))
                | {"web_url": web_url(item, base_url, language)}
                for item in items
            ],
        )
        for heading, items in group_items(
            claimed.items, claimed.countries, claimed.topics, taxonomy, frame
        )
    ]
    title = subject(claimed.cadence, date.fromisoformat(claimed.period), len(claimed.items), frame)
    context = {
        "digest": {
            "title": title,
            "cadence": claimed.cadence,
            "count": len(claimed.items),
            "groups": groups,
        },
        "recipient": {f: f"@@{nonce}.{f}@@" for f in FIELDS},
        "press": {"name": parseaddr(sender.from_address)[0], "reply_to": sender.reply_to},
        "base_url": base_url,
        "lang": frame,
    }
    text = env.get_template("email/digest.txt").render(context)
    html = css_inline.inline(env.get_template("email/digest.html").render(context))
    if links is not None:  # the digest is one journalist's: its tokens are filled in now
        text, html = track(text, html, base_url, links)
    # Item id 0: a digest is no one item; its Message-ID is passed in when it is built.
    return RenderedItem(0, header_safe(title), text, html, nonce)
