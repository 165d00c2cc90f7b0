"""Embargoes end to end: the staff API, a real worker, the SMTP sink.

Vera is verified press in Paris, Noor is not; both follow Mexico. Under
embargo Vera gets the release at once, marked with the lifting time on her
clock and in UTC; Noor hears of it when it lifts and not before, and never
of a move or a withdrawal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.core.models import Cadence, Delivery, Item, ItemStatus, Journalist, utcnow
from alerts.core.tokens import Purpose
from alerts.digests import planning
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.worker.app import PUBLISH_DUE
from tests.conftest import Stack
from tests.factories import journalist
from tests.webclient import csrf, text_of, wait_for_mail

VERA, NOOR, DORA = "vera@lemonde.example", "noor@daily.example", "dora@weekly.example"


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


@pytest.fixture
def desk(pipeline: Stack) -> dict[str, str]:
    with pipeline.session() as session:
        key = create_key(session, "Press desk (Maria)", "publisher", utcnow())[1]
        vera = journalist(session, VERA, (["MX"], []), name="Vera")
        vera.timezone = "Europe/Paris"
        journalist(session, NOOR, (["MX"], []), name="Noor")
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def _id(pipeline: Stack, email: str) -> int:
    with pipeline.session() as session:
        found = session.scalar(select(Journalist.id).where(Journalist.email == email))
    assert found is not None
    return found


def _verify(api: TestClient, desk: dict[str, str], pipeline: Stack, email: str) -> None:
    response = api.post(f"/api/journalists/{_id(pipeline, email)}/verification", headers=desk)
    assert response.status_code == 200, response.text
    assert response.json()["verified_by"] == "Press desk (Maria)"


def _embargoed(
    api: TestClient, desk: dict[str, str], until: datetime, title: str = "Mexico: embargoed report"
) -> int:
    created = api.post(
        "/api/items",
        json={"title": title, "summary": "Findings.", "countries": ["MX"], "body": "Full text."},
        headers=desk,
    )
    assert created.status_code == 201, created.text
    item_id: int = created.json()["id"]
    response = api.post(
        f"/api/items/{item_id}/embargo", json={"until": until.isoformat()}, headers=desk
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == ItemStatus.EMBARGOED
    return item_id


def _mail(pipeline: Stack, to: str) -> list[EmailMessage]:
    return [r.parsed() for r in pipeline.received() if to in r.rcpt_tos]


def _settle(pipeline: Stack, *item_ids: int) -> None:
    """Every fan-out done and nothing left pending: what has not arrived will not."""
    for item_id in item_ids:
        pipeline.wait_for_item(item_id)


def _notices(pipeline: Stack, original: int) -> list[int]:
    with pipeline.session() as session:
        return list(session.scalars(select(Item.id).where(Item.corrects_id == original)))


def test_verified_press_first_everyone_else_at_lift(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    with pipeline.session() as session:
        journalist(session, DORA, (["MX"], [], Cadence.DAILY), name="Dora")
        session.commit()
    _verify(api, desk, pipeline, VERA)
    _verify(api, desk, pipeline, DORA)
    until = (utcnow() + timedelta(seconds=6)).replace(microsecond=0)
    item_id = _embargoed(api, desk, until)

    [embargoed] = wait_for_mail(pipeline, VERA)
    wait_for_mail(pipeline, DORA)  # a digest reader, but an embargo does not wait for digests
    _settle(pipeline, item_id)
    assert _mail(pipeline, NOOR) == []
    paris = until.astimezone(ZoneInfo("Europe/Paris"))
    local = f"{paris:%B} {paris.day}, {paris.year}, {paris:%H:%M %Z}"
    # Between 23:00 and midnight UTC the lift is already tomorrow in Paris: then the
    # UTC part names its own date too.
    utc_day = "" if until.date() == paris.date() else f"{until:%B} {until.day}, {until.year}, "
    marker = f"EMBARGOED UNTIL {local} ({utc_day}{until:%H:%M} UTC)"
    assert str(embargoed["Subject"]) == f"{marker}: Mexico: embargoed report"
    text = text_of(embargoed)
    assert text.splitlines()[2] == f"*** {marker} ***"  # after the masthead, before anything else
    html = embargoed.get_body(("html",))
    assert html is not None
    html_text = str(html.get_content())
    content = html_text[html_text.index('class="content"') :]
    assert content.index(marker) < content.index("Mexico: embargoed report")

    # Non-staff cannot reach it before the lift: the API, previews and ops pages need a key.
    for path in (f"/api/items/{item_id}", f"/api/items/{item_id}/preview", "/api/items"):
        assert api.get(path).status_code == 401
    assert api.get(f"/ops/items/{item_id}", follow_redirects=False).status_code in (303, 401)
    token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, _id(pipeline, NOOR))
    noor_export = api.get(f"/preferences/{token}/export")
    assert noor_export.status_code == 200 and "embargoed report" not in noor_export.text

    while utcnow() < until:
        time.sleep(0.2)
    pipeline.app.send_task(PUBLISH_DUE)  # the beat's tick after the lifting time
    [alert] = wait_for_mail(pipeline, NOOR)
    _settle(pipeline, item_id)
    assert str(alert["Subject"]) == "Mexico: embargoed report"
    assert "EMBARGOED" not in text_of(alert)
    assert len(_mail(pipeline, VERA)) == 1  # never the same item twice
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None and item.status == ItemStatus.PUBLISHED
        assert item.published_at is not None and item.published_at >= until
        # Dora had it under embargo: her next digest must not list it again.
        planned = planning.plan(session, utcnow() + timedelta(days=2))
        session.commit()
        listed = session.scalars(
            select(Delivery.item_id).where(Delivery.digest_id.in_(planned))
        ).all()
    assert item_id not in listed


def test_move_then_lift_are_announced_to_recipients_only(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    _verify(api, desk, pipeline, VERA)
    item_id = _embargoed(api, desk, utcnow() + timedelta(hours=1))
    wait_for_mail(pipeline, VERA)
    _settle(pipeline, item_id)
    # Publishing it would go round the lift (and its notices): refused.
    refused = api.post(f"/api/items/{item_id}/publish", headers=desk)
    assert refused.status_code == 409 and "lift the embargo" in refused.json()["detail"]

    new_time = (utcnow() + timedelta(days=100)).replace(hour=9, minute=30, second=0, microsecond=0)
    moved = api.post(
        f"/api/items/{item_id}/embargo/move", json={"until": new_time.isoformat()}, headers=desk
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["embargo_until"].startswith(new_time.strftime("%Y-%m-%dT09:30"))
    [_, notice] = wait_for_mail(pipeline, VERA, count=2)
    assert str(notice["Subject"]) == "Embargo moved: Mexico: embargoed report"
    paris = new_time.astimezone(ZoneInfo("Europe/Paris"))
    when = f"{paris:%B} {paris.day}, {paris.year}, {paris:%H:%M %Z} (09:30 UTC)"
    assert when in " ".join(text_of(notice).split())
    assert notice["In-Reply-To"] is not None  # threaded under the release
    _settle(pipeline, item_id, *_notices(pipeline, item_id))
    assert _mail(pipeline, NOOR) == []

    lifted = api.post(f"/api/items/{item_id}/embargo/lift", headers=desk)
    assert lifted.status_code == 200 and lifted.json()["status"] == ItemStatus.PUBLISHED
    [alert] = wait_for_mail(pipeline, NOOR)
    [_, _, lift_notice] = wait_for_mail(pipeline, VERA, count=3)
    _settle(pipeline, item_id, *_notices(pipeline, item_id))
    assert str(alert["Subject"]) == "Mexico: embargoed report"
    assert str(lift_notice["Subject"]) == "Embargo lifted: Mexico: embargoed report"
    assert len(_mail(pipeline, VERA)) == 3 and len(_mail(pipeline, NOOR)) == 1

    again = api.post(f"/api/items/{item_id}/embargo/lift", headers=desk)
    assert again.status_code == 409 and "not under embargo" in again.json()["detail"]
    past = api.post(
        f"/api/items/{item_id}/embargo/move", json={"until": "2020-01-01T00:00:00Z"}, headers=desk
    )
    assert past.status_code == 422


def test_withdrawn_before_lift_only_recipients_hear_of_it(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    _verify(api, desk, pipeline, VERA)
    until = utcnow() + timedelta(seconds=5)
    item_id = _embargoed(api, desk, until)
    wait_for_mail(pipeline, VERA)
    _settle(pipeline, item_id)

    withdrawn = api.post(f"/api/items/{item_id}/withdraw", headers=desk)
    assert withdrawn.status_code == 200 and withdrawn.json()["item"]["status"] == "withdrawn"
    [_, notice] = wait_for_mail(pipeline, VERA, count=2)
    assert str(notice["Subject"]) == "Withdrawn: Mexico: embargoed report"
    assert "do not publish" in text_of(notice)
    while utcnow() < until:
        time.sleep(0.2)
    pipeline.app.send_task(PUBLISH_DUE)
    time.sleep(1.0)
    _settle(pipeline, item_id, *_notices(pipeline, item_id))
    assert _mail(pipeline, NOOR) == []
    assert len(_mail(pipeline, VERA)) == 2


def test_verified_after_the_embargoed_send_gets_it_at_once(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    _verify(api, desk, pipeline, VERA)
    item_id = _embargoed(api, desk, utcnow() + timedelta(hours=1))
    wait_for_mail(pipeline, VERA)
    _settle(pipeline, item_id)
    assert _mail(pipeline, NOOR) == []

    _verify(api, desk, pipeline, NOOR)
    [late] = wait_for_mail(pipeline, NOOR)
    _settle(pipeline, item_id)
    assert str(late["Subject"]).startswith("EMBARGOED UNTIL ")
    assert len(_mail(pipeline, VERA)) == 1

    # Verification withdrawn before a send: an embargoed row is cancelled, not sent.
    unverified = api.delete(f"/api/journalists/{_id(pipeline, NOOR)}/verification", headers=desk)
    assert unverified.status_code == 200 and unverified.json()["verified_at"] is None
    second = _embargoed(api, desk, utcnow() + timedelta(hours=1), title="Second report")
    assert len(wait_for_mail(pipeline, VERA, count=2)) == 2
    _settle(pipeline, second)
    assert len(_mail(pipeline, NOOR)) == 1


def test_bad_embargo_requests_are_refused(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    created = api.post("/api/items", json={"title": "Draft", "countries": ["MX"]}, headers=desk)
    item_id = created.json()["id"]
    naive = api.post(
        f"/api/items/{item_id}/embargo", json={"until": "2031-01-01T09:00:00"}, headers=desk
    )
    assert naive.status_code == 422
    past = api.post(
        f"/api/items/{item_id}/embargo", json={"until": "2020-01-01T09:00:00Z"}, headers=desk
    )
    assert past.status_code == 422
    too_far = (utcnow() + timedelta(days=400)).isoformat()
    far = api.post(f"/api/items/{item_id}/embargo", json={"until": too_far}, headers=desk)
    assert far.status_code == 422 and "a year" in far.text
    assert api.post(f"/api/items/{item_id}/embargo/lift", headers=desk).status_code == 409
    assert api.post("/api/items/999999/embargo/lift", headers=desk).status_code == 404
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None and item.status == ItemStatus.DRAFT and item.embargo_until is None


def test_staff_pages_embargo_move_and_lift(
    pipeline: Stack, api: TestClient, desk: dict[str, str]
) -> None:
    """The staff page's forms (UTC, as the datetime-local field sends it) do the same."""
    _verify(api, desk, pipeline, VERA)
    created = api.post(
        "/api/items", json={"title": "From the page", "countries": ["MX"]}, headers=desk
    )
    item_id = created.json()["id"]
    key = desk["Authorization"].removeprefix("Bearer ")
    login = api.get("/staff/login")
    signed = api.post(
        "/staff/login", data={"key": key, "csrf_token": csrf(login.text)}, follow_redirects=False
    )
    assert signed.status_code == 303

    def act(action: str, **fields: str) -> str:
        page = api.get(f"/staff/items/{item_id}")
        assert page.status_code == 200
        done = api.post(
            f"/staff/items/{item_id}/{action}",
            data=fields | {"csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        return str(done.headers["location"])

    soon = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert "error" not in act("embargo", until=soon)
    wait_for_mail(pipeline, VERA)
    page = api.get(f"/staff/items/{item_id}")
    assert "Move embargo" in page.text and f"until {soon.replace('T', ' ')} UTC" in page.text
    assert "error" in act("embargo/move", until="2020-01-01T00:00")  # refused, said so
    later = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    assert "error" not in act("embargo/move", until=later)
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None and item.embargo_until is not None
        assert item.embargo_until.strftime("%Y-%m-%dT%H:%M") == later
    assert "error" not in act("embargo/lift")
    wait_for_mail(pipeline, NOOR)
    _settle(pipeline, item_id, *_notices(pipeline, item_id))
    subjects = [str(m["Subject"]) for m in _mail(pipeline, VERA)]
    # The two notices may overtake each other: each arrives, once.
    assert sorted(subjects[1:]) == ["Embargo lifted: From the page", "Embargo moved: From the page"]
