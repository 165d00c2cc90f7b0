"""The staff compose page driven as a browser without JavaScript would: plain form posts.

The preview of the unsaved form, its reach, regions, the photo and documents
uploaded through the form, and every refusal shown on the page with nothing
half-stored. (The page with its scripts: tests/test_compose_browser.py.)
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from alerts.core.models import Item, Media, utcnow
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.web.compose_form import LISTS, RawCompose, contact_line, draft_fields
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.factories import journalist
from tests.rich_files import small_pdf
from tests.webclient import csrf

JSON = {"Accept": "application/json"}


def jpeg(width: int = 900, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def client(pipeline: Stack) -> Iterator[TestClient]:
    app: FastAPI = create_app(pipeline.app, SignUpLimits("memory://", "100/hour", "1000/hour"))
    with pipeline.session() as session:
        for n in range(3):
            journalist(session, f"mx{n}@example.net", (["MX"], []))
        journalist(session, "fr@example.net", (["FR"], []))
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    with TestClient(app, base_url=pipeline.settings.base_url) as browser:
        form = browser.get("/staff/login")
        done = browser.post(
            "/staff/login",
            data={"key": key, "csrf_token": csrf(form.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        yield browser


def _form(client: TestClient, **fields: Any) -> dict[str, Any]:
    page = client.get("/staff/items/new")
    assert page.status_code == 200
    return {"csrf_token": csrf(page.text), "title": "Mexico: reporters at risk"} | fields


def _count(pipeline: Stack, model: type[Item] | type[Media]) -> int:
    with pipeline.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_preview_renders_the_unsaved_form_with_its_reach_and_keeps_nothing(
    pipeline: Stack, client: TestClient
) -> None:
    data = _form(client, summary="Attacks rose <b>sharply</b>.", countries=["MX"])
    shown = client.post("/staff/compose/preview", data=data, headers=JSON)
    assert shown.status_code == 200, shown.text
    answer = shown.json()
    assert answer["errors"] == []
    assert answer["reach"]["total"] == 3
    assert "Mexico: reporters at risk" in answer["html"]
    assert "Attacks rose &lt;b&gt;sharply&lt;/b&gt;." in answer["html"]  # text, not markup
    assert "Sample Journalist" in answer["html"]  # the email as a journalist gets it
    assert _count(pipeline, Item) == 0

    # A region adds all its countries: Europe reaches the journalist following France.
    europe = client.post(
        "/staff/compose/preview", data=_form(client, regions=["europe"]), headers=JSON
    )
    assert europe.json()["reach"]["total"] == 1


def test_the_preview_button_without_javascript_shows_the_same_preview_on_the_page(
    pipeline: Stack, client: TestClient
) -> None:
    page = client.post("/staff/compose/preview", data=_form(client, countries=["MX"]))
    assert page.status_code == 200
    srcdoc = re.search(r'<iframe id="preview"[^>]* srcdoc="([^"]*)"', page.text)
    assert srcdoc, "no preview in the page"
    assert "Mexico: reporters at risk" in html.unescape(srcdoc.group(1))
    assert "Would reach <strong>3</strong> journalist(s) now" in page.text
    # Still no script but the page's own; images from the media store too (it may be a CDN).
    policy = page.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'self'" in policy
    # Here the media store is the app's own host, which 'self' covers (a CDN's origin is
    # added: tests/test_media_csp.py).
    assert pipeline.settings.media_base_url.startswith(pipeline.settings.base_url)
    assert "img-src 'self' data:;" in policy
    # The form keeps what was typed, and the preview saved nothing.
    assert 'value="Mexico: reporters at risk"' in page.text
    assert '<option value="MX" selected>' in page.text
    assert _count(pipeline, Item) == 0
    # The reach line written by the server (no script) speaks the page's language too.
    spanish = client.post(
        "/staff/compose/preview",
        data=_form(client, countries=["MX"]),
        headers={"Accept-Language": "es"},
    )
    assert "Llegaría ahora a <strong>3</strong> periodista(s); por país: MX 3." in spanish.text
    assert 'title="Vista previa del correo"' in spanish.text


def test_the_preview_needs_the_session_form_token_and_stores_no_file_without_it(
    pipeline: Stack, client: TestClient
) -> None:
    data = _form(client) | {"csrf_token": "forged"}
    refused = client.post(
        "/staff/compose/preview",
        data=data,
        files={"photo": ("p.jpg", jpeg(), "image/jpeg")},
        headers=JSON,
    )
    assert refused.status_code == 403
    assert _count(pipeline, Media) == 0


def test_kinds_are_shown_by_their_labels_in_the_language_of_the_page(client: TestClient) -> None:
    page = client.get("/staff/items/new").text
    assert '<option value="press_release" selected>Press release</option>' in page
    assert '<option value="report">Report</option>' in page
    spanish = client.get("/staff/items/new", headers={"Accept-Language": "es-MX,es;q=0.9"}).text
    assert '<html lang="es">' in spanish
    assert '<option value="report">Informe</option>' in spanish
    assert '<label for="title">Título</label>' in spanish
    assert client.get("/staff/items/new?lang=es").text.count("Buscar un país o región") == 1


def test_a_photo_without_alt_text_is_refused_on_the_page_then_kept_for_the_next_try(
    pipeline: Stack, client: TestClient
) -> None:
    data = _form(client, image_caption="Protest in Mexico City", image_credit="A. Photographer")
    page = client.post(
        "/staff/items", data=data, files={"photo": ("protest.jpg", jpeg(), "image/jpeg")}
    )
    assert page.status_code == 422
    assert "Describe the photo in the alt text" in page.text
    assert 'href="#image_alt"' in page.text  # the summary links to the field
    assert re.search(r'id="image_alt"[^>]*aria-describedby="[^"]*image_alt-error"', page.text)
    assert re.search(r'id="image_alt"[^>]*aria-invalid="true"', page.text)
    assert _count(pipeline, Item) == 0
    # The stored photo comes back as an id with its thumbnail: no need to choose it again.
    kept = re.search(r'name="image_media_id" value="([^"]+)"', page.text)
    assert kept and 'id="photo-thumb"' in page.text
    saved = client.post(
        "/staff/items",
        data=data
        | {
            "csrf_token": csrf(page.text),
            "image_media_id": kept.group(1),
            "image_alt": "Marchers hold photos of missing reporters",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with pipeline.session() as session:
        item = session.scalars(select(Item)).one()
        assert item.image == {
            "media_id": kept.group(1),
            "alt": "Marchers hold photos of missing reporters",
            "caption": "Protest in Mexico City",
            "credit": "A. Photographer",
        }


def test_documents_contacts_and_notes_are_saved_into_the_draft(
    pipeline: Stack, client: TestClient
) -> None:
    data = _form(
        client,
        countries=["MX"],
        document_title="Full report (PDF)",
        notes="Interviews on request.",
        contacts="Ana Ruiz; Press officer; ana@ngo.example; +52 55 1234 5678\n\nLuis Paz",
    )
    saved = client.post(
        "/staff/items",
        data=data,
        files={"document": ("report.pdf", small_pdf(), "application/pdf")},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with pipeline.session() as session:
        item = session.scalars(select(Item)).one()
        media = session.scalars(select(Media)).one()
        assert media.kind == "document" and media.label == "PDF"
        assert item.attachments == [{"media_id": media.id, "title": "Full report (PDF)"}]
        assert item.notes == "Interviews on request."
        assert item.contacts is not None
        assert [c["name"] for c in item.contacts] == ["Ana Ruiz", "Luis Paz"]
        assert item.contacts[0]["email"] == "ana@ngo.example"
        item_id = item.id
    page = client.get(f"/staff/items/{item_id}").text
    assert 'value="Full report (PDF)"' in page
    assert "Ana Ruiz; Press officer; ana@ngo.example; +52 55 1234 5678" in page


@pytest.mark.parametrize(
    ("name", "file", "message"),
    [
        ("document", ("report.pdf", b"not a pdf at all", "application/pdf"), "Not a document"),
        ("photo", ("notes.txt", b"plain words", "text/plain"), "JPEG, PNG, GIF or WebP"),
        ("document", ("photo.jpg", jpeg(), "image/jpeg"), "choose it as the photo"),
    ],
)
def test_a_bad_file_is_refused_on_the_page_and_nothing_is_stored(
    pipeline: Stack, client: TestClient, name: str, file: tuple[str, bytes, str], message: str
) -> None:
    page = client.post("/staff/items", data=_form(client), files={name: file})
    assert page.status_code == 422
    assert f'href="#{name}"' in page.text
    assert re.search(rf'<p class="error" id="{name}-error">[^<]*{re.escape(message)}', page.text)
    assert _count(pipeline, Media) == 0
    assert _count(pipeline, Item) == 0


def test_a_bad_contact_is_refused_with_a_message_linked_to_the_field(
    pipeline: Stack, client: TestClient
) -> None:
    data = _form(client, contacts="Ana Ruiz; Press officer; not-an-address")
    page = client.post("/staff/compose/preview", data=data, headers=JSON)
    assert page.status_code == 422
    errors = page.json()["errors"]
    assert [e["field"] for e in errors] == ["contacts"]
    assert "not an email address" in errors[0]["message"]
    assert _count(pipeline, Item) == 0


def test_a_stored_contact_reads_back_into_the_same_contact() -> None:
    # An item's contacts from the API keep their languages and time zone through the form.
    stored = {
        "name": "Ana Ruiz",
        "role": "",
        "email": "ana@ngo.example",
        "phone": "",
        "languages": ["es", "en"],
        "timezone": "America/Mexico_City",
    }
    line = contact_line(stored)
    assert line == "Ana Ruiz; ; ana@ngo.example; ; es, en; America/Mexico_City"
    raw = RawCompose({"title": "t", "contacts": line + "\nLuis Paz"}, {n: [] for n in LISTS}, {})
    assert draft_fields(raw)["contacts"] == [
        stored,
        {"name": "Luis Paz", "role": "", "email": "", "phone": "", "languages": [], "timezone": ""},
    ]
