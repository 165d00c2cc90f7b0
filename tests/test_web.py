"""The journalists' pages through HTTP, with the real worker sending their emails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    Journalist,
    JournalistStatus,
    Suppression,
    UnsubscribeEvent,
    utcnow,
)
from alerts.core.tokens import Purpose
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.factories import fan_out, journalist, published_item
from tests.webclient import csrf, h1, link, path, subscribe, text_of, wait_for_mail


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    limits = SignUpLimits("memory://", "3/hour", "30/minute")
    with TestClient(
        create_app(pipeline.app, limits), base_url=pipeline.settings.base_url
    ) as client:
        yield client


def _status(stack: Stack, email: str) -> str | None:
    with stack.session() as session:
        return session.scalar(select(Journalist.status).where(Journalist.email == email))


def _id(stack: Stack, email: str) -> int:
    with stack.session() as session:
        value = session.scalar(select(Journalist.id).where(Journalist.email == email))
    assert value is not None
    return value


def test_double_opt_in_then_alerts(pipeline: Stack, web: TestClient) -> None:
    page = subscribe(
        web,
        " Ana.Lopez@Diario.Example ",
        name="Ana López",
        countries=["americas"],
        topics=["asylum"],
        language="es",
        timezone="America/Mexico_City",
    )
    assert h1(page) == "Revise su bandeja de entrada"  # the language they chose
    email = "ana.lopez@diario.example"
    assert _status(pipeline, email) == JournalistStatus.PENDING

    # Nothing but the confirmation reaches a pending journalist.
    with pipeline.session() as session:
        before = published_item(session, countries=["MX"], topics=["asylum"])
        session.commit()
    pipeline.wait_for_item(before)
    [confirmation] = wait_for_mail(pipeline, email)
    assert confirmation["Auto-Submitted"] == "auto-generated"
    assert confirmation.get_body(("html",)) is not None
    confirm_url = link(confirmation, "confirm")

    # GET shows a button and changes nothing (scanners follow links).
    page = web.get(path(confirm_url))
    assert page.status_code == 200
    assert _status(pipeline, email) == JournalistStatus.PENDING
    done = web.post(path(confirm_url), data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200
    assert _status(pipeline, email) == JournalistStatus.ACTIVE
    with pipeline.session() as session:
        person = session.scalars(select(Journalist).where(Journalist.email == email)).one()
        [chosen] = person.subscriptions
        assert (person.name, person.language) == ("Ana López", "es")
        assert person.timezone == "America/Mexico_City"  # digests arrive on her clock
        assert chosen.topics == ["asylum"] and "MX" in chosen.countries and "BR" in chosen.countries
    again = web.post(path(confirm_url), data={"csrf_token": csrf(page.text)})
    assert again.status_code == 200 and h1(again.text) == h1(done.text)

    with pipeline.session() as session:
        item_id = published_item(
            session, title="After confirming", countries=["MX"], topics=["asylum"]
        )
        session.commit()
    pipeline.wait_for_item(item_id)
    messages = wait_for_mail(pipeline, email, count=2)
    assert [m["Subject"] for m in messages][1] == "After confirming"
    assert len(messages) == 2  # the confirmation and the alert after it, nothing before


def test_answer_is_the_same_for_known_and_unknown_addresses(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        journalist(session, "known@example.net", ([], []))
        session.commit()
    known = subscribe(web, "known@example.net", topics=["torture"])
    unknown = subscribe(web, "new@example.net")
    assert known == unknown  # byte for byte
    [already] = wait_for_mail(pipeline, "known@example.net")
    assert "/preferences/" in text_of(already) and "/confirm/" not in text_of(already)
    wait_for_mail(pipeline, "new@example.net")
    # The active journalist's subscriptions were not touched by the request.
    with pipeline.session() as session:
        person = session.scalars(
            select(Journalist).where(Journalist.email == "known@example.net")
        ).one()
        assert [s.topics for s in person.subscriptions] == [[]]


def test_sign_ups_are_rate_limited(pipeline: Stack) -> None:
    limits = SignUpLimits("memory://", "2/hour", "4/minute")
    with TestClient(create_app(pipeline.app, limits), base_url=pipeline.settings.base_url) as web:
        pages = [subscribe(web, "same@example.net") for _ in range(3)]
        assert h1(pages[2]) == h1(pages[0])  # the address limit is silent
        subscribe(web, "other@example.net")
        page = web.get("/subscribe")
        blocked = web.post(
            "/subscribe", data={"email": "third@example.net", "csrf_token": csrf(page.text)}
        )
        assert blocked.status_code == 429
    time.sleep(2)  # let the worker send whatever was queued
    assert len(wait_for_mail(pipeline, "same@example.net", count=2)) == 2
    assert _status(pipeline, "third@example.net") is None


def test_bad_tokens_get_a_clear_page_and_reveal_nothing(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        person = journalist(session, "victim@example.net", ([], []))
        session.commit()
        victim = person.id
    signer = pipeline.app.runtime.signer
    confirm = signer.sign(Purpose.CONFIRM, victim)
    unsubscribe = signer.sign(Purpose.UNSUBSCRIBE, victim)
    preferences = signer.sign(Purpose.PREFERENCES, victim)
    tampered = preferences[:-3] + ("xyz" if not preferences.endswith("xyz") else "abc")
    forged = URLSafeTimedSerializer("not-our-secret-at-all", salt="newsroom-alerts.preferences")
    attempts = [
        ("get", f"/u/{confirm}"),
        ("post", f"/u/{confirm}"),
        ("post", f"/u/{preferences}"),
        ("get", f"/preferences/{unsubscribe}"),
        ("get", f"/preferences/{tampered}"),
        ("get", f"/preferences/{forged.dumps(victim)}"),
        ("get", f"/confirm/{preferences}"),
        ("get", "/preferences/garbage"),
        ("get", f"/preferences/{tampered}/export"),
    ]
    for method, url in attempts:
        response = web.request(
            method, url, data={"List-Unsubscribe": "One-Click"} if method == "post" else None
        )
        assert response.status_code == 400, (url, response.status_code)
        assert h1(response.text) == "This link is not valid"
        assert "victim" not in response.text
    assert _status(pipeline, "victim@example.net") == JournalistStatus.ACTIVE


def test_confirmation_links_expire(
    pipeline: Stack, web: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(web, "slow@example.net")
    [message] = wait_for_mail(pipeline, "slow@example.net")
    url = path(link(message, "confirm"))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 8 * 24 * 3600)
    response = web.get(url)
    assert response.status_code == 410 and h1(response.text) == "This link has expired"
    assert _status(pipeline, "slow@example.net") == JournalistStatus.PENDING


def test_one_click_unsubscribe_is_idempotent_and_recorded(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        journalist(session, "leaver@example.net", ([], []))
        item_id = published_item(session, countries=["MX"])
        session.commit()
    pipeline.wait_for_item(item_id)
    [alert] = wait_for_mail(pipeline, "leaver@example.net")
    url = str(alert["List-Unsubscribe"]).strip().strip("<>")
    page = web.get(path(url))
    assert page.status_code == 200 and "<form" in page.text
    assert _status(pipeline, "leaver@example.net") == JournalistStatus.ACTIVE
    web.cookies.clear()  # mail providers send no cookies
    for _ in range(2):
        response = web.post(
            path(url),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
    assert _status(pipeline, "leaver@example.net") == JournalistStatus.UNSUBSCRIBED
    assert "/preferences/" not in response.text  # the header URL opens nothing more
    with pipeline.session() as session:
        events = session.scalars(select(UnsubscribeEvent.method)).all()
        reason = session.scalar(select(Suppression.reason))
    assert events == ["one-click"]
    assert reason == "unsubscribed (one-click)"


def test_unsubscribe_between_fan_out_and_send_stops_the_queued_email(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        journalist(session, "stays@example.net", ([], []))
        journalist(session, "goes@example.net", ([], []))
        journalist(session, "blocked@example.net", ([], []))
        item_id = published_item(session, countries=["MX"])
        # Publish without the after-commit hook's fan-out: we fan out by hand.
        session.info.clear()
        session.commit()
    # Fan out here, so the batch is queued but not yet sent when they leave.
    with pipeline.session() as session:
        ids = fan_out(session, item_id, utcnow())
        session.commit()
    goes = pipeline.app.runtime.signer.sign(Purpose.UNSUBSCRIBE, _id(pipeline, "goes@example.net"))
    assert web.get(f"/u/{goes}").status_code == 200
    assert (
        web.post(
            f"/u/{goes}",
            data={"List-Unsubscribe": "One-Click", "via": "page"},
        ).status_code
        == 200
    )
    # A status change by another route (say, staff) is caught when the batch claims.
    with pipeline.app.runtime.engine.begin() as conn:
        conn.execute(
            update(Journalist)
            .where(Journalist.email == "blocked@example.net")
            .values(status=JournalistStatus.SUPPRESSED)
        )
    pipeline.app.enqueue_batch(ids)
    pipeline.wait_for_item(item_id)
    with pipeline.session() as session:
        outcome = dict(
            session.execute(
                select(Journalist.email, Delivery.status)
                .join(Delivery, Delivery.journalist_id == Journalist.id)
                .where(Delivery.item_id == item_id)
            ).all()
        )
        method = session.scalar(select(UnsubscribeEvent.method))
    assert outcome == {
        "stays@example.net": DeliveryStatus.SENT,
        "goes@example.net": DeliveryStatus.CANCELLED,
        "blocked@example.net": DeliveryStatus.CANCELLED,
    }
    assert method == "page"
    assert [r.rcpt_tos for r in pipeline.received()] == [("stays@example.net",)]


def test_preferences_change_export_and_erase(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        person = journalist(session, "prefs@example.net", (["MX"], ["asylum"]), name="Pat")
        session.commit()
        person_id, [sub_id] = person.id, [s.id for s in person.subscriptions]
        item_id = published_item(session, countries=["MX"], topics=["asylum"])
        session.commit()
    pipeline.wait_for_item(item_id)
    token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person_id)
    page = web.get(f"/preferences/{token}")
    assert page.status_code == 200 and "prefs@example.net" in page.text
    token_field = csrf(page.text)

    # Without the CSRF field nothing changes.
    refused = web.post(
        f"/preferences/{token}/subscriptions",
        data={"subscription_id": sub_id, "topics": ["torture"]},
    )
    assert refused.status_code == 403

    changed = web.post(
        f"/preferences/{token}/subscriptions",
        data={
            "subscription_id": sub_id,
            "countries": ["europe"],
            "topics": ["torture", "asylum"],
            "cadence": "daily",
            "csrf_token": token_field,
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    added = web.post(
        f"/preferences/{token}/subscriptions",
        data={"topics": ["journalists"], "csrf_token": token_field},
        follow_redirects=False,
    )
    assert added.status_code == 303
    bad = web.post(
        f"/preferences/{token}/subscriptions",
        data={"topics": ["gardening"], "csrf_token": token_field},
    )
    assert bad.status_code == 422
    profile = web.post(
        f"/preferences/{token}/profile",
        data={"name": "Pat Smith", "outlet": "Radio", "language": "es", "csrf_token": token_field},
        follow_redirects=False,
    )
    assert profile.status_code == 303
    with pipeline.session() as session:
        stored = session.get(Journalist, person_id)
        assert stored is not None
        subs = sorted((s.cadence, s.topics, len(s.countries)) for s in stored.subscriptions)
        assert (stored.name, stored.outlet, stored.language) == ("Pat Smith", "Radio", "es")
    assert [(cadence, topics) for cadence, topics, _ in subs] == [
        ("daily", ["asylum", "torture"]),
        ("immediate", ["journalists"]),
    ]
    assert subs[0][2] > 40  # europe expanded to its countries

    # Another journalist's subscription id is refused, not edited.
    with pipeline.session() as session:
        other = journalist(session, "other@example.net", ([], []))
        session.commit()
        other_sub = other.subscriptions[0].id
    stolen = web.post(
        f"/preferences/{token}/subscriptions/{other_sub}/delete", data={"csrf_token": token_field}
    )
    assert stolen.status_code == 422

    exported = web.get(f"/preferences/{token}/export")
    data = json.loads(exported.text)
    assert exported.headers["content-disposition"].startswith("attachment")
    assert data["journalist"]["email"] == "prefs@example.net"
    assert len(data["subscriptions"]) == 2 and data["deliveries"][0]["status"] == "sent"

    refused = web.post(f"/preferences/{token}/erase", data={"csrf_token": token_field})
    assert refused.status_code == 422 and _status(pipeline, "prefs@example.net") is not None
    erased = web.post(
        f"/preferences/{token}/erase", data={"confirm": "yes", "csrf_token": token_field}
    )
    assert erased.status_code == 200
    with pipeline.session() as session:
        forgotten = session.get(Journalist, person_id)
        assert forgotten is not None and forgotten.email is None and forgotten.name == ""
        assert forgotten.subscriptions == []
        kept = session.scalars(
            select(Delivery.status).where(Delivery.journalist_id == person_id)
        ).all()
    assert kept == [DeliveryStatus.SENT]
    assert web.get(f"/preferences/{token}").status_code == 404


def test_pages_speak_spanish(pipeline: Stack, web: TestClient) -> None:
    page = web.get("/subscribe", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in page.text
    assert h1(page.text) != h1(web.get("/subscribe?lang=en").text)
    assert 'for="email"' in page.text  # every field has its label


def test_a_request_for_someone_elses_address_changes_nothing_of_theirs(
    pipeline: Stack, web: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pipeline.session() as session:
        journalist(
            session,
            "left@example.net",
            (["MX"], ["torture"]),
            name="Victim",
            status=JournalistStatus.UNSUBSCRIBED,
        )
        session.commit()
    signer = pipeline.app.runtime.signer
    real = time.time
    with monkeypatch.context() as patch:  # a link sent a minute before they left
        patch.setattr(time, "time", lambda: real() - 60)
        old_link = signer.sign(Purpose.CONFIRM, _id(pipeline, "left@example.net"))
    with pipeline.app.runtime.engine.begin() as conn:
        conn.execute(update(Journalist).values(unsubscribed_at=utcnow()))
    subscribe(web, "left@example.net", name="Attacker", topics=["climate-change"])
    with pipeline.session() as session:
        person = session.scalars(select(Journalist)).one()
        assert (person.name, person.status) == ("Victim", JournalistStatus.UNSUBSCRIBED)
        assert [s.topics for s in person.subscriptions] == [["torture"]]
    # An old confirmation link no longer brings them back...
    page = web.get(f"/confirm/{old_link}")
    refused = web.post(f"/confirm/{old_link}", data={"csrf_token": csrf(page.text)})
    assert refused.status_code == 409
    assert _status(pipeline, "left@example.net") == JournalistStatus.UNSUBSCRIBED
    # ...the new one, clicked by whoever owns the mailbox, applies what it carries.
    [message] = wait_for_mail(pipeline, "left@example.net")
    url = path(link(message, "confirm"))
    page = web.get(url)
    assert web.post(url, data={"csrf_token": csrf(page.text)}).status_code == 200
    with pipeline.session() as session:
        person = session.scalars(select(Journalist)).one()
        assert (person.name, person.status) == ("Attacker", JournalistStatus.ACTIVE)
        assert [s.topics for s in person.subscriptions] == [["climate-change"]]


def test_digest_schedule_is_chosen_and_checked(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        person = journalist(session, "sched@example.net", ([], [], "daily"))
        session.commit()
        person_id = person.id
    token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person_id)
    page = web.get(f"/preferences/{token}")
    assert 'name="digest_time" value="08:00"' in page.text  # the default
    saved = web.post(
        f"/preferences/{token}/schedule",
        data={
            "timezone": "Asia/Kolkata",
            "digest_time": "18:30",
            "digest_weekday": "4",
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"digest_time": "25:00"},
        {"digest_weekday": "9"},
    ):
        refused = web.post(
            f"/preferences/{token}/schedule",
            data={"timezone": "UTC", "digest_time": "07:00", "digest_weekday": "0"}
            | bad
            | {"csrf_token": csrf(page.text)},
        )
        assert refused.status_code == 422, bad
    with pipeline.session() as session:
        stored = session.get(Journalist, person_id)
        assert stored is not None
        assert (stored.timezone, stored.digest_minute, stored.digest_weekday) == (
            "Asia/Kolkata",
            18 * 60 + 30,
            4,
        )
    form = web.get("/subscribe")
    bad_zone = web.post(
        "/subscribe",
        data={
            "email": "zone@example.net",
            "timezone": "Nowhere/Land",
            "csrf_token": csrf(form.text),
        },
    )
    assert bad_zone.status_code == 422 and "time zone" in bad_zone.text
    assert _status(pipeline, "zone@example.net") is None
