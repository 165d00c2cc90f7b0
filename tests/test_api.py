"""The staff JSON API, per endpoint and role, on the real worker and SMTP sink."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.core.models import Delivery, DeliveryStatus, Item, ItemStatus, Journalist, utcnow
from alerts.core.tokens import Purpose
from alerts.staff.keys import create_key
from alerts.web import create_app
from tests.conftest import Stack
from tests.factories import fan_out, journalist, published_item


class Keys:
    def __init__(self, stack: Stack) -> None:
        with stack.session() as session:
            self.publisher = create_key(session, "desk", "publisher", utcnow())[1]
            self.operator = create_key(session, "ops", "operator", utcnow())[1]
            self.admin = create_key(session, "boss", "admin", utcnow())[1]
            session.commit()

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


@pytest.fixture
def keys(pipeline: Stack) -> Keys:
    return Keys(pipeline)


ITEM = {
    "title": "Mexico: new report",
    "summary": "Findings.",
    "countries": ["MX"],
    "topics": ["asylum"],
    "url": "https://ngo.example/r",
}


def _create(api: TestClient, keys: Keys, **fields: object) -> dict[str, object]:
    response = api.post("/api/items", json=ITEM | fields, headers=keys.auth(keys.publisher))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_keys_and_roles(pipeline: Stack, api: TestClient, keys: Keys) -> None:
    assert api.get("/api/items").status_code == 401
    assert api.get("/api/items", headers=keys.auth("nra_not-a-key")).status_code == 401
    with pipeline.session() as session:
        person = journalist(session, "j@example.net", ([], []))
        session.commit()
        token = pipeline.app.runtime.signer.sign(Purpose.PREFERENCES, person.id)
    assert api.get("/api/items", headers=keys.auth(token)).status_code == 401
    assert api.get("/api/items", headers={"X-API-Key": keys.operator}).status_code == 200
    assert api.post("/api/items", json=ITEM, headers=keys.auth(keys.operator)).status_code == 403
    assert api.get("/api/keys", headers=keys.auth(keys.publisher)).status_code == 403
    assert (
        api.delete(f"/api/journalists/{person.id}", headers=keys.auth(keys.publisher)).status_code
        == 403
    )

    created = api.post(
        "/api/keys", json={"name": "feed bot", "role": "publisher"}, headers=keys.auth(keys.admin)
    )
    assert created.status_code == 201
    new = created.json()
    assert new["key"].startswith(new["prefix"]) and new["role"] == "publisher"
    assert api.get("/api/items", headers=keys.auth(new["key"])).status_code == 200
    listed = api.get("/api/keys", headers=keys.auth(keys.admin)).json()
    assert all("key" not in k for k in listed)  # never shown again
    assert api.delete(f"/api/keys/{new['id']}", headers=keys.auth(keys.admin)).status_code == 204
    assert api.get("/api/items", headers=keys.auth(new["key"])).status_code == 401


def test_create_is_idempotent_on_external_id(api: TestClient, keys: Keys) -> None:
    first = _create(api, keys, external_id="cms-42")
    again = api.post(
        "/api/items",
        json=ITEM | {"external_id": "cms-42", "title": "Other"},
        headers=keys.auth(keys.publisher),
    )
    assert again.status_code == 409
    assert again.headers["location"] == f"/api/items/{first['id']}"
    assert again.json()["item"]["title"] == "Mexico: new report"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"countries": ["XX"]}, "countries", "unknown country: XX"),
        ({"topics": ["cooking"]}, "topics", "unknown topic: cooking"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"title": "x" * 501}, "title", "at most 500 characters"),
        ({"url": "javascript:alert(1)"}, "url", "URL"),
        ({"kind": "tweet"}, "kind", "press_release"),
        ({"colour": "red"}, "body", 'unknown key "colour"'),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    pipeline: Stack,
    api: TestClient,
    keys: Keys,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    response = api.post("/api/items", json=ITEM | fields, headers=keys.auth(keys.publisher))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field and message in error["msg"]
    with pipeline.session() as session:
        assert session.scalars(select(Item)).all() == []


def test_oversized_body_is_refused(api: TestClient, keys: Keys) -> None:
    response = api.post(
        "/api/items", json=ITEM | {"body": "x" * 2_000_000}, headers=keys.auth(keys.publisher)
    )
    assert response.status_code == 413


def test_preview_reach_and_test_send_send_nothing_to_journalists(
    pipeline: Stack, api: TestClient, keys: Keys
) -> None:
    with pipeline.session() as session:
        journalist(session, "mx@example.net", (["MX"], []))
        journalist(session, "asylum@example.net", ([], ["asylum"]))
        journalist(session, "fr@example.net", (["FR"], []))
        session.commit()
    item = _create(api, keys, title='Mexico: <script>alert("x")</script> & more')
    auth = keys.auth(keys.publisher)
    html = api.get(f"/api/items/{item['id']}/preview?format=html", headers=auth)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;" in html.text and "<script>" not in html.text
    text = api.get(f"/api/items/{item['id']}/preview?format=text", headers=auth).text
    assert 'Mexico: <script>alert("x")</script> & more' in text
    assert "Sample Journalist" in text

    reach = api.get(f"/api/items/{item['id']}/reach", headers=auth).json()
    assert reach == {"total": 2, "by_country": {"MX": 2}, "by_topic": {"asylum": 2}}

    sent = api.post(
        f"/api/items/{item['id']}/test-send", json={"email": "Desk@NGO.example"}, headers=auth
    )
    assert sent.status_code == 202
    pipeline.wait_until(lambda: len(pipeline.received()) == 1, what="the test copy")
    [copy] = pipeline.received()
    assert copy.rcpt_tos == ("desk@ngo.example",)
    assert copy.parsed()["Subject"] == '[TEST] Mexico: <script>alert("x")</script> & more'
    assert (
        api.post(
            f"/api/items/{item['id']}/test-send", json={"email": "nope"}, headers=auth
        ).status_code
        == 422
    )
    with pipeline.session() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_publish_and_follow_progress(pipeline: Stack, api: TestClient, keys: Keys) -> None:
    with pipeline.session() as session:
        for n in range(9):
            journalist(session, f"j{n}@example.net", (["MX"], []))
        session.commit()
    item = _create(api, keys)
    auth = keys.auth(keys.publisher)
    assert (
        api.patch(f"/api/items/{item['id']}", json={"summary": "Updated."}, headers=auth).json()[
            "summary"
        ]
        == "Updated."
    )
    published = api.post(f"/api/items/{item['id']}/publish", headers=auth)
    assert published.status_code == 200 and published.json()["status"] == "published"
    item_id = int(str(item["id"]))
    pipeline.wait_for_item(item_id)
    progress = api.get(
        f"/api/items/{item_id}/deliveries?per_page=4", headers=keys.auth(keys.operator)
    ).json()
    assert progress["total"] == 9 and progress["counts"]["sent"] == 9
    assert len(progress["deliveries"]) == 4
    assert all(d["last_reply"].startswith("250") for d in progress["deliveries"])
    edit = api.patch(f"/api/items/{item_id}", json={"summary": "Too late."}, headers=auth)
    assert edit.status_code == 409


def test_schedule_is_never_early_never_twice_and_can_be_cancelled(
    pipeline: Stack, api: TestClient, keys: Keys
) -> None:
    with pipeline.session() as session:
        journalist(session, "reader@example.net", ([], []))
        session.commit()
    auth = keys.auth(keys.publisher)
    cancelled = _create(api, keys, title="Cancelled")
    later = (utcnow() + timedelta(seconds=3)).isoformat()
    assert (
        api.post(
            f"/api/items/{cancelled['id']}/schedule", json={"publish_at": later}, headers=auth
        ).json()["status"]
        == "scheduled"
    )
    assert (
        api.post(f"/api/items/{cancelled['id']}/cancel-schedule", headers=auth).json()["status"]
        == "draft"
    )
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    refused = api.post(
        f"/api/items/{cancelled['id']}/schedule", json={"publish_at": past}, headers=auth
    )
    assert refused.status_code == 422

    item = _create(api, keys, title="On time")
    due = utcnow() + timedelta(seconds=3)
    api.post(
        f"/api/items/{item['id']}/schedule", json={"publish_at": due.isoformat()}, headers=auth
    )
    pipeline.app.send_task("alerts.publish_due", queue="periodic")
    time.sleep(1.5)
    with pipeline.session() as session:
        assert session.get(Item, item["id"]).status == ItemStatus.SCHEDULED  # type: ignore[union-attr]
    while utcnow() < due:
        time.sleep(0.1)
    for _ in range(3):
        pipeline.app.send_task("alerts.publish_due", queue="periodic")
    pipeline.wait_for_item(int(str(item["id"])))
    time.sleep(1)
    with pipeline.session() as session:
        stored = session.get(Item, item["id"])
        assert stored is not None and stored.published_at is not None
        assert stored.published_at >= due  # never early
        assert session.get(Item, cancelled["id"]).status == ItemStatus.DRAFT  # type: ignore[union-attr]
    assert [r.parsed()["Subject"] for r in pipeline.received()] == ["On time"]


def test_correction_reaches_only_previous_recipients_threaded(
    pipeline: Stack, api: TestClient, keys: Keys
) -> None:
    with pipeline.session() as session:
        journalist(session, "early1@example.net", (["MX"], []))
        journalist(session, "early2@example.net", ([], ["asylum"]))
        session.commit()
    item = _create(api, keys, title="Original")
    auth = keys.auth(keys.publisher)
    api.post(f"/api/items/{item['id']}/publish", headers=auth)
    pipeline.wait_for_item(int(str(item["id"])))
    originals = {r.rcpt_tos[0]: r.parsed()["Message-ID"] for r in pipeline.received()}
    with pipeline.session() as session:
        journalist(session, "late@example.net", (["MX"], []))  # subscribed after the original
        session.commit()

    response = api.post(
        f"/api/items/{item['id']}/correct",
        json={"summary": "The figure is 12, not 21."},
        headers=auth,
    )
    assert response.status_code == 201
    correction = response.json()
    assert correction["corrects_id"] == item["id"]
    pipeline.wait_for_item(correction["id"])
    corrections = [r for r in pipeline.received() if r.parsed()["Subject"] != "Original"]
    assert sorted(r.rcpt_tos[0] for r in corrections) == [
        "early1@example.net",
        "early2@example.net",
    ]
    for raw in corrections:
        message = raw.parsed()
        assert message["Subject"] == "Correction: Original"
        assert message["In-Reply-To"] == originals[raw.rcpt_tos[0]]
        assert message["References"] == originals[raw.rcpt_tos[0]]
    again = api.post(f"/api/items/{correction['id']}/correct", json={}, headers=auth)
    assert again.status_code == 409


def test_withdraw_stops_queued_deliveries(pipeline: Stack, api: TestClient, keys: Keys) -> None:
    with pipeline.session() as session:
        for n in range(5):
            journalist(session, f"w{n}@example.net", ([], []))
        item_id = published_item(session, title="Wrong", countries=["MX"])
        session.info.clear()  # no automatic fan-out: we hold the batch back ourselves
        session.commit()
    with pipeline.session() as session:
        ids = fan_out(session, item_id, utcnow())
        session.commit()
    withdrawn = api.post(f"/api/items/{item_id}/withdraw", headers=keys.auth(keys.publisher))
    assert withdrawn.json()["cancelled"] == 5 and withdrawn.json()["item"]["status"] == "withdrawn"
    pipeline.app.enqueue_batch(ids)
    time.sleep(2)
    assert pipeline.received() == []
    with pipeline.session() as session:
        statuses = set(session.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.CANCELLED}
    assert (
        api.post(f"/api/items/{item_id}/publish", headers=keys.auth(keys.publisher)).status_code
        == 409
    )


def test_journalists_import_search_export_erase(
    pipeline: Stack, api: TestClient, keys: Keys
) -> None:
    auth = keys.auth(keys.publisher) | {"Content-Type": "text/csv"}
    bad = "email,name,outlet,countries,topics,cadence\nok@example.net,,,MX,,\nbad,,,,,\n"
    refused = api.post("/api/journalists/import", content=bad, headers=auth)
    assert refused.status_code == 422
    assert "line 3: invalid email address 'bad'" in refused.json()["detail"][0]["msg"]
    good = (
        "email,name,outlet,countries,topics,cadence\n"
        "ana@diario.example,Ana,El Diario,MX;US,asylum,immediate\n"
        "ben@wire.example,Ben,Wire,,,daily\n"
    )
    imported = api.post("/api/journalists/import", content=good, headers=auth).json()
    assert imported["journalists_created"] == 2 and imported["subscriptions_added"] == 2
    found = api.get("/api/journalists?q=diario", headers=auth).json()
    assert [j["email"] for j in found["journalists"]] == ["ana@diario.example"]
    assert found["journalists"][0]["subscriptions"][0]["countries"] == ["MX", "US"]

    exported = api.get("/api/journalists/export", headers=auth)
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0] == "email,name,outlet,countries,topics,cadence,language,timezone"
    assert "ana@diario.example,Ana,El Diario,MX;US,asylum,immediate,en,UTC" in lines
    again = api.post("/api/journalists/import", content=exported.text, headers=auth).json()
    assert again["subscriptions_added"] == 0  # the export is re-importable as it is

    ana = found["journalists"][0]["id"]
    assert api.delete(f"/api/journalists/{ana}", headers=keys.auth(keys.admin)).status_code == 204
    with pipeline.session() as session:
        erased = session.get(Journalist, ana)
        assert erased is not None and erased.email is None
    # Erased means gone, not fair game: an import does not sign them up again.
    reimport = api.post("/api/journalists/import", content=good, headers=auth).json()
    assert reimport["journalists_created"] == 0
    assert reimport["skipped"] == ["line 2: ana@diario.example unsubscribed or suppressed"]
    with pipeline.session() as session:
        assert "ana@diario.example" not in str(session.scalars(select(Journalist.email)).all())
