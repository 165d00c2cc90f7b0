"""Every seed item, in both languages, makes an email strict parsers and mail clients accept."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from tests.seed_emails import EXTRAS, LANGUAGES, SEED, extra_message, seed_message
from tests.test_rendering import _recipient


def _parse(index: int, language: str) -> tuple[bytes, EmailMessage]:
    raw = seed_message(index, language, _recipient(name="Júlia Núñez 📰"))
    # The strict policy raises on any defect: bad folding, bad encoded words, bad MIME.
    message = message_from_bytes(raw, policy=policy.strict)
    assert isinstance(message, EmailMessage)
    return raw, message


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("index", range(len(SEED)))
def test_seed_items_make_well_formed_emails(index: int, language: str) -> None:
    raw, message = _parse(index, language)
    assert len(raw) < 100_000  # Gmail clips HTML above about 102 KB
    assert not message.defects and all(not part.defects for part in message.walk())
    assert message["Subject"] == SEED[index].title
    assert message["To"].addresses[0].display_name == "Júlia Núñez 📰"
    for header in (
        "Date",
        "Message-ID",
        "From",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert message[header], header
    assert message["Precedence"] == "bulk"
    assert all(line.isascii() for line in raw.split(b"\r\n"))  # 7-bit clean on the wire
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    html = message.get_body(("html",))
    assert html is not None and 'class="preheader"' in str(html.get_content())


class _Markup(HTMLParser):
    """What mail clients care about in the HTML part."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, str | None]] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.meta: dict[str, str] = {}
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.tables.append(found)
        elif tag == "img":
            self.images.append(found)
        elif tag == "a" and (found.get("href") or "").startswith("http"):
            self.links.append(str(found["href"]))
        elif tag == "meta" and found.get("name"):
            self.meta[str(found["name"])] = str(found.get("content"))
        elif tag == "style":
            self._in_style = True
            self.styles.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles[-1] += data


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("index", range(len(SEED)))
def test_seed_emails_suit_mail_clients(index: int, language: str) -> None:
    _, message = _parse(index, language)
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = str(html_part.get_content()), str(text_part.get_content())
    markup = _Markup()
    markup.feed(html)

    # Layout tables only (Outlook lays out tables, not divs), 600 px at most.
    assert markup.tables and all(t.get("role") == "presentation" for t in markup.tables)
    assert any("max-width: 600px" in (t.get("style") or "") for t in markup.tables)
    assert all(img.get("alt") is not None for img in markup.images)
    # Dark mode: declared, and the media query survived CSS inlining in a <style>.
    assert markup.meta.get("color-scheme") == "light dark"
    assert markup.meta.get("supported-color-schemes") == "light dark"
    assert any("@media (prefers-color-scheme: dark)" in css for css in markup.styles)
    assert re.search(r'<td class="content"[^>]*font-family: [^;"]*sans-serif', html)

    # The text part: wrapped for reading, and every link of the HTML spelt out.
    for line in text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r"https?://\S+", line), line
    for href in markup.links:
        assert href in text, href


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", EXTRAS)
def test_digests_embargoes_and_notices_are_as_well_formed(name: str, language: str) -> None:
    """The same rules for the other emails: strict parse, headers, wrapping, links."""
    raw = extra_message(name, language, _recipient(name="Júlia Núñez 📰"))
    message = message_from_bytes(raw, policy=policy.strict)
    assert isinstance(message, EmailMessage)
    assert not message.defects and all(not part.defects for part in message.walk())
    for header in ("Date", "Message-ID", "From", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[header], header
    assert all(line.isascii() for line in raw.split(b"\r\n"))
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = str(html_part.get_content()), str(text_part.get_content())
    assert 'class="preheader"' in html
    markup = _Markup()
    markup.feed(html)
    assert markup.tables and all(t.get("role") == "presentation" for t in markup.tables)
    for line in text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r"\s*https?://\S+", line), line
    for href in markup.links:
        assert href in text, href
