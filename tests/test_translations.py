"""Linked translations: the staff API, ``alerts publish --file``, the release page's
switcher, search over translations, and the versions emails are rendered from."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from alerts.cli.root import app
from alerts.core.db import make_engine
from alerts.core.models import Item, ItemStatus, ItemTranslation, NoticeKind, utcnow
from alerts.core.taxonomy import Taxonomy
from alerts.digests.email import render_digest
from alerts.digests.runs import ClaimedDigest
from alerts.items import translations
from alerts.mail.rendering import make_environment, render_item
from tests.conftest import Stack
from tests.newsroom_helpers import client_of, release
from tests.seed_emails import BASE_URL
from tests.test_api import Keys
from tests.test_cli import data_dir, runner
from tests.test_rendering import SENDER

__all__ = ["data_dir"]  # the fixture, shared with test_cli

SPANISH = {"title": "México: las familias esperan", "summary": "Un informe.", "body": "Hoy."}
ARABIC = {"title": "المكسيك: العائلات تنتظر", "summary": "تقرير.", "body": "اليوم."}


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def _item(stack: Stack, **fields: object) -> int:
    with stack.session() as session:
        words: dict[str, object] = {"title": "Mexico: families wait", "summary": "A report."}
        item_id = release(session, 0, **(words | fields))
        session.commit()
    return item_id


# --- the staff API -----------------------------------------------------------------


def test_translations_are_put_listed_shown_and_deleted(pipeline: Stack, web: TestClient) -> None:
    keys = Keys(pipeline)
    auth = keys.auth(keys.publisher)
    item_id = _item(pipeline)
    put = web.put(f"/api/items/{item_id}/translations/es", json=SPANISH, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json()["language"] == "es" and put.json()["title"] == SPANISH["title"]
    web.put(f"/api/items/{item_id}/translations/ar", json=ARABIC, headers=auth)
    listed = web.get(f"/api/items/{item_id}/translations", headers=auth).json()
    assert [t["language"] for t in listed] == ["ar", "es"]
    shown = web.get(f"/api/items/{item_id}", headers=auth).json()
    assert {t["language"]: t["title"] for t in shown["translations"]} == {
        "es": SPANISH["title"],
        "ar": ARABIC["title"],
    }
    # A PUT replaces the whole translation: a field left out is the original's again.
    again = web.put(f"/api/items/{item_id}/translations/es", json={"title": "Otro"}, headers=auth)
    assert again.json()["summary"] is None and again.json()["title"] == "Otro"
    assert web.delete(f"/api/items/{item_id}/translations/es", headers=auth).status_code == 204
    assert web.delete(f"/api/items/{item_id}/translations/es", headers=auth).status_code == 404
    listed = web.get(f"/api/items/{item_id}/translations", headers=auth).json()
    assert [t["language"] for t in listed] == ["ar"]


def test_bad_translations_are_refused_by_name(pipeline: Stack, web: TestClient) -> None:
    keys = Keys(pipeline)
    auth = keys.auth(keys.publisher)
    item_id = _item(pipeline)
    path = f"/api/items/{item_id}/translations"

    def loc(response_json: dict[str, object]) -> list[object]:
        detail = response_json["detail"]
        assert isinstance(detail, list)
        found: list[object] = detail[0]["loc"]
        return found

    misspelt = web.put(f"{path}/es", json=SPANISH | {"titel": "x"}, headers=auth)
    assert misspelt.status_code == 422 and "titel" in misspelt.text
    untitled = web.put(f"{path}/es", json={"summary": "x"}, headers=auth)
    assert untitled.status_code == 422 and loc(untitled.json()) == ["body", "title"]
    no_photo = web.put(f"{path}/es", json=SPANISH | {"image_alt": "Un muro"}, headers=auth)
    assert no_photo.status_code == 422 and loc(no_photo.json()) == ["body", "image_alt"]
    documents = web.put(
        f"{path}/es", json=SPANISH | {"document_titles": {"nosuchdocument": "x"}}, headers=auth
    )
    assert documents.status_code == 422 and loc(documents.json()) == ["body", "document_titles"]
    for bad in ("xx", "ES", "es_MX", "e", "a" * 16, "en"):  # "en": the original's own
        answer = web.put(f"{path}/{bad}", json=SPANISH, headers=auth)
        assert answer.status_code == 422, (bad, answer.text)
        assert loc(answer.json()) == ["path", "lang"], bad
    assert web.put("/api/items/999999/translations/es", json=SPANISH, headers=auth).status_code == (
        404
    )
    assert web.get("/api/items/999999/translations", headers=auth).status_code == 404
    assert web.delete("/api/items/999999/translations/es", headers=auth).status_code == 404
    with pipeline.session() as session:
        assert session.scalar(select(func.count()).select_from(ItemTranslation)) == 0
    # Created with the item, checked with it too.
    created = web.post(
        "/api/items",
        json={"title": "T", "translations": {"xx": {"title": "t"}}},
        headers=auth,
    )
    assert created.status_code == 422 and "xx" in created.text
    created = web.post(
        "/api/items",
        json={"title": "T", "translations": {"es": {"title": "t", "image_alt": "a"}}},
        headers=auth,
    )
    assert created.status_code == 422, created.text
    assert loc(created.json()) == ["body", "translations", "es", "image_alt"]
    ok = web.post("/api/items", json={"title": "T", "translations": {"es": SPANISH}}, headers=auth)
    assert ok.status_code == 201 and ok.json()["translations"][0]["language"] == "es"


# --- alerts publish --file --------------------------------------------------------------


def _counts(data_dir: Path) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        items = conn.execute(select(func.count()).select_from(Item)).scalar_one()
        rows = conn.execute(select(func.count()).select_from(ItemTranslation)).scalar_one()
    engine.dispose()
    return int(items), int(rows)


def _file(tmp_path: Path, items: list[dict[str, object]]) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"items": items}), encoding="utf-8")
    return path


def test_publish_file_with_translations(data_dir: Path, tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        [
            {
                "title": "Mexico: families wait",
                "countries": ["MX"],
                "translations": {"es": SPANISH, "ar": {"title": ARABIC["title"]}},
            }
        ],
    )
    result = runner.invoke(app, ["publish", "--file", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["items"][0]["translations"] == ["ar", "es"]
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        rows = {r.language: r for r in conn.execute(select(ItemTranslation)).all()}
    engine.dispose()
    assert rows["es"].body == "Hoy." and rows["ar"].body is None  # the original's body


@pytest.mark.parametrize(
    ("translations_given", "message"),
    [
        ({"xx": {"title": "t"}}, "'xx' is no known language"),
        ({"es": {"titel": "t"}}, "translations.es.titel"),
        ({"es": {"summary": "t"}}, "translations.es.title"),
        ({"es": {"title": "t", "image_alt": "a"}}, "image_alt: the item has no photo"),
        ({"es": "Hola"}, "translations.es"),
    ],
)
def test_publish_file_with_a_bad_translation_writes_nothing(
    data_dir: Path, tmp_path: Path, translations_given: object, message: str
) -> None:
    path = _file(
        tmp_path,
        [
            {"title": "Fine", "countries": ["MX"]},
            {"title": "Bad", "countries": ["MX"], "translations": translations_given},
        ],
    )
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert _counts(data_dir) == (0, 0)


# --- the release page and search -----------------------------------------------------------


def test_the_release_page_switches_between_its_languages(pipeline: Stack, web: TestClient) -> None:
    item_id = _item(pipeline, translations={"es": SPANISH, "ar": ARABIC})
    path = f"/news/{item_id}-mexico-families-wait"
    original = web.get(path)
    assert original.status_code == 200
    nav = re.search(r'<nav class="languages".*?</nav>', original.text, re.S)
    assert nav is not None
    assert f'href="{path}?lang=es"' in nav.group(0) and f'href="{path}?lang=ar"' in nav.group(0)
    assert ">Español</a>" in nav.group(0) and ">العربية</a>" in nav.group(0)
    assert '<strong lang="en" aria-current="page">English</strong>' in nav.group(0)
    assert "<h1>Mexico: families wait</h1>" in original.text

    spanish = web.get(f"{path}?lang=es")
    assert '<html lang="es"' in spanish.text
    assert f"<h1>{SPANISH['title']}</h1>" in spanish.text
    assert '<article lang="es">' in spanish.text and "Un informe." in spanish.text
    assert '<strong lang="es" aria-current="page">' in spanish.text

    arabic = web.get(f"{path}?lang=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert '<article lang="ar" dir="rtl">' in arabic.text
    assert f"<h1>{ARABIC['title']}</h1>" in arabic.text

    french = web.get(f"{path}?lang=fr")  # no French translation: the original, French frame
    assert '<html lang="fr">' in french.text and "<h1>Mexico: families wait</h1>" in french.text
    # The address stays the original's: the slug of a translation's title redirects.
    moved = web.get(f"/news/{item_id}?lang=es", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"].endswith(f"{path}?lang=es")
    # A release without translations has no switcher.
    plain = _item(pipeline)
    assert 'class="languages"' not in web.get(f"/news/{plain}", follow_redirects=True).text


def test_search_covers_translations_without_accents(pipeline: Stack, web: TestClient) -> None:
    translated = _item(pipeline, translations={"es": SPANISH | {"body": "Las caravanas llegan."}})
    _item(pipeline)  # the same English words, no translation
    found = web.get("/news?q=caravanas")
    assert found.status_code == 200
    assert f'href="/news/{translated}-' in found.text or f"/news/{translated}-" in found.text
    assert found.text.count("Mexico: families wait") == 1
    # "Mexico" finds the Spanish "México" too (FTS5's remove_diacritics; unaccent on PostgreSQL).
    accents = web.get("/news?q=familias+mexico")
    assert f"/news/{translated}-" in accents.text
    assert "Mexico: families wait" in accents.text
    nothing = web.get("/news?q=caravanas+nadie")
    assert f"/news/{translated}-" not in nothing.text
    if pipeline.name == "postgres":
        with pipeline.session() as session:
            assert session.scalar(text("SELECT alerts_fold('México')")) == "Mexico"


# --- what emails are rendered from ----------------------------------------------------------


def test_a_translation_put_after_a_render_is_rendered_next_time(pipeline: Stack) -> None:
    """The process's render cache is keyed by the words, not the item alone."""
    runtime = pipeline.app.runtime
    item_id = _item(pipeline)
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        assert runtime.rendered(item, "es").subject == "Mexico: families wait"
        translations.put(session, item, "es", translations.parse_fields(SPANISH))
        session.commit()
        assert runtime.rendered(item, "es").subject == SPANISH["title"]
        mexican = translations.version_for(session, item, "es-MX")  # its primary tag
        assert mexican is not None and mexican.title == SPANISH["title"]
        assert runtime.rendered(item, "en").subject == "Mexico: families wait"
        translations.remove(session, item, "es")
        session.commit()
        assert runtime.rendered(item, "es").subject == "Mexico: families wait"


