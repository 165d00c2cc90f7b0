"""Parsing a fetched feed into entries: titles, plain-text bodies, absolute links, categories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from alerts.feeds.enclosures import (
    EntryImage,
    ImageTags,
    images_by_position,
    tags_from_feedparser,
)
from alerts.feeds.fetch import Fetched, PollFailed

TITLE_MAX = 500  # Item.title
# The lead photo's words: ImageRef's limits (items/rich_fields.py).
ALT_MAX, CAPTION_MAX, CREDIT_MAX = 300, 500, 200
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr"),
        "ul",
    }
)
_HIDDEN_TAGS = frozenset({"script", "style", "template"})


class _TextExtractor(HTMLParser):
    """Text of an HTML fragment: tags dropped, entities decoded, blocks become paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return _paragraphs("".join(parser.parts))


def _paragraphs(text: str) -> str:
    """Whitespace tidied; blank lines (the body's paragraph marks) kept."""
    chunks = (" ".join(chunk.split()) for chunk in text.replace("\r", "").split("\n\n"))
    return "\n\n".join(chunk for chunk in chunks if chunk)


def _text_of(detail: Any) -> str:
    """Plain text of a feedparser text construct; only HTML ones are de-tagged.

    A ``text/plain`` title such as "Why <script> tags matter" is text, already
    unescaped by the XML parser: stripping "tags" from it would eat words.
    """
    if not detail:
        return ""
    value = str(detail.get("value") or "")
    return html_to_text(value) if detail.get("type") in _HTML_TYPES else _paragraphs(value)


@dataclass(frozen=True)
class FeedEntry:
    key: str  # the entry's id/guid, else its link: what makes it the same entry next time
    title: str
    summary: str
    body: str
    link: str | None
    categories: tuple[tuple[str, ...], ...]  # each category's names
    image: EntryImage | None = None  # the lead photo it names, not yet downloaded


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry]
    problems: list[str]


def parse_feed(fetched: Fetched) -> ParsedFeed:
    """The usable entries, oldest first, and a note for each unusable one."""
    parsed = feedparser.parse(
        fetched.content,
        response_headers={"content-location": fetched.url, "content-type": fetched.content_type},
    )
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise PollFailed(f"not an RSS or Atom feed ({reason})")
    entries: list[FeedEntry] = []
    problems: list[str] = []
    images = images_by_position(fetched.content)
    if images is not None and len(images) != len(parsed.entries):
        images = None  # the two readers disagree on the entries: trust feedparser's
    # Feeds list the newest first; storing oldest first keeps item ids in date order.
    for position, raw in reversed(list(enumerate(parsed.entries, start=1))):
        tags = images[position - 1] if images is not None else tags_from_feedparser(raw)
        entry = _entry(raw, fetched.url, tags)
        if isinstance(entry, str):
            problems.append(f"entry {position}: {entry}; skipped")
        else:
            entries.append(entry)
    return ParsedFeed(entries, problems)


def _entry(raw: Any, base_url: str, tags: ImageTags | None = None) -> FeedEntry | str:
    """A FeedEntry, or why the entry cannot become an item."""
    link = _absolute_link(raw.get("link"), base_url)
    key = str(raw.get("id") or raw.get("link") or "").strip()
    if not key:
        return "no id, guid or link"
    title = " ".join(_text_of(raw.get("title_detail")).split())
    if not title:
        return f"{key!r} has no title"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1].rstrip() + "…"
    summary = _text_of(raw.get("summary_detail"))
    content = raw.get("content") or []
    body = _text_of(content[0]) if content else ""
    return FeedEntry(
        key=key,
        title=title,
        summary=summary,
        body="" if body == summary else body,
        link=link,
        categories=tuple(_categories(raw)),
        image=_image(tags, base_url, title),
    )


def _image(tags: ImageTags | None, base_url: str, title: str) -> EntryImage | None:
    """The photo with an absolute URL; alt from the media's words, else the entry's title."""
    if tags is None:
        return None
    url = _absolute_link(tags.url, base_url)
    if url is None:
        return None
    words = tags.description
    description = html_to_text(words) if tags.description_is_html else _paragraphs(words)
    title_words = " ".join(tags.title.split())
    return EntryImage(
        url=url,
        alt=_cut(" ".join(description.split()) or title_words or title, ALT_MAX),
        caption=_cut(description, CAPTION_MAX),
        credit=_cut(" ".join(tags.credit.split()), CREDIT_MAX),
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _absolute_link(link: object, base_url: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    absolute = urljoin(base_url, link.strip())
    # javascript:, mailto: and the like never become the item's link.
    parts = urlsplit(absolute)
    if parts.scheme in {"http", "https"} and parts.netloc and len(absolute) <= 2000:
        return absolute
    return None


def _categories(raw: Any) -> Iterator[tuple[str, ...]]:
    """Each tag's names, label first: Atom puts words in the label and often a slug in term."""
    for tag in raw.get("tags") or []:
        names = tuple(
            value.strip()
            for value in (tag.get("label"), tag.get("term"))
            if isinstance(value, str) and value.strip()
        )
        if names:
            yield names
