"""What a choice would have sent recently: GET /news/matching and the lists the subscribe
and preferences pages render on the server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from alerts.core.models import utcnow
from alerts.core.tokens import Purpose
from alerts.items.embargoes import embargo
from alerts.items.lifecycle import publish_item, schedule
from tests.conftest import Stack
from tests.factories import journalist
from tests.newsroom_helpers import client_of, draft

SECRET = "Zanzibar: Quillwort embargoed finding"
SCHEDULED = "Zanzibar: Quillwort scheduled finding"
DRAFT = "Zanzibar: Quillwort draft finding"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


def _published(pipeline: Stack, releases: list[tuple[str, int, list[str], list[str]]]) -> None:
    """(title, days ago, countries, topics) each, published that long ago."""
    now = utcnow()
    with pipeline.session() as session:
        for title, days, countries, topics in releases:
            item = draft(session, title=title, countries=countries, topics=topics)
            publish_item(session, item, now - timedelta(days=days, minutes=1))
        session.commit()


def _titles(web: TestClient, query: str) -> list[str]:
    response = web.get(f"/news/matching?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"].startswith("public")
    return [entry["title"] for entry in response.json()["items"]]


@pytest.fixture
def desk(pipeline: Stack) -> None:
    _published(
        pipeline,
        [
            ("Mexico asylum 1", 1, ["MX"], ["asylum"]),
            ("Chile torture", 2, ["CL"], ["torture"]),
            ("Mexico torture", 3, ["MX"], ["torture"]),
            ("France asylum", 4, ["FR"], ["asylum"]),
            ("Mexico asylum 5", 5, ["MX"], ["asylum"]),
            ("Mexico asylum 6", 6, ["MX"], ["asylum"]),
            ("Mexico asylum 7", 7, ["MX"], ["asylum"]),
            ("Mexico asylum 8", 8, ["MX"], ["asylum"]),
            ("Mexico asylum 9", 9, ["MX"], ["asylum"]),
            ("Mexico asylum, last month", 31, ["MX"], ["asylum"]),  # older than 30 days
        ],
    )


@pytest.mark.usefixtures("desk")
def test_matching_follows_the_subscription_rule(web: TestClient) -> None:
    # Newest first, at most five, nothing older than 30 days.
    assert _titles(web, "country=MX&topic=asylum") == [
        "Mexico asylum 1",
        "Mexico asylum 5",
        "Mexico asylum 6",
        "Mexico asylum 7",
        "Mexico asylum 8",
    ]
    assert _titles(web, "country=CL") == ["Chile torture"]
    # Several values of one kind are alternatives; a region counts as its countries,
    # and a country or a region will do (as for a subscription).
    assert _titles(web, "topic=torture") == ["Chile torture", "Mexico torture"]
    assert _titles(web, "region=americas&country=FR&topic=torture") == [
        "Chile torture",
        "Mexico torture",
    ]
    assert _titles(web, "country=FR&country=CL") == ["Chile torture", "France asylum"]
    assert _titles(web, "country=cl") == ["Chile torture"]  # codes as people type them
    assert _titles(web, "country=US") == []
    # Nothing chosen: nothing listed (not the whole newsroom).
    assert _titles(web, "") == []


@pytest.mark.usefixtures("desk")
def test_matching_speaks_the_readers_language(web: TestClient) -> None:
    [entry] = web.get("/news/matching?country=CL&lang=es").json()["items"]
    assert re.fullmatch(r"\d+ de \w+ de \d{4}, \d\d:\d\d UTC", entry["published"])
    assert re.search(r"/news/\d+-chile-torture$", entry["href"])
    assert (entry["language"], entry["dir"]) == ("en", "ltr")


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("country=XX", "XX"),
        ("country=MX&region=atlantis", "atlantis"),
        ("topic=knitting", "knitting"),
        ("country=" + "Q" * 500, "Q" * 40),
        ("&".join(f"country={code}" for code in ["MX"] * 21), "20"),
    ],
)
def test_unknown_codes_are_a_clear_400(web: TestClient, query: str, said: str) -> None:
    response = web.get(f"/news/matching?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert said in error and len(error) < 200


def test_unknown_codes_in_spanish(web: TestClient) -> None:
    response = web.get("/news/matching?topic=knitting&lang=es")
    assert response.status_code == 400
    assert response.json()["error"] == "No existe ningún tema llamado «knitting»."


def test_hidden_items_never_match(pipeline: Stack, web: TestClient) -> None:
    """An embargoed, a scheduled and a draft item that match the choice: not there, and not
    pushing any visible release off the list either."""
    _published(pipeline, [("Zanzibar visible", 2, ["TZ"], ["asylum"])])
    now = utcnow()
    hidden = {"countries": ["TZ"], "topics": ["asylum"]}
    with pipeline.session() as session:
        embargo(session, draft(session, title=SECRET, **hidden), now + timedelta(hours=6), now)
        schedule(draft(session, title=SCHEDULED, **hidden), now + timedelta(hours=6), now)
        draft(session, title=DRAFT, **hidden)
        person = journalist(session, "zara@paper.example", (["TZ"], ["asylum"]))
        session.commit()
        person_id = person.id
    for query in ("country=TZ", "country=TZ&topic=asylum", "topic=asylum", "region=africa"):
        response = web.get(f"/news/matching?{query}")
        assert "Quillwort" not in response.text, query
        assert [e["title"] for e in response.json()["items"]] == ["Zanzibar visible"], query
    form = web.get("/subscribe?countries=TZ&topics=asylum").text
    preferences = web.get(
        f"/preferences/{pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person_id)}"
    ).text
    for page in (form, preferences):
        assert "Zanzibar visible" in page and "Quillwort" not in page


@pytest.mark.usefixtures("desk")
def test_the_forms_show_it_without_javascript(pipeline: Stack, web: TestClient) -> None:
    form = web.get("/subscribe?countries=CL").text
    recent = form[form.index('id="new-recent"') :]
    recent = recent[: recent.index("</section>")]
    assert "Recently this would have sent you:" in recent and "Chile torture" in recent
    # The box is there for the script even when nothing is chosen, and says nothing.
    blank = web.get("/subscribe").text
    assert 'id="new-recent"' in blank and 'id="new-recent-heading"' not in blank
    assert '<p class="hint">Nothing published' not in blank
    none = web.get("/subscribe?countries=US&lang=fr").text
    assert '<p class="hint">Rien de ce qui a été publié ces 30 derniers jours' in none

    with pipeline.session() as session:
        person = journalist(
            session, "pia@paper.example", (["CL"], []), (["US"], ["asylum"]), language="es"
        )
        session.commit()
        person_id = person.id
    token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person_id)
    page = web.get(f"/preferences/{token}").text
    assert "Recientemente, esta elección le habría enviado:</h3>" in page
    assert page.count("Chile torture") == 1
    assert '<p class="hint">Nada de lo publicado en los últimos 30 días coincide' in page
