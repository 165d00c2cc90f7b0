"""Composing a release in headless Chromium (Debian's, via Playwright), scripts running:
the preview follows the typing, countries are found by search, a photo and a report are
uploaded from the form, then the release is published and the email received is looked at.

Screenshots land in build/test-artifacts/browser/<set-up>/compose/.
"""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import Browser, FilePayload, ViewportSize, expect
from sqlalchemy import func, select

from alerts.core.models import Item, utcnow
from alerts.items import translations
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.factories import journalist
from tests.rich_files import small_pdf
from tests.test_browser import ARTIFACTS, Shots, browser  # noqa: F401  (fixture)

PHONE: ViewportSize = {"width": 375, "height": 812}
ARABIC = "المكسيك: صحفيون في خطر"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 800), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_compose_with_photo_and_report_preview_as_typed_publish_and_read_the_email(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    with pipeline.session() as session:
        for n in range(4):
            journalist(session, f"mx{n}@example.net", (["MX"], ["journalists"]))
        journalist(session, "fr@example.net", (["FR"], []))
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name / "compose")

    page.goto(f"{live_server}/staff/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items")
    page.goto(f"{live_server}/staff/items/new")
    preview = page.frame_locator("#preview")

    # The preview follows the title as it is typed, before anything is saved.
    page.get_by_role("textbox", name="Title", exact=True).fill("Mexico: a first title")
    expect(preview.locator("h1")).to_have_text("Mexico: a first title", timeout=10_000)
    page.get_by_role("textbox", name="Title", exact=True).fill("Mexico: reporters at risk")
    expect(preview.locator("h1")).to_have_text("Mexico: reporters at risk", timeout=10_000)
    page.get_by_role("textbox", name="Summary", exact=True).fill(
        "Attacks on reporters rose in 2026."
    )
    expect(page.get_by_label("Kind")).to_contain_text("Press release")

    # Countries by search: "mex" and Enter adds Mexico; a region can be added and removed.
    search = page.get_by_label("Find a country or region")
    search.fill("mex")
    search.press("Enter")
    expect(page.locator("#country-chosen")).to_contain_text("Mexico")
    # They follow one topic too: no reach until the item has it.
    expect(page.locator("#reach")).to_have_text("Would reach 0 journalist(s) now.")
    search.fill("americas")
    search.press("Enter")
    expect(page.locator("#country-chosen")).to_contain_text("Americas (the whole region)")
    page.get_by_role("button", name="Remove Americas (the whole region)").click()
    expect(page.locator("#country-chosen")).not_to_contain_text("Americas")
    page.get_by_label("Topics").select_option(["journalists"])
    expect(page.locator("#reach")).to_have_text("Would reach 4 journalist(s) now.")

    # The photo is uploaded as it is chosen; without alt text the page says what is missing.
    photo_file: FilePayload = {"name": "protest.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}
    page.set_input_files("#photo", files=[photo_file])
    expect(page.locator("#photo-thumb")).to_be_visible(timeout=15_000)
    expect(page.locator("#errors")).to_contain_text("Describe the photo in the alt text")
    expect(page.get_by_label("Alt text (required with a photo)")).to_have_attribute(
        "aria-invalid", "true"
    )
    shots.take("compose-alt-missing")
    page.get_by_label("Alt text (required with a photo)").fill("Reporters hold their cameras up")
    page.get_by_role("textbox", name="Caption", exact=True).fill("A protest in Mexico City")
    page.get_by_label("Credit").fill("A. Photographer")
    expect(page.locator("#errors")).to_be_empty(timeout=10_000)
    expect(preview.locator("img[alt='Reporters hold their cameras up']")).to_be_visible()

    page.get_by_label("Name of the new document, as the email shows it").fill("Full report")
    pdf = small_pdf()
    report: FilePayload = {"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf}
    page.set_input_files("#document", files=[report])
    expect(page.locator("#attachment_title_1")).to_have_value("Full report", timeout=15_000)
    expect(preview.get_by_role("link", name=re.compile("Full report"))).to_be_visible()
    page.get_by_role("textbox", name="Notes to editors", exact=True).fill("Interviews on request.")
    page.get_by_label("Media contacts").fill("Ana Ruiz; Press officer; ana@ngo.example")
    expect(preview.locator("body")).to_contain_text("Interviews on request.", timeout=10_000)
    # The whole form fits a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take("compose-phone-light")
    page.emulate_media(color_scheme="dark")
    shots.take("compose-phone-dark")
    page.emulate_media(color_scheme="light")

    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#status")).to_have_text("draft")
    item_id = int(page.url.split("/staff/items/")[1].split("?")[0])
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None and item.countries == ["MX"] and item.topics == ["journalists"]
        assert item.image is not None and item.image["credit"] == "A. Photographer"
        photo_id = item.image["media_id"]
        assert item.attachments is not None and item.attachments[0]["title"] == "Full report"
        document_id = item.attachments[0]["media_id"]
    page.get_by_role("button", name="Publish now").click()
    expect(page.locator("#status")).to_have_text("published")
    pipeline.wait_for_item(item_id)
    received = pipeline.received()
    assert sorted(r.rcpt_tos[0] for r in received) == [f"mx{n}@example.net" for n in range(4)]

    html_part = received[0].parsed().get_body(("html",))
    assert html_part is not None
    email_html = str(html_part.get_content())
    assert f"/media/{photo_id}/" in email_html
    for scheme in ("light", "dark"):
        mail = browser.new_context(viewport=PHONE, color_scheme=scheme).new_page()
        mail_shots = Shots(mail, ARTIFACTS / pipeline.name / "compose" / f"email-{scheme}")
        mail.set_content(email_html)
        photo = mail.locator("img[alt='Reporters hold their cameras up']")
        expect(photo).to_be_visible()
        loaded = "img => img.complete && img.naturalWidth > 0"  # served by /media
        mail.wait_for_function(loaded, arg=photo.element_handle())
        link = mail.get_by_role("link", name=re.compile("Full report"))
        expect(link).to_be_visible()
        # The link may be a tracked one (/c/TOKEN): it leads to the stored report either way.
        target = mail.request.get(link.get_attribute("href") or "", max_redirects=0)
        location = target.headers.get("location") or (link.get_attribute("href") or "")
        assert f"/media/{document_id}/" in location, location
        mail_shots.take("received-email-phone")
        mail.context.close()
    context.close()


def test_translations_typed_in_tabs_each_previewed_in_its_language_and_saved_with_the_item(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    with pipeline.session() as session:
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    shots = Shots(page, ARTIFACTS / pipeline.name / "compose-tabs")
    page.goto(f"{live_server}/staff/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/staff/items/new")
    # The original's fields: those of the tabs, hidden until a language is added, are not.
    page.get_by_role("textbox", name="Title", exact=True).fill("Mexico: reporters at risk")
    page.get_by_role("textbox", name="Summary", exact=True).fill("Attacks rose.")
    expect(page.frame_locator("#preview").locator("h1")).to_have_text(
        "Mexico: reporters at risk", timeout=10_000
    )
    # No tab until a language is added: the fieldsets are there, hidden.
    expect(page.get_by_role("tab")).to_have_count(0)
    expect(page.get_by_role("tablist")).to_be_hidden()

    adder = page.get_by_label("Add a translation")
    adder.select_option(label="العربية")
    page.get_by_role("button", name="Add", exact=True).click()
    arabic_tab = page.get_by_role("tab", name="العربية")
    expect(arabic_tab).to_have_attribute("aria-selected", "true")
    expect(arabic_tab).to_be_focused()
    panel = page.get_by_role("tabpanel")
    expect(panel).to_have_count(1)
    title = panel.get_by_label("Title")
    expect(title).to_have_attribute("lang", "ar")
    expect(title).to_have_attribute("dir", "rtl")
    # A body without a title: the problem is named on the tab's own field, as typed.
    panel.get_by_label("Body (Markdown)").fill("قالت المنظمة إن الهجمات تزايدت.")
    expect(page.locator("#errors")).to_contain_text("Translation ar: give it a title")
    expect(title).to_have_attribute("aria-invalid", "true")
    title.fill(ARABIC)
    expect(page.locator("#errors")).to_be_empty(timeout=10_000)
    arabic_frame = panel.locator("iframe")
    expect(arabic_frame).to_have_attribute("dir", "rtl")
    arabic = page.frame_locator(f"#{arabic_frame.get_attribute('id')}")
    expect(arabic.locator("div[lang=ar][dir=rtl] h1")).to_have_text(ARABIC, timeout=10_000)
    expect(arabic.locator("body")).to_contain_text("قالت المنظمة إن الهجمات تزايدت.")
    shots.take("tab-arabic")

    adder.select_option(label="Español")
    page.get_by_role("button", name="Add", exact=True).click()
    spanish_tab = page.get_by_role("tab", name="Español")
    expect(spanish_tab).to_have_attribute("aria-selected", "true")
    expect(arabic_tab).to_have_attribute("aria-selected", "false")
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_label("Title")).not_to_have_attribute("dir", "rtl")
    panel.get_by_label("Title").fill("México: periodistas en riesgo")
    panel.get_by_label("Summary").fill("Los ataques aumentaron.")
    spanish_id = panel.locator("iframe").get_attribute("id")
    spanish = page.frame_locator(f"#{spanish_id}")
    expect(spanish.locator("div[lang=es] h1")).to_have_text(
        "México: periodistas en riesgo", timeout=10_000
    )
    expect(spanish.locator("div[dir=rtl]")).to_have_count(0)
    # Each preview is its own: the Arabic one and the original's did not change.
    expect(arabic.locator("h1")).to_have_text(ARABIC)
    expect(page.frame_locator("#preview").locator("h1")).to_have_text("Mexico: reporters at risk")

    # Arrow keys move between the tabs (only those added, in the page's order), wrapping
    # round; Home and End go to the first and the last.
    expect(page.get_by_role("tab")).to_have_text(["Español", "العربية"])
    spanish_tab.press("ArrowRight")
    expect(arabic_tab).to_be_focused()
    expect(arabic_tab).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel").get_by_label("Title")).to_have_value(ARABIC)
    arabic_tab.press("ArrowRight")
    expect(spanish_tab).to_be_focused()
    spanish_tab.press("End")
    expect(arabic_tab).to_have_attribute("aria-selected", "true")
    arabic_tab.press("Home")
    expect(spanish_tab).to_have_attribute("aria-selected", "true")
    # The Arabic words leave the summary to the original's: a tab shown again is redrawn.
    page.locator("#summary").fill("Attacks rose sharply.")  # the original's
    arabic_tab.click()
    expect(arabic.locator("body")).to_contain_text("Attacks rose sharply.", timeout=10_000)
    expect(page.get_by_role("tab")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take("tabs-phone")

    # A second Spanish translation in the tab for any code: the whole submit is refused,
    # the page comes back with every tab as typed, that one open on its problem.
    adder.select_option(label="Another language")
    page.get_by_role("button", name="Add", exact=True).click()
    panel = page.get_by_role("tabpanel")
    panel.get_by_label("Language code (es, ar, pt-BR)").fill("es")
    expect(page.get_by_role("tab", name="es", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    panel.get_by_label("Title").fill("Otra vez")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#errors")).to_contain_text("one tab per language")
    assert page.url.endswith("/staff/items")  # the refused submit, answered in place
    expect(page.get_by_role("tab")).to_have_text(["Español", "العربية", "es"])
    expect(page.get_by_role("tab", name="es", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_label("Language code (es, ar, pt-BR)")).to_have_attribute(
        "aria-invalid", "true"
    )
    with pipeline.session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
    # Removed, it is an empty tab again: no translation.
    panel.get_by_role("button", name="Remove translation").click()
    expect(page.get_by_role("tab")).to_have_text(["Español", "العربية"])
    expect(page.get_by_role("tab", name="Español")).to_have_attribute("aria-selected", "true")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#status")).to_have_text("draft")
    item_id = int(page.url.split("/staff/items/")[1].split("?")[0])
    expect(page.locator("#translations-link")).to_contain_text("ar, es")
    with pipeline.session() as session:
        rows = translations.of_item(session, item_id)
        assert [(r.language, r.title, r.summary) for r in rows] == [
            ("ar", ARABIC, None),
            ("es", "México: periodistas en riesgo", "Los ataques aumentaron."),
        ]
    context.close()
