"""The staff item page's translations: one form per language, each with its own preview."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from alerts.core.models import Item
from alerts.items import translations
from tests.conftest import Stack
from tests.newsroom_helpers import draft
from tests.test_compose_page import client

__all__ = ["client"]  # the signed-in browser, shared with test_compose_page

SPANISH = {"title": "México: las familias esperan", "summary": "Un informe.", "body": "Hoy."}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def test_a_translation_is_added_previewed_edited_and_removed_from_the_item_page(
    pipeline: Stack, client: TestClient
) -> None:
    with pipeline.session() as session:
        item_id = draft(session, title="Mexico: families wait", body="Today.").id
        session.commit()
    item_page = client.get(f"/staff/items/{item_id}")
    assert f'href="/staff/items/{item_id}/translations"' in item_page.text
    page = client.get(f"/staff/items/{item_id}/translations?lang=es")
    assert page.status_code == 200
    assert "Añadir una traducción" in page.text and 'id="translation-new"' in page.text
    saved = client.post(
        f"/staff/items/{item_id}/translations",
        data={"csrf_token": _csrf(page.text), "language": "es"} | SPANISH,
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].endswith(
        f"/staff/items/{item_id}/translations?note=translation%20es%20saved"
    )
    page = client.get(f"/staff/items/{item_id}/translations")
    assert 'href="#translation-es"' in page.text and 'id="translation-es"' in page.text
    assert f'value="{SPANISH["title"]}"' in page.text
    assert f"/api/items/{item_id}/preview?format=html&amp;lang=es" in page.text
    # Its own preview: the email a Spanish reader gets, and the original's unchanged.
    spanish = client.get(f"/api/items/{item_id}/preview?format=html&lang=es")
    assert spanish.status_code == 200 and SPANISH["title"] in spanish.text
    assert "Hoy." in spanish.text and "Today." not in spanish.text
    original = client.get(f"/api/items/{item_id}/preview?format=html")
    assert "Mexico: families wait" in original.text and SPANISH["title"] not in original.text
    assert client.get(f"/api/items/{item_id}/preview?lang=zz").status_code == 422
    assert client.get("/staff/items/999999/translations").status_code == 404
    # Empty fields are the original's; a bad language comes back as a note, nothing stored.
    client.post(
        f"/staff/items/{item_id}/translations",
        data={"csrf_token": _csrf(page.text), "language": "es", "title": "Otro", "body": ""},
    )
    bad = client.post(
        f"/staff/items/{item_id}/translations",
        data={"csrf_token": _csrf(page.text), "language": "xx", "title": "T"},
    )
    assert bad.status_code == 200 and "no known language" in bad.text
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        rows = translations.of_item(session, item_id)
        assert [(r.language, r.title, r.body) for r in rows] == [("es", "Otro", None)]
    removed = client.post(
        f"/staff/items/{item_id}/translations/es/delete",
        data={"csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    with pipeline.session() as session:
        assert translations.of_item(session, item_id) == []


def test_the_translation_forms_need_the_form_token(pipeline: Stack, client: TestClient) -> None:
    with pipeline.session() as session:
        item_id = draft(session, title="Mexico: families wait").id
        session.commit()
    refused = client.post(
        f"/staff/items/{item_id}/translations",
        data={"csrf_token": "forged", "language": "es"} | SPANISH,
        follow_redirects=False,
    )
    assert refused.status_code in (303, 403)
    with pipeline.session() as session:
        assert translations.of_item(session, item_id) == []