def test_a_notice_takes_the_title_of_the_releases_translation(pipeline: Stack) -> None:
    item_id = _item(pipeline, translations={"es": SPANISH})
    with pipeline.session() as session:
        notice = Item(
            kind=NoticeKind.EMBARGO_LIFTED.value,
            title="Mexico: families wait",
            language="en",
            corrects_id=item_id,
            status=ItemStatus.PUBLISHED,
            published_at=utcnow(),
        )
        session.add(notice)
        session.flush()
        version = translations.version_for(session, notice, "es")
        assert version is not None and version.title == SPANISH["title"]
        assert version.body is None  # a notice's own (empty) words, only the title
        rendered = render_item(
            make_environment(None, "es"),
            notice,
            Taxonomy(),
            SENDER,
            BASE_URL,
            "es",
            version=version,
        )
        assert rendered.subject == f"Embargo levantado: {SPANISH['title']}"
        assert translations.version_for(session, notice, "fr") is None
        session.rollback()


def test_a_digest_lists_each_item_in_the_readers_language(pipeline: Stack) -> None:
    translated = _item(pipeline, translations={"es": SPANISH})
    with pipeline.session() as session:
        other = release(session, 1, title="Chile: a report", countries=["CL"])
        session.commit()
        items = list(session.scalars(select(Item).where(Item.id.in_([translated, other]))))
    versions = pipeline.app.runtime.versions(items, "es")  # detached items: a session of its own
    assert set(versions) == {translated}
    claimed = ClaimedDigest(
        digest_id=1,
        journalist_id=1,
        email="ana@example.es",
        name="Ana",
        language="es",
        timezone="UTC",
        cadence="daily",
        period=date(2026, 1, 6).isoformat(),
        attempts=0,
        created_at=utcnow(),
        items=items,
        countries=frozenset({"MX", "CL"}),
        topics=frozenset(),
        delivery_id=1,
    )
    digest = render_digest(
        make_environment(None, "es"), claimed, Taxonomy(), SENDER, BASE_URL, None, versions
    )
    text_part, _ = digest.bodies(  # the recipient's fields do not matter here
        pipeline.app.runtime.recipient(1, 1, "ana@example.es", "Ana")
    )
    assert SPANISH["title"] in text_part and "Chile: a report" in text_part
    assert "Mexico: families wait" not in text_part


def test_the_language_filter_lists_releases_translated_into_it(
    pipeline: Stack, web: TestClient
) -> None:
    translated = _item(pipeline, translations={"es": SPANISH})
    english_only = _item(pipeline)
    with pipeline.session() as session:
        written = release(session, 2, title="Perú: un informe", language="es")
        session.commit()
    listed = web.get("/news?language=es")
    assert listed.status_code == 200
    assert f'href="/news/{translated}-mexico-families-wait?lang=es"' in listed.text
    assert f'<h2><a href="/news/{translated}-mexico-families-wait?lang=es">' in listed.text
    assert SPANISH["title"] in listed.text and "Mexico: families wait" not in listed.text
    assert f"/news/{written}-" in listed.text and f"/news/{english_only}-" not in listed.text
    everything = web.get("/news").text
    assert f"/news/{english_only}-" in everything and "-wait?lang=es" not in everything
