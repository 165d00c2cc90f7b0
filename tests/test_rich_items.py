"""Rich items through the staff API: photo, documents, notes and contacts, or a clear 422.

Every refusal leaves nothing written: no item, and a draft being edited unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from alerts.core.models import Item
from alerts.web import create_app
from tests.conftest import Stack
from tests.rich_files import SVG, huge_png, small_pdf
from tests.test_api import Keys
from tests.test_media_files import gps_jpeg

ITEM = {"title": "Mexico: new report", "countries": ["MX"], "topics": ["asylum"]}
CONTACT = {
    "name": "Ana Ruiz",
    "role": "Press officer",
    "email": "ana@ngo.example",
    "phone": "+52 55 1234 5678",
    "languages": ["en", "es"],
    "timezone": "America/Mexico_City",
}


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


@pytest.fixture
def auth(pipeline: Stack) -> dict[str, str]:
    keys = Keys(pipeline)
    return keys.auth(keys.publisher)


def _upload(api: TestClient, auth: dict[str, str], name: str, data: bytes) -> str:
    response = api.post("/api/media", files={"file": (name, data)}, headers=auth)
    assert response.status_code == 201, response.text
    media_id: str = response.json()["id"]
    return media_id


def _items(pipeline: Stack) -> int:
    with pipeline.session() as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def _locs(response: Any) -> list[list[object]]:
    return [problem["loc"] for problem in response.json()["detail"]]


def test_a_rich_draft_is_stored_shown_and_edited(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    photo = _upload(api, auth, "border.jpg", gps_jpeg())
    report = _upload(api, auth, "report.pdf", small_pdf())
    image = {"media_id": photo, "alt": "The wall", "caption": "At dusk.", "credit": "Ana / NGO"}
    attachments = [{"media_id": report, "title": "Full report"}]
    created = api.post(
        "/api/items",
        json=ITEM | {"image": image, "attachments": attachments, "contacts": [CONTACT]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    shown = api.get(f"/api/items/{item_id}", headers=auth).json()
    assert shown["image"] == image and shown["attachments"] == attachments
    assert shown["contacts"] == [CONTACT] and shown["notes"] is None  # None: the defaults

    preview = api.get(f"/api/items/{item_id}/preview", headers=auth)
    html = preview.text
    assert f"/media/{photo}/email.jpg" in html and 'alt="The wall"' in html
    # The preview may show the release's own photo, and still reach nowhere else.
    policy = preview.headers["content-security-policy"]
    assert f"img-src data: {pipeline.settings.base_url};" in policy
    assert "default-src 'none'" in policy
    assert "Full report</a> (PDF, 1 KB)" in html and "Ana Ruiz" in html
    text = api.get(f"/api/items/{item_id}/preview?format=text", headers=auth).text
    assert "[Photo: At dusk. — Ana / NGO]" in text

    edited = api.patch(
        f"/api/items/{item_id}", json={"image": None, "notes": "Own notes."}, headers=auth
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["image"] is None and edited.json()["notes"] == "Own notes."
    assert edited.json()["attachments"] == attachments  # what was not named stays
    cleared = api.patch(f"/api/items/{item_id}", json={"attachments": None}, headers=auth)
    assert cleared.status_code == 200 and cleared.json()["attachments"] == []


def test_defaults_fill_in_for_items_without_their_own(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    assert api.get("/api/defaults", headers=auth).json()["contacts"] == []
    put = api.put(
        "/api/defaults",
        json={"notes": "About **us**: a newsroom.", "contacts": [CONTACT]},
        headers=auth,
    )
    assert put.status_code == 200, put.text
    assert put.json()["updated_by"] == "desk"
    plain = api.post("/api/items", json=ITEM, headers=auth).json()["id"]
    own = api.post("/api/items", json=ITEM | {"notes": "", "contacts": []}, headers=auth).json()[
        "id"
    ]
    plain_html = api.get(f"/api/items/{plain}/preview", headers=auth).text
    assert "About <strong>us</strong>: a newsroom." in plain_html and "Ana Ruiz" in plain_html
    own_html = api.get(f"/api/items/{own}/preview", headers=auth).text
    assert "a newsroom" not in own_html and "Ana Ruiz" not in own_html

    bad = api.put(
        "/api/defaults", json={"contacts": [CONTACT | {"email": "not an address"}]}, headers=auth
    )
    assert bad.status_code == 422 and ["body", "contacts", 0, "email"] in _locs(bad)
    assert api.get("/api/defaults", headers=auth).json()["contacts"] == [CONTACT]


@pytest.mark.parametrize(
    ("image", "loc", "message"),
    [
        ({"media_id": "PHOTO", "caption": "x"}, ["body", "image", "alt"], "required"),
        ({"media_id": "PHOTO", "alt": "  "}, ["body", "image", "alt"], "at least 1"),
        ({"media_id": "nothing-stored-here", "alt": "A"}, ["body", "image", "media_id"], "no "),
        ({"media_id": "REPORT", "alt": "A"}, ["body", "image", "media_id"], "not an image"),
    ],
    ids=["missing-alt", "blank-alt", "unknown-id", "document-as-image"],
)
def test_a_bad_photo_is_a_422_naming_the_field(
    pipeline: Stack,
    api: TestClient,
    auth: dict[str, str],
    image: dict[str, str],
    loc: list[object],
    message: str,
) -> None:
    ids = {
        "PHOTO": _upload(api, auth, "border.jpg", gps_jpeg(800, 600)),
        "REPORT": _upload(api, auth, "report.pdf", small_pdf()),
    }
    image = {k: ids.get(v, v) for k, v in image.items()}
    response = api.post("/api/items", json=ITEM | {"image": image}, headers=auth)
    assert response.status_code == 422, response.text
    problem = next(p for p in response.json()["detail"] if p["loc"] == loc)
    assert message in problem["msg"]
    assert _items(pipeline) == 0


def test_a_photo_as_a_document_is_refused_on_create_and_on_edit(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    photo = _upload(api, auth, "border.jpg", gps_jpeg(800, 600))
    attachments = [{"media_id": photo, "title": "Report"}]
    created = api.post("/api/items", json=ITEM | {"attachments": attachments}, headers=auth)
    assert created.status_code == 422
    assert created.json()["detail"][0]["loc"] == ["body", "attachments", 0, "media_id"]
    assert "is an image, not a document" in created.json()["detail"][0]["msg"]
    assert _items(pipeline) == 0

    draft = api.post("/api/items", json=ITEM, headers=auth).json()
    edited = api.patch(
        f"/api/items/{draft['id']}",
        json={"title": "Changed", "attachments": attachments},
        headers=auth,
    )
    assert edited.status_code == 422
    after = api.get(f"/api/items/{draft['id']}", headers=auth).json()
    assert after["title"] == ITEM["title"] and after["attachments"] == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("logo.svg", SVG, "SVG is not accepted"),
        ("huge.png", huge_png(), "too large"),
        ("photo.jpg", small_pdf(), "Not a JPEG, PNG, GIF or WebP"),
    ],
    ids=["svg", "20000x20000-png", "pdf-named-jpg"],
)
def test_files_that_cannot_be_a_photo_are_refused_at_upload(
    api: TestClient, auth: dict[str, str], name: str, data: bytes, message: str
) -> None:
    response = api.post("/api/media", files={"file": (name, data)}, headers=auth)
    assert response.status_code == 422 and message in response.json()["detail"]


def test_markdown_notes_full_of_html_come_out_as_text(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    notes = (
        "<script>alert('notes')</script>\n\n"
        '<img src="x" onerror="alert(1)"> and <a href="javascript:alert(2)">here</a>\n\n'
        "[a link](javascript:alert(3)) and [another](JaVaScRiPt:alert(4))"
    )
    contact = CONTACT | {"name": "<b onmouseover=alert(5)>Eve</b>"}
    item_id = api.post(
        "/api/items", json=ITEM | {"notes": notes, "contacts": [contact]}, headers=auth
    ).json()["id"]
    html = api.get(f"/api/items/{item_id}/preview", headers=auth).text
    elements = Elements()
    elements.feed(html)
    assert "script" not in {tag for tag, _ in elements.found}
    for tag, attrs in elements.found:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower().replace(" ", ""), (tag, value)
    # What looked like markup is shown as the text it is.
    assert "&lt;script&gt;alert(" in html and "&lt;b onmouseover=alert(5)&gt;Eve" in html
    assert "<p>a link and another</p>" in html  # the labels stay, the addresses go
    text = api.get(f"/api/items/{item_id}/preview?format=text", headers=auth).text
    assert "a link and another" in text and "[1]" not in text  # no reference to follow


class Elements(HTMLParser):
    """Every element of a page with its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def test_a_correction_carries_the_originals_photo_unless_it_names_its_own(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    photo = _upload(api, auth, "border.jpg", gps_jpeg(800, 600))
    image = {"media_id": photo, "alt": "The wall", "caption": "", "credit": ""}
    item = api.post(
        "/api/items", json=ITEM | {"image": image, "contacts": [CONTACT]}, headers=auth
    ).json()
    assert api.post(f"/api/items/{item['id']}/publish", headers=auth).status_code == 200
    same = api.post(f"/api/items/{item['id']}/correct", json={"body": "Fixed."}, headers=auth)
    assert same.status_code == 201, same.text
    assert same.json()["image"] == image and same.json()["contacts"] == [CONTACT]
    html = api.get(f"/api/items/{same.json()['id']}/preview", headers=auth).text
    assert f"/media/{photo}/email.jpg" in html

    bare = api.post(
        f"/api/items/{item['id']}/correct",
        json={"body": "Fixed again.", "image": None, "notes": "New notes."},
        headers=auth,
    )
    assert bare.status_code == 201, bare.text
    assert bare.json()["image"] is None and bare.json()["notes"] == "New notes."
    refused = api.post(
        f"/api/items/{item['id']}/correct",
        json={"image": {"media_id": "nothing-stored-here", "alt": "A"}},
        headers=auth,
    )
    assert refused.status_code == 422 and _locs(refused) == [["body", "image", "media_id"]]


def test_the_public_release_page_shows_the_photo_documents_notes_and_contacts(
    pipeline: Stack, api: TestClient, auth: dict[str, str]
) -> None:
    photo = _upload(api, auth, "border.jpg", gps_jpeg(2000, 1000))
    report = _upload(api, auth, "report.pdf", small_pdf())
    item = api.post(
        "/api/items",
        json=ITEM
        | {
            "image": {"media_id": photo, "alt": "The wall", "caption": "At dusk.", "credit": "NGO"},
            "attachments": [{"media_id": report, "title": "Full report"}],
            "notes": "Based on *130* interviews.",
            "contacts": [CONTACT],
        },
        headers=auth,
    ).json()
    assert api.post(f"/api/items/{item['id']}/publish", headers=auth).status_code == 200
    page = api.get(f"/news/{item['id']}", follow_redirects=True)
    assert page.status_code == 200, page.text
    html = page.text
    assert f'<img src="{pipeline.settings.base_url}/media/{photo}/web.jpg" alt="The wall">' in html
    assert "At dusk." in html and "Photo: NGO" in html
    assert f'/media/{report}/report.pdf">Full report</a> (PDF, 1 KB)' in html
    assert "Based on <em>130</em> interviews." in html
    assert 'href="mailto:ana@ngo.example"' in html and "Languages: English, Spanish" in html
    # The web size it names is the one the store made: 1600 px wide at most.
    served = api.get(f"/media/{photo}/web.jpg")
    assert served.status_code == 200 and Image.open(io.BytesIO(served.content)).width == 1600
