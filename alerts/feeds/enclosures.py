"""An entry's lead photo as a feed names it: enclosures, Media RSS, Atom enclosure links.

feedparser keeps the URLs but folds the Media RSS words into the entry
(``media:description`` becomes the entry's content, ``media:title`` is dropped),
so the tags are read here from the XML itself, entry by entry in document order.
When the XML cannot be read that way (a DOCTYPE, broken markup feedparser
tolerated), the URLs feedparser found are used, with the entry's title as alt.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
_TEXT_TYPES = frozenset({"html", "text/html"})
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


@dataclass(frozen=True)
class EntryImage:
    """The lead photo an entry names: an absolute http(s) URL and its words (alt required)."""

    url: str
    alt: str
    caption: str
    credit: str


@dataclass(frozen=True)
class ImageTags:
    """The photo's URL as written (maybe relative) and the Media RSS words next to it."""

    url: str
    description: str = ""
    description_is_html: bool = False
    title: str = ""
    credit: str = ""


def images_by_position(content: bytes) -> list[ImageTags | None] | None:
    """Each entry's photo tags in document order, or None when the XML is not read here.

    A DOCTYPE is never parsed by this reader: entity expansion is feedparser's
    business, and a feed with one falls back to what feedparser found.
    """
    if _DOCTYPE.search(content):
        return None
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    if root.tag == f"{ATOM}feed":
        entries = root.findall(f"{ATOM}entry")
    else:  # RSS 2.0 (channel/item) and RSS 1.0 (items beside the channel)
        entries = [el for el in root.iter() if _local(el.tag) == "item"]
    return [_tags(entry) for entry in entries]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_image_type(value: str | None) -> bool:
    return bool(value) and str(value).strip().lower().startswith("image/")


def _tags(entry: ET.Element) -> ImageTags | None:
    """The first of: an image enclosure, a Media RSS image, a Media RSS thumbnail."""
    groups = [entry, *entry.findall(f"{MEDIA}group")]
    # An enclosure's words are Media RSS tags too, wherever in the entry they are.
    anywhere = [entry, *entry.iter(f"{MEDIA}content"), *groups[1:]]
    for child in entry:
        if child.tag == "enclosure" and _is_image_type(child.get("type")) and child.get("url"):
            return _with_words(str(child.get("url")), anywhere)
        if (
            child.tag == f"{ATOM}link"
            and child.get("rel") == "enclosure"
            and _is_image_type(child.get("type"))
            and child.get("href")
        ):
            return _with_words(str(child.get("href")), anywhere)
    for group in groups:
        for content in group.findall(f"{MEDIA}content"):
            medium = (content.get("medium") or "").strip().lower()
            is_image = medium == "image" or (not medium and _is_image_type(content.get("type")))
            if is_image and content.get("url"):
                return _with_words(str(content.get("url")), [content, group, entry])
    for group in groups:
        for thumbnail in group.findall(f"{MEDIA}thumbnail"):
            if thumbnail.get("url"):
                return _with_words(str(thumbnail.get("url")), [group, entry])
    return None


def _with_words(url: str, scopes: list[ET.Element]) -> ImageTags:
    """The URL with the nearest description, title and credit (the media's own first)."""
    description = _nearest(scopes, "description")
    title = _nearest(scopes, "title")
    credit = _nearest(scopes, "credit")
    return ImageTags(
        url=url.strip(),
        description=_text(description),
        description_is_html=description is not None
        and (description.get("type") or "").lower() in _TEXT_TYPES,
        title=_text(title),
        credit=_text(credit),
    )


def _nearest(scopes: list[ET.Element], name: str) -> ET.Element | None:
    for scope in scopes:
        found = scope.find(f"{MEDIA}{name}")
        if found is not None and _text(found):
            return found
    return None


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def tags_from_feedparser(raw: Any) -> ImageTags | None:
    """The same choice made on feedparser's entry, when the XML could not be read here."""
    for link in raw.get("links") or []:
        if link.get("rel") == "enclosure" and _is_image_type(link.get("type")) and link.get("href"):
            return ImageTags(url=str(link["href"]), credit=_credit(raw))
    for content in raw.get("media_content") or []:
        medium = str(content.get("medium") or "").lower()
        if (medium == "image" or (not medium and _is_image_type(content.get("type")))) and (
            content.get("url")
        ):
            return ImageTags(url=str(content["url"]), credit=_credit(raw))
    for thumbnail in raw.get("media_thumbnail") or []:
        if thumbnail.get("url"):
            return ImageTags(url=str(thumbnail["url"]), credit=_credit(raw))
    return None


def _credit(raw: Any) -> str:
    for credit in raw.get("media_credit") or []:
        value = str(credit.get("content") or "").strip()
        if value:
            return value
    return ""
