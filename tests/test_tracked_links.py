"""Link rewriting over a rendered email, and the click tokens (pure logic, no stack)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import unescape

import pytest

from alerts.core.click_tokens import ClickSigner
from alerts.core.taxonomy import Taxonomy
from alerts.core.tokens import InvalidToken
from alerts.mail.rendering import build_message, make_environment, render_item
from alerts.mail.tracked_links import rewrite
from tests.test_rendering import SENDER, _item, _recipient

BODY = (
    "See [one](https://x.example/1), [two](https://x.example/2?a=1&b=2) and "
    "[one](https://x.example/1) again; [mail](mailto:a@ngo.example)."
)


def _parts(track_clicks: bool, track_opens: bool = False, delivery: int = 9) -> tuple[str, str]:
    item = _item(body=BODY, url="https://ngo.example/r")
    rendered = render_item(
        make_environment(),
        item,
        Taxonomy(),
        SENDER,
        "https://a.example",
        track_clicks=track_clicks,
        track_opens=track_opens,
    )
    wire = build_message(rendered, _recipient(delivery_id=delivery), SENDER)
    message = message_from_bytes(wire, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def test_off_leaves_every_link_as_it_is() -> None:
    text, html = _parts(track_clicks=False)
    assert "https://x.example/2?a=1&amp;b=2" in html and "/c/" not in html + text


def test_every_link_numbered_once_in_document_order_and_signed_per_recipient() -> None:
    text, html = _parts(track_clicks=True)
    signer = ClickSigner(SENDER.secret)
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    tracked = [h for h in hrefs if "/c/" in h]
    numbers = [signer.read(h.rsplit("/", 1)[1]).number for h in tracked]
    # one, two, one again (the same number), then the item's link and any others after.
    assert numbers[:3] == [1, 2, 1]
    assert sorted(set(numbers)) == list(range(1, max(numbers) + 1))
    assert all(signer.read(h.rsplit("/", 1)[1]).delivery_id == 9 for h in tracked)
    # mailto, unsubscribe and preferences are left alone; no target is left bare.
    assert "mailto:a@ngo.example" in hrefs
    assert "https://a.example/u/TOKEN" in text and "https://a.example/preferences/PTOKEN" in text
    assert "x.example" not in html and "x.example" not in text
    # The text part carries the same tokens.
    in_text = set(re.findall(r"https://a\.example/c/\S+", text))
    assert in_text == set(tracked)
    # Another recipient: the same links, another signature.
    _, other = _parts(track_clicks=True, delivery=10)
    assert set(re.findall(r"/c/([^\"]+)", other)).isdisjoint({h.rsplit("/", 1)[1] for h in tracked})


def test_rewrite_keeps_targets_exactly() -> None:
    html = '<a href="https://x.example/a?b=1&amp;c=2">x</a> <a href="mailto:p@x">m</a>'
    text = "Read https://x.example/a?b=1&c=2. Or https://y.example/z)"
    new_text, new_html, links = rewrite(text, html, "https://base", 3, "en", "S%d")
    assert links == ("https://x.example/a?b=1&c=2", "https://y.example/z")
    assert new_html == '<a href="https://base/c/3.en.1.S1">x</a> <a href="mailto:p@x">m</a>'
    assert new_text == "Read https://base/c/3.en.1.S1. Or https://base/c/3.en.2.S2)"


def test_open_image_only_when_asked() -> None:
    _, html = _parts(track_clicks=True)
    assert "/o/" not in html
    _, html = _parts(track_clicks=True, track_opens=True)
    [token] = re.findall(r'src="https://a\.example/o/([^"]+)"', html)
    read = ClickSigner(SENDER.secret).read(token, opening=True)
    assert (read.number, read.delivery_id) == (0, 9)
    with pytest.raises(InvalidToken):
        ClickSigner(SENDER.secret).read(token)  # an image token is no link token


@pytest.mark.parametrize(
    "token",
    ["", "1.en.1.9", "1.en.1.9.x.y", "a.en.1.9.AAAA", "1.EN.1.9.AAAA", "1.e n.1.9.AAAA"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        ClickSigner("k" * 32).read(token)


def _mac_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"newsroom-alerts.click", hashlib.sha256).digest()


def test_tokens_are_keyed_blake2b_over_the_whole_token() -> None:
    # Computed here from RFC 7693's keyed mode, not by the signer under test.
    mac = hashlib.blake2b(b"7.es.2.41", key=_mac_key("k" * 32), digest_size=12).digest()
    expected = f"7.es.2.41.{base64.urlsafe_b64encode(mac).decode()}"
    assert ClickSigner("k" * 32).token(7, "es", 2, 41) == expected


def test_tokens_signed_before_blake2b_still_read() -> None:
    """Emails already in mailboxes carry HMAC-SHA256 tokens: their links keep working,
    and altering any part of one still breaks it."""
    mac = hmac.digest(_mac_key("k" * 32), b"7.es.2.41", "sha256")[:12]
    legacy = f"7.es.2.41.{base64.urlsafe_b64encode(mac).decode()}"
    read = ClickSigner("k" * 32).read(legacy)
    assert (read.item_id, read.language, read.number, read.delivery_id) == (7, "es", 2, 41)
    for altered in (legacy.replace("7.es.2.41", "7.es.3.41"), legacy.replace(".41.", ".42.")):
        with pytest.raises(InvalidToken):
            ClickSigner("k" * 32).read(altered)
    with pytest.raises(InvalidToken):
        ClickSigner("j" * 32).read(legacy)
