"""Translations wherever a release is shown: the staff page's live preview per language,
the release page's sharing data and the Atom feed in the shown language."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import feedparser
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from alerts.core.models import Item, utcnow
from alerts.items import translations
from alerts.items.corrections import correct
from alerts.newsroom.slugs import release_path
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.newsroom_helpers import client_of, draft, json_ld, meta, release, titles
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


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def _translate(pipeline: Stack, item_id: int, language: str, **words: str) -> None:
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        translations.put(session, item, language, translations.parse_fields(words), utcnow())
        session.commit()


def test_sharing_data_and_correction_banners_follow_the_language_shown(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        original_id = release(
            session, 0, title="Original statement", summary="The first figures.", countries=["MX"]
        )
        original = session.get(Item, original_id)
        assert original is not None
        fixed = correct(session, original, None, "Fixed numbers.", "The right figure.", utcnow())
        session.commit()
        fixed_id, fixed_title = fixed.id, fixed.title
    _translate(
        pipeline, original_id, "es", title="Declaración original", summary="Las primeras cifras."
    )
    _translate(pipeline, fixed_id, "es", title="Corrección: Declaración original")
    base = pipeline.settings.base_url.rstrip("/")
    page = release_path(original_id, "Original statement")

    english = web.get(page).text
    assert meta(english, "og:title") == "Original statement"
    assert meta(english, "og:locale") == "en" and meta(english, "og:url") == base + page
    assert json_ld(english)["inLanguage"] == "en" and "translationOfWork" not in json_ld(english)
    assert f'href="{release_path(fixed_id, fixed_title)}" lang="en"' in english

    spanish = web.get(f"{page}?lang=es").text
    assert meta(spanish, "og:title") == "Declaración original"
    assert meta(spanish, "og:description") == "Las primeras cifras."
    assert meta(spanish, "og:locale") == "es"
    assert meta(spanish, "og:url") == f"{base}{page}?lang=es"
    data = json_ld(spanish)
    assert data["headline"] == data["name"] == "Declaración original"
    assert data["description"] == "Las primeras cifras." and data["inLanguage"] == "es"
    assert data["url"] == f"{base}{page}?lang=es"
    assert data["translationOfWork"] == {"@type": "NewsArticle", "url": base + page}
    # The correction is named in Spanish, and its link opens it in Spanish.
    banner = f'href="{release_path(fixed_id, fixed_title)}?lang=es" lang="es">'
    assert banner + "Corrección: Declaración original</a>" in spanish
    # Back from the correction: the original, in Spanish too.
    corrected = web.get(f"{release_path(fixed_id, fixed_title)}?lang=es").text
    assert f'href="{page}?lang=es" rel="up" lang="es">Declaración original</a>' in corrected
    # A language the correction has no translation in: the original's title, as it was.
    _translate(pipeline, original_id, "fr", title="Déclaration originale")
    french = web.get(f"{page}?lang=fr").text
    assert meta(french, "og:title") == "Déclaration originale"
    fixed_path = release_path(fixed_id, fixed_title)
    assert f'href="{fixed_path}" lang="en">Correction: Original statement</a>' in french


def test_the_atom_feed_in_a_language_shows_its_translations_and_retags_on_edit(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        translated = release(
            session, 0, title="Mexico: families wait", summary="A report.", body="**Today.**"
        )
        english_only = release(session, 1, title="Chile: reporters beaten", summary="Two hurt.")
        session.commit()
    _translate(
        pipeline,
        translated,
        "es",
        title="México: las familias esperan",
        summary="Un informe.",
        body="**Hoy.**",
    )
    base = pipeline.settings.base_url.rstrip("/")

    everything = feedparser.parse(web.get("/news/feed.atom").content)
    assert [e.title for e in everything.entries] == [
        "Chile: reporters beaten",
        "Mexico: families wait",
    ]
    assert everything.entries[1].title_detail.language == "en"

    url = "/news/feed.atom?language=es"
    first = web.get(url)
    feed = feedparser.parse(first.content)
    assert not feed.bozo, feed.bozo_exception
    # Only the release in Spanish, in its Spanish words, linked to its Spanish page.
    assert [e.title for e in feed.entries] == ["México: las familias esperan"]
    entry = feed.entries[0]
    assert entry.title_detail.language == entry.content[0].language == "es"
    assert entry.summary == "Un informe."
    assert "<strong>Hoy.</strong>" in entry.content[0].value
    assert "Today" not in entry.content[0].value
    assert entry.id == f"{base}/news/{translated}"
    assert entry.link == f"{base}{release_path(translated, 'Mexico: families wait')}?lang=es"
    assert f"/news/{english_only}-" not in first.text
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    both = {"If-None-Match": etag, "If-Modified-Since": modified}
    assert web.get(url, headers=both).status_code == 304

    # Edited a second later (HTTP dates count whole seconds): the readers' next poll
    # gets the new words, by the tag and by the date alike.
    time.sleep(1.1)
    _translate(pipeline, translated, "es", title="México: las familias siguen esperando")
    again = web.get(url, headers=both)
    assert again.status_code == 200 and again.headers["etag"] != etag
    assert web.get(url, headers={"If-Modified-Since": modified}).status_code == 200
    assert web.get(url, headers={"If-None-Match": etag}).status_code == 200
    entries = feedparser.parse(again.content).entries
    assert [e.title for e in entries] == ["México: las familias siguen esperando"]
    # The feed without a language is not the Spanish one, and did not change.
    assert web.get("/news/feed.atom").headers["etag"] == web.get("/news/feed.atom").headers["etag"]


def test_a_list_and_feed_in_several_languages_show_each_release_in_one_of_them(
    pipeline: Stack, web: TestClient
) -> None:
    """Original when it is in one of the languages asked for; else its translation
    into the first of them, by code, that it has."""
    with pipeline.session() as session:
        english = release(session, 0, title="Mexico: families wait")
        spanish = release(session, 1, title="Guatemala: periodistas amenazados", language="es")
        french_only = release(session, 2, title="Haiti: the courts stall")
        untranslated = release(session, 3, title="Chile: nothing translated")
        session.commit()
    _translate(pipeline, english, "es", title="México: las familias esperan")
    _translate(pipeline, english, "fr", title="Mexique : les familles attendent")
    _translate(pipeline, spanish, "fr", title="Guatemala : journalistes menacés")
    _translate(pipeline, french_only, "fr", title="Haïti : les tribunaux piétinent")

    query = "language=fr&language=es"
    expected = [
        "Haïti : les tribunaux piétinent",
        "Guatemala: periodistas amenazados",  # its original is one of them
        "México: las familias esperan",  # es before fr, whatever the order asked
    ]
    entries = feedparser.parse(web.get(f"/news/feed.atom?{query}").content).entries
    assert [e.title for e in entries] == expected
    assert [e.title_detail.language for e in entries] == ["fr", "es", "es"]
    page = web.get(f"/news?{query}").text
    assert [html.unescape(t) for t in titles(page)] == expected
    assert f"/news/{untranslated}-" not in page
    assert f"{release_path(french_only, 'Haiti: the courts stall')}?lang=fr" in page
