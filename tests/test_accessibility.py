"""axe-core in real headless Chromium on every public page and the staff compose page,
in English, Spanish and Arabic (right to left, with left-to-right releases inside) and
with a right-to-left release: no serious or critical violation.

axe is vendored under tests/vendor/axe-core (MPL-2.0) and injected by Playwright.
The context bypasses the pages' Content-Security-Policy for that injection only:
the pages themselves are served with their usual headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from alerts.core.models import utcnow
from alerts.core.tokens import Purpose
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.factories import journalist
from tests.newsroom_helpers import release
from tests.test_browser import CHROMIUM, FLAGS

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def _audit(page: Page, url: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return _audit_as_is(page, url)


def _audit_as_is(page: Page, where: str) -> list[str]:
    """The page as it is now (after staff did something on it)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(RUN)
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def test_no_serious_accessibility_violation(
    pipeline: Stack, live_server: str, browser: Browser
) -> None:
    signer = pipeline.app.runtime.signer
    with pipeline.session() as session:
        english = release(
            session,
            0,
            title="Mexico: asylum seekers held at the border",
            summary="Families wait for months.",
            body="Officials **detained** hundreds.\n\n- One\n- Two",
            countries=["MX"],
            topics=["asylum"],
            # Linked translations: the page's language switcher, and Arabic words on it.
            translations={
                "es": {"title": "México: solicitantes de asilo retenidos en la frontera"},
                "ar": {"title": "المكسيك: احتجاز طالبي اللجوء على الحدود"},
            },
        )
        arabic = release(
            session,
            1,
            title="سوريا: يجب الإفراج عن المعتقلين",
            summary="عائلات تنتظر أخبار ذويها.",
            body="قالت المنظمة إن السلطات يجب أن تفرج عن المعتقلين.",
            language="ar",
            countries=["SY"],
        )
        readers = {
            lang: journalist(session, f"reader-{lang}@example.net", (["MX"], []), language=lang)
            # Arabic: a catalogue, so its pages are Arabic and right to left throughout.
            for lang in ("en", "es", "ar")
        }
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
        ids = {lang: person.id for lang, person in readers.items()}

    context = browser.new_context(bypass_csp=True, locale="en-GB")
    page = context.new_page()
    # The control: axe runs, and finds what it must (an image with no text alternative).
    page.set_content('<!doctype html><html lang="en"><body><main><img src="x.png"></main>')
    page.add_script_tag(path=str(AXE))
    assert "image-alt" in [v["id"] for v in page.evaluate(RUN) if v["impact"] in BLOCKING]
    problems: list[str] = []
    for lang in ("en", "es", "ar"):
        person = ids[lang]
        for url in (
            f"/news?lang={lang}",
            f"/news?lang={lang}&country=MX&topic=asylum",
            f"/news/{english}?lang={lang}",
            f"/subscribe?lang={lang}&countries=MX",
            f"/preferences/{signer.sign(Purpose.PREFERENCES, person)}",
            f"/confirm/{signer.sign(Purpose.CONFIRM, person)}",
            f"/u/{signer.sign(Purpose.UNSUBSCRIBE, person)}",
        ):
            problems += _audit(page, live_server + url)
            # Each page is in the reader's language: for Arabic, right to left.
            direction = "rtl" if lang == "ar" else "ltr"
            assert page.locator("html").get_attribute("lang") == lang, url
            assert (page.locator("html").get_attribute("dir") or "ltr") == direction, url
    # Right to left: the Arabic release in the list and on its own page.
    for url in ("/news", f"/news/{arabic}", f"/news/{english}?lang=ar"):
        problems += _audit(page, live_server + url)
    assert page.locator("article[dir=rtl]").count() == 1
    assert page.locator("html[dir=rtl]").count() == 1  # the Arabic translation's page
    assert page.locator("html[lang=ar]").count() == 1  # in the Arabic frame now

    page.goto(f"{live_server}/staff")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Compose a new item").click()
    page.wait_for_load_state()
    problems += _audit(page, page.url)
    # With a right-to-left language's tab added, typed in and previewed.
    page.get_by_role("textbox", name="Title", exact=True).fill("Mexico: reporters at risk")
    page.get_by_label("Add a translation").select_option(label="العربية")
    page.get_by_role("button", name="Add", exact=True).click()
    panel = page.get_by_role("tabpanel")
    panel.get_by_label("Title").fill("المكسيك: صحفيون في خطر")
    expect(panel.locator("iframe[dir=rtl]")).to_be_visible(timeout=10_000)
    assert page.get_by_role("tab", name="العربية").get_attribute("aria-selected") == "true"
    problems += _audit_as_is(page, page.url + " (Arabic tab)")
    # An item's page: a form and a preview per translation.
    problems += _audit(page, f"{live_server}/staff/items/{english}")
    problems += _audit(page, f"{live_server}/staff/items/{english}/translations")
    context.close()
    assert problems == [], "\n".join(problems)
