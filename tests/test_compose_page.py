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

from alerts.core.models import Item, ItemTranslation, Media, utcnow
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
    # Each language tab's code, sent as a browser sends the form (its words are left empty).
    tabs = dict(re.findall(r'name="(tr\d+_language)" value="([^"]*)"', page.text))
    return tabs | {"csrf_token": csrf(page.text), "title": "Mexico: reporters at risk"} | fields


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


def _tab(page: str, code: str) -> str:
    """The index of the language tab for ``code`` ("other": the one whose code is typed)."""
    if code == "other":
        found = re.search(r'<input type="text" id="tr(\d+)_language"', page)
    else:
        found = re.search(rf'name="tr(\d+)_language" value="{re.escape(code)}"', page)
    assert found, f"no {code} tab in the page"
    return found.group(1)


def _translations(pipeline: Stack) -> list[tuple[str, str, str | None]]:
    with pipeline.session() as session:
        rows = session.scalars(select(ItemTranslation).order_by(ItemTranslation.language))
        return [(r.language, r.title, r.body) for r in rows]


ARABIC = "المكسيك: صحفيون في خطر"


def test_a_new_item_is_saved_with_the_translations_typed_in_its_tabs(
    pipeline: Stack, client: TestClient
) -> None:
    page = client.get("/staff/items/new").text
    es, fr, ar = _tab(page, "es"), _tab(page, "fr"), _tab(page, "ar")
    assert not re.search(r'name="tr\d+_language" value="en"', page)  # the original's
    # Arabic is typed right to left, in its own language, and so is its preview.
    assert re.search(rf'id="tr{ar}_title"[^>]* lang="ar" dir="rtl"', page)
    assert re.search(rf'id="tr{ar}_preview"[^>]* lang="ar" dir="rtl"', page)
    assert not re.search(rf'id="tr{es}_title"[^>]* dir=', page)
    data = _form(client, countries=["MX"], body="Today.") | {
        f"tr{es}_title": "México: periodistas en riesgo",
        f"tr{es}_body": "Hoy.",
        f"tr{ar}_title": ARABIC,
        f"tr{ar}_summary": "تقرير",
        f"tr{fr}_title": "  ",  # a tab left empty is no translation
    }
    saved = client.post("/staff/items", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    # Exactly those two; a field left empty is the original's (None).
    assert _translations(pipeline) == [
        ("ar", ARABIC, None),
        ("es", "México: periodistas en riesgo", "Hoy."),
    ]
    with pipeline.session() as session:
        item = session.scalars(select(Item)).one()
        assert item.title == "Mexico: reporters at risk" and item.language == "en"
    spanish = client.get(f"/api/items/{item.id}/preview?format=html&lang=es")
    assert "Hoy." in spanish.text and "Today." not in spanish.text


def test_a_tabs_preview_button_shows_that_languages_email_and_keeps_nothing(
    pipeline: Stack, client: TestClient
) -> None:
    page = client.get("/staff/items/new").text
    ar = _tab(page, "ar")
    data = _form(client, countries=["MX"]) | {f"tr{ar}_title": ARABIC, "preview_tab": ar}
    shown = client.post("/staff/compose/preview", data=data)
    assert shown.status_code == 200, shown.text
    srcdoc = re.search(rf'<iframe id="tr{ar}_preview"[^>]* srcdoc="([^"]*)"', shown.text)
    assert srcdoc, "no preview in the Arabic tab"
    email = html.unescape(srcdoc.group(1))
    assert re.search(rf'<div lang="ar" dir="rtl">\s*<h1[^>]*>{ARABIC}</h1>', email)
    # The original's frame is left alone; the tab keeps what was typed.
    assert not re.search(r'<iframe id="preview"[^>]* srcdoc=', shown.text)
    assert f'value="{ARABIC}"' in shown.text
    # The script's preview: JSON, the tab named, the same email.
    answer = client.post("/staff/compose/preview", data=data, headers=JSON).json()
    assert answer["tab"] == int(ar) and answer["errors"] == []
    assert f">{ARABIC}</h1>" in answer["html"]
    original = client.post(
        "/staff/compose/preview", data=data | {"preview_tab": ""}, headers=JSON
    ).json()
    assert original["tab"] is None and ">Mexico: reporters at risk</h1>" in original["html"]
    assert _count(pipeline, Item) == 0 and _translations(pipeline) == []


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"other_language": "xx", "other_title": "T"}, "other_language", "no known language"),
        ({"es_body": "Hoy."}, "es_title", "give it a title"),
        (
            {"es_title": "Uno", "other_language": "es", "other_title": "Dos"},
            "other_language",
            "one tab per language",
        ),
        (
            {"other_language": "en", "other_title": "Again"},
            "other_language",
            "write it in the original",
        ),
        ({"es_title": "x" * 501}, "es_title", "at most 500 characters"),
        ({"ar_title": ARABIC, "ar_body": "ب" * 100_001}, "ar_body", "at most 100000"),
        ({"es_title": "Uno", "es_image_alt": "Una foto"}, "es_image_alt", "has no photo"),
    ],
)
def test_a_bad_translation_is_refused_on_the_page_and_nothing_is_stored(
    pipeline: Stack, client: TestClient, typed: dict[str, str], field: str, message: str
) -> None:
    page = client.get("/staff/items/new").text
    data = _form(client, countries=["MX"])
    for name, value in typed.items():
        code, part = name.split("_", 1)
        data[f"tr{_tab(page, code)}_{part}"] = value
    where = "tr{}_{}".format(_tab(page, field.split("_", 1)[0]), field.split("_", 1)[1])
    refused = client.post("/staff/items", data=data)
    assert refused.status_code == 422
    assert f'href="#{where}"' in refused.text
    assert re.search(
        rf'<p class="error" id="{where}-error">[^<]*{re.escape(message)}', refused.text
    )
    assert re.search(rf'id="{where}"[^>]*aria-invalid="true"', refused.text)
    # The form is kept: the original and every tab as typed.
    assert 'value="Mexico: reporters at risk"' in refused.text
    for value in typed.values():
        assert html.escape(value, quote=True) in refused.text
    assert _count(pipeline, Item) == 0 and _translations(pipeline) == []
    # The script's preview names the same field.
    answer = client.post("/staff/compose/preview", data=data, headers=JSON)
    assert answer.status_code == 422
    assert where in [e["field"] for e in answer.json()["errors"]]


def test_a_saved_items_draft_takes_no_tabs_its_translations_page_does(
    pipeline: Stack, client: TestClient
) -> None:
    saved = client.post("/staff/items", data=_form(client), follow_redirects=False)
    assert saved.status_code == 303
    with pipeline.session() as session:
        item_id = session.scalars(select(Item.id)).one()
    page = client.get(f"/staff/items/{item_id}").text
    assert 'id="translations"' not in page and "tr0_title" not in page
    refused = client.post(
        f"/staff/items/{item_id}/draft",
        data={"csrf_token": csrf(page), "title": "Changed", "tr0_language": "es", "tr0_title": "T"},
    )
    assert refused.status_code == 422 and "translations page" in refused.text
    with pipeline.session() as session:
        assert session.get(Item, item_id).title == "Mexico: reporters at risk"  # type: ignore[union-attr]
    assert _translations(pipeline) == []
