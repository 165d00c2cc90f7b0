"""Rendering and message assembly (pure functions; the SMTP path is in test_pipeline)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from alerts.core.models import Item, ItemCountry, ItemTopic
from alerts.core.taxonomy import Taxonomy
from alerts.mail.rendering import (
    Recipient,
    Sender,
    build_message,
    header_safe,
    make_environment,
    render_item,
)

SENDER = Sender(
    from_address="Press Office <alerts@ngo.example>",
    reply_to="press@ngo.example",
    domain="ngo.example",
    secret="s" * 32,
    list_id="Press alerts <alerts.ngo.example>",
)


def _item(title: str = "Title", **fields: object) -> Item:
    values: dict[str, object] = {
        "id": 5,
        "title": title,
        "summary": "Summary",
        "body": "",
        "url": None,
        "kind": "press_release",
        "language": "en",
        "campaign": None,
        "published_at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        "country_rows": [ItemCountry(country="MX")],
        "topic_rows": [ItemTopic(topic="asylum")],
    } | fields
    return Item(**values)


def _recipient(name: str = "Ana", delivery_id: int = 9) -> Recipient:
    return Recipient(
        delivery_id,
        3,
        "ana@example.net",
        name,
        "https://a.example/u/TOKEN",
        "https://a.example/preferences/PTOKEN",
    )


def _send(item: Item, recipient: Recipient, env_dir: Path | None = None) -> EmailMessage:
    rendered = render_item(make_environment(env_dir), item, Taxonomy(), SENDER, "https://a.example")
    parsed = message_from_bytes(build_message(rendered, recipient, SENDER), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_crlf_in_a_title_never_becomes_a_header() -> None:
    message = _send(_item("Breaking\r\nBcc: victim@example.com\nX-Evil: 1"), _recipient())
    assert message["Subject"] == "Breaking Bcc: victim@example.com X-Evil: 1"
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert header_safe("a\x00b\tc\r\n d") == "a b c d"


def test_recipient_name_is_escaped_in_html_and_safe_in_headers() -> None:
    message = _send(_item(), _recipient(name="<b>Ana</b>\r\nBcc: x@example.com"))
    assert message["Bcc"] is None
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;Ana&lt;/b&gt;" in html and "<b>Ana</b>" not in html
    assert "<b>Ana</b>" in text


def test_recipient_markers_carry_a_fresh_nonce_each_render() -> None:
    env = make_environment()
    first = render_item(env, _item(), Taxonomy(), SENDER, "https://a.example")
    second = render_item(env, _item(), Taxonomy(), SENDER, "https://a.example")
    # A marker an item's author could type must not be substituted in any render.
    assert first._pattern.pattern != second._pattern.pattern


def test_item_text_cannot_forge_recipient_markers() -> None:
    # Whatever an item says, only the renderer's own nonce-tagged markers are replaced.
    message = _send(_item(summary="@@name@@ and {{ recipient.name }}"), _recipient(name="Ana"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "@@name@@ and {{ recipient.name }}" in text


def test_unicode_subject_and_bodies_survive_the_wire() -> None:
    title = "México: “Open season” — ¿por qué?"
    message = _send(_item(title), _recipient(name="Júlia"))
    assert message["Subject"] == title
    assert "Júlia" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_message_id_is_stable_per_delivery() -> None:
    first = _send(_item(), _recipient(delivery_id=9))
    again = _send(_item(), _recipient(delivery_id=9))
    other = _send(_item(), _recipient(delivery_id=10))
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert str(first["Message-ID"]).endswith("@ngo.example>")


def test_a_press_office_can_override_one_template(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "item.txt").write_text(
        "OUR BRAND: {{ item.title }}\n{{ recipient.unsubscribe_url }}\n"
    )
    message = _send(_item("Hello"), _recipient(), env_dir=tmp_path)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("OUR BRAND: Hello")
    assert "https://a.example/u/TOKEN" in text
    # The HTML part still comes from the default templates.
    assert "Manage your preferences" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
