"""The Markdown body: the safe subset reaches the email, nothing executable ever does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from alerts.core.models import DeliveryStatus
from alerts.mail.markdown_body import render_body
from alerts.web import create_app
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.test_api import ITEM, Keys
from tests.test_rendering import _item, _recipient, _send
from tests.webclient import untracked

RICH = """Mexico's authorities must stop the **illegal pushbacks** of asylum seekers.

## What we found

> "Families are sent back to danger," said _Ana Pérez_, our researcher.

- Expulsions without a hearing
- Detention of children

1. Stop the expulsions
2. Read the [full report](https://ngo.example/report) or [write to us](mailto:press@ngo.example).
"""

HOSTILE = """<script>alert(1)</script>

<img src=x onerror="alert(2)">

A [click here](javascript:alert(3)) link, a [data one](data:text/html;base64,PHNjcmlwdD4=)
and ![an image](https://evil.example/x.png "t") and a <a href="javascript:alert(4)">raw</a>.

[vb](vbscript:msgbox) <b onmouseover="alert(5)">bold</b>
"""


def _bodies(body: str) -> tuple[str, str]:
    message = _send(_item(body=body), _recipient())
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content())


class _Tags(HTMLParser):
    """Every real element and attribute of a page (escaped text is not a tag)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _no_active_content(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "img", "iframe", "object", "embed"}, names
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert (value or "").split(":", 1)[0] in ("http", "https", "mailto"), value


def test_the_safe_subset_becomes_email_html_and_a_text_part_with_references() -> None:
    text, html = _bodies(RICH)
    flat = re.sub(r"[\r\n]+\s*", "", html)
    assert "<strong>illegal pushbacks</strong>" in flat
    assert re.search(r"<h2[^>]*>What we found</h2>", flat)
    assert re.search(r"<blockquote[^>]*><p[^>]*>.*<em>Ana Pérez</em>", flat)
    assert re.search(r"<ul[^>]*><li[^>]*>Expulsions without a hearing</li>", flat)
    assert re.search(r"<ol[^>]*><li[^>]*>Stop the expulsions</li>", flat)
    assert re.search(r'<a href="https://ngo.example/report"[^>]*>full report</a>', flat)
    assert re.search(r'<a href="mailto:press@ngo.example"[^>]*>write to us</a>', flat)

    assert "*illegal pushbacks*" in text
    assert "What we found\n-------------" in text
    assert '> "Families are sent back to danger," said _Ana Pérez_, our researcher.' in text
    assert "* Expulsions without a hearing\n* Detention of children" in text
    assert "1. Stop the expulsions\n2. Read the full report [1] or write to us [2]." in text
    assert "[1] https://ngo.example/report\n[2] mailto:press@ngo.example" in text
    assert all(len(line) <= 76 for line in text.splitlines())


def test_html_scripts_handlers_and_unsafe_links_never_reach_the_email() -> None:
    text, html = _bodies(HOSTILE)
    _no_active_content(html)
    # Raw HTML stays visible as text, escaped; unsafe links keep only their label.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "A click here link, a data one" in re.sub(r"\s+", " ", html)
    # The text part is never run, but unsafe addresses are not offered as references.
    references = re.findall(r"^\[\d+\] (\S+)$", text, re.MULTILINE)
    assert references == ["https://evil.example/x.png"]  # the image, only as a link
    assert "A click here link" in text


def test_a_plain_paragraph_body_renders_as_before() -> None:
    body = render_body("First para.\nstill first.\n\n  Second & <last>.  ")
    assert [str(b) for b in body.html] == [
        "<p>First para.\nstill first.</p>",
        "<p>Second &amp; &lt;last&gt;.</p>",
    ]
    assert body.text == ["First para.\nstill first.", "Second & <last>."]
    assert body.references == []


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


def test_the_preview_page_never_carries_a_script_from_the_body(
    pipeline: Stack, api: TestClient
) -> None:
    keys = Keys(pipeline)
    auth = keys.auth(keys.publisher)
    created = api.post("/api/items", json=ITEM | {"body": HOSTILE}, headers=auth)
    assert created.status_code == 201, created.text
    page = api.get(f"/api/items/{created.json()['id']}/preview?format=html", headers=auth)
    assert page.status_code == 200
    _no_active_content(page.text)


def test_the_formatting_reaches_the_received_email_through_the_pipeline(pipeline: Stack) -> None:
    with pipeline.session() as session:
        journalist(session, "mx@example.net", (["MX"], []))
        item_id = published_item(
            session, countries=["MX"], topics=["asylum"], body=RICH + "\n" + HOSTILE
        )
        session.commit()
    assert pipeline.wait_for_item(item_id) == {DeliveryStatus.SENT: 1}
    [received] = pipeline.received()
    message = received.parsed()
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    html_content = untracked(pipeline, str(html.get_content()), in_html=True)
    text_content = untracked(pipeline, str(text.get_content()))
    _no_active_content(html_content)
    assert "<strong>illegal pushbacks</strong>" in html_content
    assert re.search(r"<blockquote[^>]*>", html_content)
    assert "[1] https://ngo.example/report" in text_content
