"""French and Arabic for the frame of emails and pages; right-to-left releases and frames
marked as such, and left-to-right words inside an Arabic frame too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from fastapi.testclient import TestClient

from alerts.core.i18n import LANGUAGES, direction, negotiate, translations
from alerts.core.taxonomy import Taxonomy
from alerts.mail.rendering import build_message, make_environment, render_item
from tests.arabic import ar, long_date
from tests.conftest import Stack
from tests.newsroom_helpers import client_of, release
from tests.seed_emails import BASE_URL, PUBLISHED, seed_item, signed_recipient
from tests.test_rendering import SENDER


def test_french_is_offered_and_negotiated() -> None:
    assert LANGUAGES["fr"] == "Français"
    assert negotiate("fr-CA,fr;q=0.9,en;q=0.5") == "fr"
    assert translations("fr").gettext("Subscribe") == "S\u2019abonner"
    plural = translations("fr").ngettext("%(num)s release", "%(num)s releases", 0)
    assert plural == "%(num)s communiqué"  # French counts zero as singular


def test_arabic_is_offered_and_negotiated_with_its_six_plural_forms() -> None:
    assert LANGUAGES["ar"] == "العربية"
    assert negotiate("ar-SA,ar;q=0.9,en;q=0.5") == "ar"
    assert translations("ar").gettext("Subscribe") == ar("Subscribe") != "Subscribe"
    # CLDR's Arabic rule: zero, one, two, few (3-10), many (11-99), other (100-102, ...).
    for count, form in ((0, 0), (1, 1), (2, 2), (3, 3), (10, 3), (11, 4), (99, 4), (100, 5)):
        plural = translations("ar").ngettext("%(num)s release", "%(num)s releases", count)
        assert plural == ar("%(num)s release", form), count


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("ar", "rtl"),
        ("fa-IR", "rtl"),
        ("he_IL", "rtl"),
        ("HE", "rtl"),
        ("en", "ltr"),
        ("fr", "ltr"),
        ("arn", "ltr"),
        ("", "ltr"),
    ],
)
def test_direction_follows_the_language_tag(tag: str, expected: str) -> None:
    assert direction(tag) == expected


def _render(language: str, item_language: str) -> str:
    item = seed_item(0)
    item.language = item_language
    env = make_environment(None, language)
    rendered = render_item(env, item, Taxonomy(), SENDER, BASE_URL, language)
    wire = build_message(rendered, signed_recipient(1, "Ana", 1), SENDER)
    message = BytesParser(policy=policy.default).parsebytes(wire)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("html",))
    assert part is not None
    html: str = part.get_content()
    return html


def test_an_email_in_french_has_a_french_frame() -> None:
    html = _render("fr", "en")
    assert re.search(r'<html lang="fr" dir="ltr"', html)
    assert "Lire ce communiqué sur le web" in html
    assert "Read this release on the web" not in html


@pytest.mark.parametrize("item_language", ["ar", "fa", "he"])
def test_a_right_to_left_release_reads_right_to_left_in_its_email(item_language: str) -> None:
    html = _render("en", item_language)
    assert f'<div lang="{item_language}" dir="rtl">' in html
    # The frame stays in the reader's language and direction.
    assert re.search(r'<html lang="en" dir="ltr"', html)
    assert 'dir="rtl"' not in _render("en", "es")


def test_an_email_in_arabic_has_an_arabic_frame_right_to_left() -> None:
    html = _render("ar", "en")  # an English release, for a reader of Arabic
    assert re.search(r'<html lang="ar" dir="rtl"', html)
    # Said again on the outer table: Gmail and others drop <html>'s attributes.
    assert re.search(r'<table class="outer"[^>]* dir="rtl"', html)  # as css_inline writes it
    assert ar("Read this release on the web") in html
    assert "Read this release on the web" not in html
    assert ar("Published %(when)s") % {"when": long_date(PUBLISHED.date())} in html
    # Lists and the date's time are set off by the Arabic comma.
    countries = "المكسيك\u060c الولايات المتّحدة"
    assert ar("Countries: %(list)s") % {"list": countries} in html
    assert f"{long_date(PUBLISHED.date())}\u060c 09:30 UTC" in html
    # The English words stay left to right inside the Arabic frame.
    assert '<div lang="en" dir="ltr">' in html
    # And the Arabic words of an Arabic release are right to left, like their frame.
    assert '<div lang="ar" dir="rtl">' in _render("ar", "ar")


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def test_pages_in_french_and_a_release_in_arabic(web: TestClient, pipeline: Stack) -> None:
    with pipeline.session() as session:
        arabic = release(
            session,
            0,
            title="سوريا: يجب الإفراج عن المعتقلين",
            summary="عائلات تنتظر.",
            language="ar",
            countries=["SY"],
        )
        english = release(session, 1, title="Chile: a report", countries=["CL"])
        session.commit()
    news = web.get("/news?lang=fr")
    assert news.status_code == 200
    assert '<html lang="fr">' in news.text and "Salle de presse" in news.text
    assert '<li lang="ar" dir="rtl">' in news.text and '<li lang="en">' in news.text
    page = web.get(f"/news/{arabic}", follow_redirects=True)
    assert page.status_code == 200
    assert '<article lang="ar" dir="rtl">' in page.text
    plain = web.get(f"/news/{english}", follow_redirects=True).text
    assert '<article lang="en">' in plain and 'dir="rtl"' not in plain
    form = web.get("/subscribe", headers={"Accept-Language": "fr"})
    assert '<html lang="fr">' in form.text and "S\u2019abonner aux alertes presse" in form.text
    assert re.search(r'<option value="fr"[^>]*>Français</option>', form.text)


def test_pages_in_arabic_read_right_to_left(web: TestClient, pipeline: Stack) -> None:
    with pipeline.session() as session:
        english = release(session, 0, title="Chile: a report", countries=["CL", "SY", "IR"])
        session.commit()
    news = web.get("/news?lang=ar")
    assert news.status_code == 200
    assert '<html lang="ar" dir="rtl">' in news.text
    assert ar("Newsroom") in news.text and ar("Search releases") in news.text
    assert ">Newsroom<" not in news.text
    # An English release in the Arabic list, and on its page, stays left to right.
    assert '<li lang="en" dir="ltr">' in news.text
    assert '<p class="meta" lang="ar" dir="rtl">' in news.text  # its Arabic labels: rtl
    # Country names in Arabic too, the common ones included ("Syria", "Iran").
    assert "تشيلي" in news.text and "سوريا" in news.text and "إيران" in news.text
    assert "Syria" not in news.text and "Iran" not in news.text
    page = web.get(f"/news/{english}?lang=ar", follow_redirects=True)
    assert '<html lang="ar" dir="rtl">' in page.text
    assert '<article lang="en" dir="ltr">' in page.text
    # The browser's Accept-Language now picks the Arabic frame; the others are offered.
    form = web.get("/subscribe", headers={"Accept-Language": "ar-EG,ar;q=0.9"})
    assert '<html lang="ar" dir="rtl">' in form.text
    assert ar("Subscribe to press alerts") in form.text
    assert '<a href="?lang=en" lang="en" hreflang="en">English</a>' in form.text
    # Persian has no catalogue: English labels, whatever the browser asks.
    persian = web.get("/subscribe", headers={"Accept-Language": "fa-IR,fa;q=0.9"})
    assert '<html lang="en">' in persian.text and "Subscribe to press alerts" in persian.text
