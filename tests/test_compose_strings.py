"""The compose page's scripts speak the page's language: compose.js and country-picker.js
write only words the server rendered from gettext (a JSON block in the page), so the
preview's status, the reach line and the country picker's hint and buttons are Spanish
or French when the page is.

The browser test runs Debian's Chromium (tests/test_browser.py); the others read the
block as served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from alerts.core.models import utcnow
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.arabic import ar
from tests.conftest import Stack
from tests.factories import journalist
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)
from tests.test_compose_browser import PHONE
from tests.webclient import csrf


def _key(pipeline: Stack) -> str:
    with pipeline.session() as session:
        for n in range(2):
            journalist(session, f"mx{n}@example.net", (["MX"], []))
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    return key


def test_the_compose_scripts_write_spanish_on_a_spanish_page(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    key = _key(pipeline)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/staff/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items")
    context.set_extra_http_headers({"Accept-Language": "es"})
    page.goto(f"{live_server}/staff/items/new")
    preview = page.frame_locator("#preview")

    # Written by country-picker.js as it starts (the page without scripts says otherwise).
    expect(page.locator("#countries-hint")).to_have_text(
        "Elija los países de los que trata el comunicado: busque, o haga clic en un país "
        "para añadirlo o quitarlo."
    )
    expect(page.locator("#country-chosen")).to_have_text("ninguno todavía")
    page.locator("#title").fill("México: periodistas en riesgo")
    expect(preview.locator("h1")).to_have_text("México: periodistas en riesgo", timeout=10_000)
    # compose.js: the status and the reach line after the preview came back.
    expect(page.locator("#preview-status")).to_have_text(
        "La vista previa muestra el formulario tal como está; aún no se ha guardado."
    )
    search = page.locator("#country-search")
    search.fill("mex")
    search.press("Enter")
    expect(page.locator("#reach")).to_have_text("Llegaría ahora a 2 periodista(s).", timeout=10_000)
    expect(page.locator("#reach strong")).to_have_text("2")
    remove = page.locator("#country-chosen button")
    expect(remove).to_have_attribute("aria-label", re.compile(r"^Quitar M[ée]xico$"))
    Shots(page, ARTIFACTS / pipeline.name / "compose-es").take("compose-spanish")
    context.close()


@pytest.fixture
def signed_in(pipeline: Stack) -> Iterator[TestClient]:
    app = create_app(pipeline.app, SignUpLimits("memory://", "100/hour", "1000/hour"))
    key = _key(pipeline)
    with TestClient(app, base_url=pipeline.settings.base_url) as client:
        form = client.get("/staff/login")
        done = client.post(
            "/staff/login",
            data={"key": key, "csrf_token": csrf(form.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        yield client


def _strings(client: TestClient, language: str) -> dict[str, str]:
    page = client.get("/staff/items/new", headers={"Accept-Language": language})
    assert page.status_code == 200
    found = re.search(
        r'<script type="application/json" id="compose-strings">(.*?)</script>', page.text, re.S
    )
    assert found, "no strings block in the compose page"
    strings: dict[str, str] = json.loads(found.group(1))
    return strings


def test_every_script_string_is_translated_in_spanish_french_and_arabic(
    signed_in: TestClient,
) -> None:
    english = _strings(signed_in, "en")
    assert english["reach"] == "Would reach {count} journalist(s) now."
    for language in ("es", "fr", "ar"):
        translated = _strings(signed_in, language)
        assert translated.keys() == english.keys()
        for key, text in translated.items():
            assert text != english[key], (language, key)
            # The scripts fill these in: a translation must keep them.
            assert re.findall(r"\{\w+\}", text) == re.findall(r"\{\w+\}", english[key])
    assert _strings(signed_in, "fr")["remove"] == "Retirer {name}"
    # The language tabs' words (compose-tabs.js) are in the block too.
    assert _strings(signed_in, "es")["add_translation"] == "Añadir una traducción"
    assert _strings(signed_in, "fr")["remove_translation"] == "Supprimer la traduction"
    assert _strings(signed_in, "ar")["remove"] == ar("Remove {name}")


def test_the_compose_page_in_arabic_reads_right_to_left(signed_in: TestClient) -> None:
    page = signed_in.get("/staff/items/new", headers={"Accept-Language": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in page
    assert f"<legend><span>{ar('Another language')}</span></legend>" in page


def test_the_language_tabs_speak_the_page_language_without_scripts(signed_in: TestClient) -> None:
    for language, other, body in (
        ("es", "Otro idioma", "Texto (Markdown)"),
        ("fr", "Une autre langue", "Texte (Markdown)"),
    ):
        page = signed_in.get("/staff/items/new", headers={"Accept-Language": language}).text
        assert f"<legend><span>{other}</span></legend>" in page
        assert re.search(rf'<label for="tr\d+_body">{re.escape(body)}</label>', page)
        # Each language's own name, in its own language and direction.
        assert '<span lang="ar" dir="rtl">العربية</span> (ar)' in page


def test_the_scripts_hold_no_english_of_their_own() -> None:
    from pathlib import Path

    static = Path(__file__).resolve().parent.parent / "templates" / "web" / "static"
    for name in ("compose.js", "compose-tabs.js", "country-picker.js"):
        script = (static / name).read_text()
        phrases = ("Would reach", "The preview", "Remove ", "none yet", "Choose the", "Add a")
        for phrase in phrases:
            assert phrase not in script, (name, phrase)
