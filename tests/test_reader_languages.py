"""Readers' languages (ALERTS_READER_LANGUAGES): an Arabic-speaking journalist signs up,
is imported, changes language, and gets items in Arabic in an Arabic frame, right to
left; a reader of Persian, which has no catalogue, gets the Persian words right to left
in an email whose labels are English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.cli.root import app
from alerts.core.models import Delivery, Item, Journalist, utcnow
from alerts.core.reader_languages import own_names, parse
from alerts.core.settings import SettingsError, load_settings
from alerts.core.taxonomy import Taxonomy
from alerts.core.tokens import Purpose
from alerts.digests.email import render_digest
from alerts.digests.runs import ClaimedDigest
from alerts.mail.rendering import make_environment
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.arabic import ar, long_date
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.seed_emails import BASE_URL
from tests.test_cli import data_dir, runner  # noqa: F401  (fixture)
from tests.test_journalist_csv import Api, _problems, api  # noqa: F401  (fixture)
from tests.test_rendering import SENDER
from tests.webclient import csrf, h1, link, path, subscribe, wait_for_mail

ARABIC = {
    "title": "المكسيك: موسم مفتوح ضد طالبي اللجوء",
    "summary": "تقرير عن الحدود.",
    "body": "العائلات تنتظر على الحدود.",
}
# Persian joins some words with a zero-width non-joiner (kept apart for the linter).
ZWNJ = "\u200c"
PERSIAN = {
    "title": f"مکزیک: فصل شکار پناه{ZWNJ}جویان",
    "summary": "گزارشی از مرز.",
    "body": "مردم در مرز منتظرند.",
}


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    limits = SignUpLimits("memory://", "3/hour", "30/minute")
    with TestClient(
        create_app(pipeline.app, limits), base_url=pipeline.settings.base_url
    ) as client:
        yield client


def _language_options(html: str) -> dict[str, str]:
    select_ = re.search(r'<select id="language".*?</select>', html, re.S)
    assert select_, "no language select"
    option = r'<option value="([^"]+)" lang="[^"]+"[^>]*>([^<]+)</option>'
    return dict(re.findall(option, select_[0]))


def test_an_arabic_reader_signs_up_confirms_and_gets_the_arabic_version(
    pipeline: Stack, web: TestClient
) -> None:
    form = web.get("/subscribe")
    options = _language_options(form.text)
    assert options["ar"] == "العربية"  # its own name, and no * : it has Arabic labels
    assert options["es"] == "Español"
    assert '<option value="ar" lang="ar" dir="rtl"' in form.text

    page = subscribe(web, "layla@example.ae", language="ar", countries=["MX"])
    assert h1(page) == ar("Check your inbox")  # the Arabic catalogue's labels
    assert '<html lang="ar" dir="rtl">' in page
    [confirmation] = wait_for_mail(pipeline, "layla@example.ae")
    assert confirmation["Subject"] == ar("Confirm your subscription to press alerts")
    confirmation_html = confirmation.get_body(("html",))
    assert confirmation_html is not None
    confirmation_words = str(confirmation_html.get_content())
    assert re.search(r'<html lang="ar" dir="rtl"', confirmation_words)
    assert f">{ar('Confirm your subscription')}</h1>" in confirmation_words  # h1 styled inline
    confirm_url = link(confirmation, "confirm")
    shown = web.get(path(confirm_url))
    assert shown.status_code == 200 and '<html lang="ar" dir="rtl">' in shown.text
    done = web.post(path(confirm_url), data={"csrf_token": csrf(shown.text)})
    assert done.status_code == 200
    with pipeline.session() as session:
        person = session.scalars(
            select(Journalist).where(Journalist.email == "layla@example.ae")
        ).one()
        assert (person.language, person.status) == ("ar", "active")

    with pipeline.session() as session:
        item_id = published_item(
            session,
            title="Mexico: “Open season” on asylum seekers",
            body="Families wait at the border.",
            countries=["MX"],
            language="en",
            translations={"ar": ARABIC},
        )
        session.commit()
        published = session.get(Item, item_id).published_at  # type: ignore[union-attr]
    pipeline.wait_for_item(item_id)
    _, alert = wait_for_mail(pipeline, "layla@example.ae", count=2)
    assert alert["Subject"] == ARABIC["title"]
    html = alert.get_body(("html",))
    text = alert.get_body(("plain",))
    assert html is not None and text is not None
    # The words in Arabic, right to left, in an Arabic frame: labels, date, footer.
    assert '<div lang="ar" dir="rtl">' in str(html.get_content())
    assert re.search(r'<html lang="ar" dir="rtl"', str(html.get_content()))
    assert ar("Read this release on the web") in str(html.get_content())
    assert "Read this release on the web" not in str(html.get_content())
    assert published is not None
    when = ar("Published %(when)s") % {"when": long_date(published.date())}
    assert when in str(text.get_content())
    assert ar("Manage your preferences") in str(text.get_content())
    assert "العائلات تنتظر على الحدود." in str(text.get_content())
    assert "Families wait" not in str(text.get_content())
    with pipeline.session() as session:
        sent = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.item_id == item_id)
        )
    assert sent == 1  # one delivery per journalist per item
    assert len(wait_for_mail(pipeline, "layla@example.ae", count=2)) == 2


def test_a_persian_reader_gets_persian_words_in_an_english_frame(pipeline: Stack) -> None:
    # No Persian catalogue: the words in Persian, right to left, inside English labels
    # that say they are English. (Stored directly: the setting need not list ``fa``.)
    with pipeline.session() as session:
        journalist(session, "dara@example.ir", (["MX"], []), language="fa")
        item_id = published_item(
            session,
            title="Mexico: a report",
            body="Families wait at the border.",
            countries=["MX"],
            translations={"fa": PERSIAN},
        )
        session.commit()
    pipeline.wait_for_item(item_id)
    [alert] = wait_for_mail(pipeline, "dara@example.ir")
    assert alert["Subject"] == PERSIAN["title"]
    html = alert.get_body(("html",))
    assert html is not None
    words = str(html.get_content())
    assert '<div lang="fa" dir="rtl">' in words
    assert re.search(r'<html lang="en" dir="ltr"', words)
    outer = re.search(r'<table class="outer"[^>]*>', words)
    assert outer and "dir=" not in outer[0]  # the frame's direction is inherited: ltr
    assert "Read this release on the web" in words


def test_a_language_outside_the_setting_is_refused_at_sign_up(
    pipeline: Stack, web: TestClient
) -> None:
    form = web.get("/subscribe")
    response = web.post(
        "/subscribe",
        data={
            "email": "zz@example.net",
            "language": "fa",  # Babel knows it, the setting does not list it
            "cadence": "immediate",
            "csrf_token": csrf(form.text),
        },
    )
    assert response.status_code == 422
    assert "Choose a language from the list." in response.text
    with pipeline.session() as session:
        stored = session.scalar(select(Journalist).where(Journalist.email == "zz@example.net"))
    assert stored is None


def test_the_preferences_page_changes_the_language_to_arabic(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        person = journalist(session, "omar@example.net", (["MX"], []), language="en")
        session.commit()
        person_id = person.id
    url = path(pipeline.app.runtime.link(Purpose.PREFERENCES, person_id))
    page = web.get(url)
    assert page.status_code == 200
    assert "ar" in _language_options(page.text)
    saved = web.post(
        f"{url}/profile",
        data={"name": "Omar", "outlet": "", "language": "ar", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with pipeline.session() as session:
        assert session.get(Journalist, person_id).language == "ar"  # type: ignore[union-attr]
    page = web.get(url)
    # Arabic labels now, right to left, with Arabic chosen in the select.
    assert '<html lang="ar" dir="rtl">' in page.text
    assert f"<h1>{ar('Your preferences')}</h1>" in page.text
    assert '<option value="ar" lang="ar" dir="rtl" selected>' in page.text
    refused = web.post(
        f"{url}/profile",
        data={"name": "Omar", "language": "xx", "csrf_token": csrf(page.text)},
    )
    assert refused.status_code == 422
    with pipeline.session() as session:
        assert session.get(Journalist, person_id).language == "ar"  # type: ignore[union-attr]


def test_csv_import_takes_a_reader_language_and_refuses_an_unknown_one(
    api: Api,  # noqa: F811
) -> None:
    head = "email,name,outlet,countries,topics,cadence,language,timezone\n"
    status, payload = api.post(head + "layla@example.ae,Layla,,MX,,,ar,Asia/Dubai\n")
    assert status == 200, payload
    with api.sessions() as session:
        assert session.scalar(select(Journalist.language)) == "ar"
    status, payload = api.post(
        head + "new@example.net,New,,MX,,,es,UTC\n" + "bad@example.net,Bad,,MX,,,xx,UTC\n"
    )
    assert status == 422, payload
    [problem] = _problems(payload)
    assert (problem["line"], problem["column"]) == (3, "language")
    assert "unknown language 'xx' (one of en, es, fr, ar)" in str(problem["message"])
    assert api.count(Journalist) == 1  # nothing stored
    export = api.client.get("/api/journalists/export", headers=api.auth)
    [row] = [line for line in export.text.splitlines() if line.startswith("layla@")]
    assert row.endswith(",ar,Asia/Dubai")


@pytest.mark.parametrize("value", ["ar,xx", "ar;fa", "en,zz-ZZ", "arabic"])
def test_a_bad_reader_language_refuses_to_start(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="reader_languages"):
        load_settings(data_dir=str(tmp_path), reader_languages=value)


def test_the_catalogue_languages_are_always_offered(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path), reader_languages="he,fa")
    assert settings.reader_language_list == ("en", "es", "fr", "ar", "he", "fa")
    assert parse("") == ("en", "es", "fr", "ar")
    assert own_names(["he", "fa", "pt-BR"]) == {
        "he": "עברית",
        "fa": "فارسی",
        "pt-BR": "Português (Brasil)",
    }


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_a_digest_for_a_right_to_left_reader(pipeline: Stack, language: str) -> None:
    """Arabic: Arabic words in an Arabic frame; Persian: its words in an English one."""
    words = {"ar": ARABIC, "fa": PERSIAN}[language]
    with pipeline.session() as session:
        item_id = published_item(
            session, title="Mexico: a report", countries=["MX"], translations={language: words}
        )
        session.commit()
        items = list(session.scalars(select(Item).where(Item.id == item_id)))
    versions = pipeline.app.runtime.versions(items, language)
    claimed = ClaimedDigest(
        digest_id=1,
        journalist_id=1,
        email="layla@example.ae",
        name="Layla",
        language=language,
        timezone="UTC",
        cadence="daily",
        period=date(2026, 1, 6).isoformat(),
        attempts=0,
        created_at=utcnow(),
        items=items,
        countries=frozenset({"MX"}),
        topics=frozenset(),
        delivery_id=1,
    )
    digest = render_digest(
        make_environment(None, language), claimed, Taxonomy(), SENDER, BASE_URL, None, versions
    )
    text_part, html_part = digest.bodies(
        pipeline.app.runtime.recipient(1, 1, "layla@example.ae", "Layla")
    )
    assert words["title"] in text_part and "Mexico: a report" not in text_part
    # As css_inline writes it: attributes in its order.
    assert f'<div class="digest-item" dir="rtl" lang="{language}"' in html_part
    if language == "ar":
        assert re.search(r'<html lang="ar" dir="rtl"', html_part)
        day = long_date(date(2026, 1, 6))
        one = ar("Your daily press digest, %(date)s: %(count)d item", 1)
        assert digest.subject == one % {"date": day, "count": 1}  # Arabic dates and labels
        assert ar("Stop this digest") in text_part
    else:
        assert re.search(r'<html lang="en" dir="ltr"', html_part)
        assert "January 6, 2026" in digest.subject  # English dates, like the labels


def test_the_cli_import_takes_the_languages_the_setting_lists(
    data_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "he.csv"
    path.write_text(
        "email,name,outlet,countries,topics,cadence,language\nnoa@x.example,Noa,,MX,,,he\n"
    )
    refused = runner.invoke(app, ["journalists", "import", str(path)])
    assert refused.exit_code == 2
    assert "unknown language 'he' (one of en, es, fr, ar)" in " ".join(refused.output.split())
    monkeypatch.setenv("ALERTS_READER_LANGUAGES", "he")
    taken = runner.invoke(app, ["journalists", "import", str(path)])
    assert taken.exit_code == 0, taken.output
    assert "1 journalist(s) added" in taken.output
