"""Click-through links: every http(s) link of an item's rendered email, numbered once.

Generic over what the templates render: any ``href`` of the HTML part and any
URL of the text part is a link, whatever block of the item it comes from, so a
field added to the templates later is covered without more work. Links are
numbered in document order (the HTML's first, then any only the text has); the
same URL keeps one number in both parts.

Left alone: ``mailto:`` and every other scheme, and the per-recipient links
(unsubscribe, preferences), which are slots, not URLs, when this runs.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

from alerts.core.click_tokens import ClickSigner

_HREF = re.compile(r"""href=(["'])(https?://[^"'<>\s]+)\1""", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+")
# Sentence punctuation after a URL in running text is not part of it.
_TRAILING = ".,;:!?)]"


def _text_url(match: re.Match[str]) -> tuple[str, int]:
    url = match.group(0).rstrip(_TRAILING)
    return url, match.start() + len(url)


def rewrite(
    text: str, html: str, base_url: str, item_id: int, language: str, slot: str
) -> tuple[str, str, tuple[str, ...]]:
    """The bodies with every link through ``BASE_URL/c/…``, and the numbered targets.

    ``slot`` formats a number into the per-recipient marker (``DELIVERY.MAC`` goes there).
    """
    links: dict[str, int] = {}

    def tracked(url: str) -> str:
        n = links.setdefault(url, len(links) + 1)
        return f"{base_url.rstrip('/')}/c/{ClickSigner.prefix(item_id, language, n)}{slot % n}"

    new_text, new_html = substitute(text, html, tracked)
    return new_text, new_html, tuple(links)


def substitute(text: str, html: str, tracked: Callable[[str], str | None]) -> tuple[str, str]:
    """Every http(s) link of both parts replaced by ``tracked(url)``, or left if None.

    The HTML is done first, so numbers handed out in order follow the HTML's order.
    """

    def in_html(match: re.Match[str]) -> str:
        url = html_lib.unescape(match.group(2))
        replaced = tracked(url)
        if replaced is None:
            return match.group(0)
        quote = match.group(1)
        return f"href={quote}{html_lib.escape(replaced)}{quote}"

    new_html = _HREF.sub(in_html, html)
    out: list[str] = []
    last = 0
    for match in _TEXT_URL.finditer(text):
        url, end = _text_url(match)
        replaced = tracked(url)
        if replaced is None:
            continue
        out.append(text[last : match.start()])
        out.append(replaced)
        last = end
    out.append(text[last:])
    return "".join(out), new_html
