"""Translations wherever a release is shown: the staff page's live preview per language,
the release page's sharing data and the Atom feed in the shown language."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from alerts.core.models import utcnow
from alerts.items import translations
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.newsroom_helpers import draft
from tests.test_browser import browser  # noqa: F401  (fixture)
from tests.test_compose_page import client

__all__ = ["client"]  # the signed-in browser, shared with test_compose_page


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def _stored(pipeline: Stack, item_id: int) -> list[tuple[str, str]]:
    with pipeline.session() as session:
        return [(r.language, r.title) for r in translations.of_item(session, item_id)]


def test_the_preview_button_shows_a_section_as_typed_without_saving_it(
    pipeline: Stack, client: TestClient
) -> None:
    with pipeline.session() as session:
        item = draft(session, title="Mexico: families wait", body="Today.")
        translations.put(session, item, "es", translations.parse_fields({"title": "Guardado"}))
        item_id = item.id
        session.commit()
    page = client.get(f"/staff/items/{item_id}/translations")
    token = _csrf(page.text)
    assert f'formaction="/staff/items/{item_id}/translations/preview"' in page.text
    url = f"/staff/items/{item_id}/translations/preview"

    # Without JavaScript: the whole page, the typed words kept in their section's form
    # and shown in its frame; the other sections as saved.
    shown = client.post(
        url, data={"csrf_token": token, "language": "es", "title": "Sin guardar", "body": "Hoy."}
    )
    assert shown.status_code == 200, shown.text
    section = shown.text.split('id="translation-es"')[1].split('id="translation-new"')[0]
    assert 'value="Sin guardar"' in section
    frame = re.search(r'<iframe id="preview-es"[^>]*srcdoc="([^"]*)"', section)
    assert frame is not None and "Sin guardar" in html.unescape(frame.group(1))
    assert "Hoy." in html.unescape(frame.group(1))
    # A new language's section previews too, its code kept in the form.
    new = client.post(url, data={"csrf_token": token, "language": "fr", "title": "Pas encore"})
    assert new.status_code == 200
    section = new.text.split('id="translation-new"')[1]
    assert 'value="fr"' in section and 'value="Pas encore"' in section
    assert re.search(r'<iframe id="preview-new"[^>]*srcdoc="[^"]*Pas encore', section)

    # The page's script asks for JSON; bad words are a 422 with the reason.
    answer = client.post(
        url,
        data={"csrf_token": token, "language": "es", "title": "Otro"},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200 and "Otro" in answer.json()["html"]
    bad = client.post(
        url,
        data={"csrf_token": token, "language": "xx", "title": "T"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 422 and "no known language" in bad.json()["error"]
    assert client.post(url, data={"csrf_token": token, "language": "xx"}).status_code == 422
    # Without the form's token: refused, as every staff form.
    assert client.post(url, data={"language": "es", "title": "T"}).status_code == 403
    assert (
        client.post(
            "/staff/items/999999/translations/preview", data={"csrf_token": token, "language": "es"}
        ).status_code
        == 404
    )
    assert _stored(pipeline, item_id) == [("es", "Guardado")]


def test_a_spanish_title_typed_shows_in_the_es_preview_before_saving(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    with pipeline.session() as session:
        item = draft(session, title="Mexico: families wait", body="Today.")
        translations.put(session, item, "es", translations.parse_fields({"title": "Guardado"}))
        item_id = item.id
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server}/staff/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items")
    page.goto(f"{live_server}/staff/items/{item_id}/translations")
    preview = page.frame_locator("#preview-es")
    expect(preview.locator("h1")).to_have_text("Guardado", timeout=10_000)

    page.locator("#tr-es-title").fill("México: las familias esperan")
    expect(preview.locator("h1")).to_have_text("México: las familias esperan", timeout=10_000)
    expect(page.locator("#preview-status-es")).to_contain_text("not saved yet")
    # Typing in the new language's section redraws its own frame, not the Spanish one.
    page.locator("#tr-new-language").fill("fr")
    page.locator("#tr-new-title").fill("Mexique : les familles attendent")
    new = page.frame_locator("#preview-new")
    expect(new.locator("h1")).to_have_text("Mexique : les familles attendent", timeout=10_000)
    expect(preview.locator("h1")).to_have_text("México: las familias esperan")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
    assert _stored(pipeline, item_id) == [("es", "Guardado")]
