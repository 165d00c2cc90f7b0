"""Linked translations through the real worker and SMTP sink: each journalist gets ONE email,
in their language when the item has it, else the original."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from alerts.core.models import ClickLink, Delivery, DeliveryStatus, Item, utcnow
from alerts.items import translations
from tests.arabic import ar, long_date
from tests.conftest import Stack
from tests.factories import journalist, published_item
from tests.test_api import Keys

SPANISH = {
    "title": "México: «temporada abierta» contra los solicitantes de asilo",
    "summary": "Un informe sobre la frontera.",
    "body": "Las familias esperan en la frontera.\n\nLea el [informe](https://ngo.example/es).",
}
ARABIC = {
    "title": "المكسيك: موسم مفتوح ضد طالبي اللجوء",
    "summary": "تقرير عن الحدود.",
    "body": "العائلات تنتظر على الحدود.",
}
# Persian joins some words with a zero-width non-joiner (kept apart for the linter).
ZWNJ = "\u200c"
PERSIAN = {"title": f"مکزیک: فصل شکار پناه{ZWNJ}جویان", "body": "مردم در مرز منتظرند."}
ORIGINAL = {
    "title": "Mexico: “Open season” on asylum seekers",
    "summary": "A report on the border.",
    "body": "Families wait at the border.\n\nRead the [report](https://ngo.example/en).",
    "countries": ["MX"],
    "topics": ["asylum"],
    "language": "en",
}
READERS = {
    "ana@example.es": "es",
    "tom@example.net": "en",
    "layla@example.ae": "ar",
    "marie@example.fr": "fr",
    "dara@example.ir": "fa",  # no Persian catalogue (nor in the setting): stored directly
}


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def _by_reader(stack: Stack) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for raw in stack.received():
        found.setdefault(raw.rcpt_tos[0], []).append(raw.parsed())
    return found


def _readers(stack: Stack, people: dict[str, str]) -> None:
    with stack.session() as session:
        for email, language in people.items():
            journalist(session, email, (["MX"], []), language=language)
        session.commit()


def _translate(stack: Stack, item_id: int, language: str, words: dict[str, str]) -> None:
    with stack.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        translations.put(session, item, language, translations.parse_fields(words))
        session.commit()


def test_each_reader_gets_one_email_in_their_language_or_the_original(pipeline: Stack) -> None:
    _readers(pipeline, READERS)
    with pipeline.session() as session:
        item_id = published_item(
            session, **ORIGINAL, translations={"es": SPANISH, "ar": ARABIC, "fa": PERSIAN}
        )
        session.commit()
        published = session.get(Item, item_id).published_at  # type: ignore[union-attr]
    pipeline.wait_for_item(item_id)
    mail = _by_reader(pipeline)
    assert Counter({k: len(v) for k, v in mail.items()}) == Counter(dict.fromkeys(READERS, 1))
    subjects = {reader: messages[0]["Subject"] for reader, messages in mail.items()}
    assert subjects == {
        "ana@example.es": SPANISH["title"],
        "layla@example.ae": ARABIC["title"],
        "tom@example.net": ORIGINAL["title"],
        "marie@example.fr": ORIGINAL["title"],  # no French translation: the original
        "dara@example.ir": PERSIAN["title"],
    }
    es_text, es_html = _parts(mail["ana@example.es"][0])
    assert "Las familias esperan" in es_text and "Families wait" not in es_text
    assert '<div lang="es">' in es_html and "Un informe sobre la frontera." in es_html
    assert "Hola," in es_text  # the frame in Spanish as before
    ar_text, ar_html = _parts(mail["layla@example.ae"][0])
    assert "العائلات تنتظر على الحدود." in ar_text and "Families wait" not in ar_text
    assert '<div lang="ar" dir="rtl">' in ar_html
    # An Arabic frame round the Arabic words: direction, labels, the date, the footer.
    assert re.search(r'<html lang="ar" dir="rtl"', ar_html)
    assert ar("Read this release on the web") in ar_html and "Read this release" not in ar_html
    assert published is not None
    assert ar("Published %(when)s") % {"when": long_date(published.date())} in ar_text
    assert f"{ar('Unsubscribe')}:" in ar_text  # the footer's link, labelled in Arabic
    fa_text, fa_html = _parts(mail["dara@example.ir"][0])
    assert "مردم در مرز منتظرند." in fa_text
    # Persian words, right to left, in an English frame that says it is English.
    assert '<div lang="fa" dir="rtl">' in fa_html
    assert re.search(r'<html lang="en" dir="ltr"', fa_html)
    assert "Read this release on the web" in fa_html
    fr_text, fr_html = _parts(mail["marie@example.fr"][0])
    assert "Families wait at the border." in fr_text and '<div lang="en">' in fr_html
    assert "Lire ce communiqué sur le web" in fr_html  # a French frame round the original
    en_text, _ = _parts(mail["tom@example.net"][0])
    assert "Families wait at the border." in en_text and "familias" not in en_text
    # The links each email carries, by the key its click tokens name: the translations'
    # apart from the originals', the web version in the reader's language.
    with pipeline.session() as session:
        links: dict[str, list[str]] = {}
        for row in session.scalars(select(ClickLink).where(ClickLink.item_id == item_id)):
            links.setdefault(row.language, []).append(row.url)
    keys = sorted(links)
    assert sorted(k.split("-")[0] for k in keys) == ["ar", "en", "es", "fa", "fr"]
    assert "en" in keys and "fr" in keys
    spanish_key = next(k for k in keys if k.startswith("es-t"))
    arabic_key = next(k for k in keys if k.startswith("ar-t"))
    assert "https://ngo.example/es" in links[spanish_key]
    assert "https://ngo.example/es" not in links["en"]
    assert any(url.endswith(f"/news/{item_id}?lang=es") for url in links[spanish_key])
    assert any(url.endswith(f"/news/{item_id}?lang=ar") for url in links[arabic_key])
    assert any(url.endswith(f"/news/{item_id}?lang=fr") for url in links["fr"])
    token_keys = {
        m.group(1)
        for reader in ("ana@example.es", "layla@example.ae")
        for m in re.finditer(r"/c/\d+\.([a-z0-9-]+)\.\d+\.", _parts(mail[reader][0])[0])
    }
    assert token_keys == {spanish_key, arabic_key}


def test_a_translation_added_after_publishing_reaches_only_those_not_sent_yet(
    pipeline: Stack,
) -> None:
    _readers(
        pipeline,
        {"early@example.es": "es", "late@example.es": "es", "tom@example.net": "en"},
    )
    # The relay turns one Spanish reader away for now: their delivery stays pending.
    pipeline.sink.rcpt_replies["late@example.es"] = "451 4.7.1 Try again later"
    with pipeline.session() as session:
        item_id = published_item(session, **ORIGINAL)
        session.commit()

    def late_tried() -> bool:
        with pipeline.session() as session:
            late = session.scalars(
                select(Delivery).where(
                    Delivery.item_id == item_id, Delivery.status == DeliveryStatus.PENDING
                )
            ).all()
            return len(pipeline.received()) == 2 and len(late) == 1 and late[0].attempts == 1

    pipeline.wait_until(late_tried, what="the early readers sent, the late one deferred")
    # The Spanish translation arrives now; the worker has the original rendered in Spanish.
    _translate(pipeline, item_id, "es", SPANISH)
    pipeline.sink.rcpt_replies.clear()
    with pipeline.session() as session:
        pending = session.scalars(
            update(Delivery)
            .where(Delivery.item_id == item_id, Delivery.status == DeliveryStatus.PENDING)
            .values(next_attempt_at=utcnow())  # its retry comes due
            .returning(Delivery.id)
        ).all()
        session.commit()
    pipeline.app.enqueue_batches(list(pending))
    pipeline.wait_for_item(item_id)
    mail = _by_reader(pipeline)
    assert {k: len(v) for k, v in mail.items()} == {
        "early@example.es": 1,
        "late@example.es": 1,
        "tom@example.net": 1,
    }
    assert mail["early@example.es"][0]["Subject"] == ORIGINAL["title"]
    assert mail["late@example.es"][0]["Subject"] == SPANISH["title"]
    assert "Las familias esperan" in _parts(mail["late@example.es"][0])[0]
    assert mail["tom@example.net"][0]["Subject"] == ORIGINAL["title"]
    with pipeline.session() as session:
        statuses = Counter(
            session.scalars(select(Delivery.status).where(Delivery.item_id == item_id))
        )
    assert statuses == Counter({DeliveryStatus.SENT: 3})  # no delivery was added


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    from alerts.web import create_app

    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


def test_a_correction_follows_the_readers_language(pipeline: Stack, api: TestClient) -> None:
    _readers(pipeline, {"ana@example.es": "es", "tom@example.net": "en"})
    keys = Keys(pipeline)
    with pipeline.session() as session:
        item_id = published_item(session, **ORIGINAL, translations={"es": SPANISH})
        session.commit()
    pipeline.wait_for_item(item_id)
    originals = {
        reader: messages[0]["Message-ID"] for reader, messages in _by_reader(pipeline).items()
    }
    pipeline.sink.clear()
    response = api.post(
        f"/api/items/{item_id}/correct",
        json={
            "title": "Correction: the border report",
            "body": "The report's date was wrong.",
            "translations": {
                "es": {"title": "Corrección: el informe", "body": "La fecha estaba mal."}
            },
        },
        headers=keys.auth(keys.publisher),
    )
    assert response.status_code == 201, response.text
    correction = response.json()
    assert [t["language"] for t in correction["translations"]] == ["es"]
    pipeline.wait_for_item(correction["id"])
    mail = _by_reader(pipeline)
    assert {k: len(v) for k, v in mail.items()} == {"ana@example.es": 1, "tom@example.net": 1}
    spanish, english = mail["ana@example.es"][0], mail["tom@example.net"][0]
    assert spanish["Subject"] == "Corrección: el informe"
    assert "La fecha estaba mal." in _parts(spanish)[0]
    assert english["Subject"] == "Correction: the border report"
    assert "The report's date was wrong." in _parts(english)[0]
    # Threaded under the original each of them received.
    assert spanish["In-Reply-To"] == originals["ana@example.es"]
    assert parseaddr(english["To"])[1] == "tom@example.net"
