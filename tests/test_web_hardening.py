"""Bad input to the web app is a clear 4xx, never a 500, and changes nothing stored.

The app here runs on its real database (SQLite files, and PostgreSQL where
integer overflow is an error of its own) without a worker: nothing is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.core.migrate import upgrade
from alerts.core.models import Item, utcnow
from alerts.core.settings import load_settings
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.worker.app import AlertsCelery, create_celery
from tests.conftest import SECRET

BIG_ID = 9223372036854775808  # 2**63: past every integer column
ITEM = {"title": "Mexico: new report", "countries": ["MX"], "topics": ["asylum"]}


def build(data_dir: Path, database_url: str = "") -> AlertsCelery:
    overrides: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": SECRET,
        "base_url": "http://testserver",
    }
    if database_url:
        overrides["database_url"] = database_url
    settings = load_settings(**overrides)
    upgrade(settings.database_url)
    return create_celery(settings)


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def celery(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertsCelery]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    app = build(tmp_path_factory.mktemp(f"hard-{request.param}"), url)
    try:
        yield app
    finally:
        app.runtime.dispose()


@pytest.fixture(scope="module")
def client(celery: AlertsCelery) -> Iterator[TestClient]:
    with TestClient(create_app(celery), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def auth(celery: AlertsCelery) -> dict[str, str]:
    with celery.runtime.sessions() as session:
        key = create_key(session, "desk", "admin", utcnow())[1]
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def items_stored(celery: AlertsCelery) -> int:
    with celery.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "x", "countries": NaN}',
        b'{"title": "x", "countries": Infinity}',
        b'{"title": "x", "countries": -Infinity}',
        b'{"title": "x", "topics": [NaN]}',
        b'{"title": "\\ud800x"}',
        b'{"title": "x", "countries": ["\\udfff"]}',
        b'{"title": "x", "\\ud800": 1}',
        b'{"title": {"\\ud800": NaN}}',
    ],
)
def test_unencodable_input_is_a_422(
    celery: AlertsCelery, client: TestClient, auth: dict[str, str], raw: bytes
) -> None:
    before = items_stored(celery)
    response = client.post(
        "/api/items", content=raw, headers=auth | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert items_stored(celery) == before


def test_nan_is_named_in_the_error(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/items",
        content=b'{"title": "x", "countries": NaN}',
        headers=auth | {"Content-Type": "application/json"},
    )
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "countries"]
    assert error["input"] == str(math.nan)


def test_long_values_are_not_echoed(
    celery: AlertsCelery, client: TestClient, auth: dict[str, str]
) -> None:
    # Other tests share this database: count what is stored, not that nothing is.
    before = items_stored(celery)
    title = "T" * 500_000
    response = client.post("/api/items", json=ITEM | {"title": title}, headers=auth)
    assert response.status_code == 422
    assert len(response.content) < 5_000
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "title"] and "500 characters" in error["msg"]
    assert error["input"].startswith("TTTT") and "500000 characters" in error["input"]
    # A missing field echoes the whole body as its input: that is cut too.
    response = client.post("/api/items", json={"summary": "S" * 500_000}, headers=auth)
    assert response.status_code == 422 and len(response.content) < 5_000
    assert items_stored(celery) == before


@pytest.mark.parametrize(
    "path",
    [
        f"/staff/items/{BIG_ID}",
        f"/ops/items/{BIG_ID}",
        f"/staff/items/{-BIG_ID}",
        "/staff/items/2147483648",
        f"/ops/items/{BIG_ID * 10**30}",
    ],
)
def test_ids_out_of_range_are_pages_not_found(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/items/{BIG_ID}"),
        ("PATCH", f"/api/items/{BIG_ID}"),
        ("POST", f"/api/items/{BIG_ID}/publish"),
        ("DELETE", f"/api/keys/{BIG_ID}"),
        ("DELETE", f"/api/journalists/{BIG_ID}"),
    ],
)
def test_api_ids_out_of_range_are_422(
    client: TestClient, auth: dict[str, str], method: str, path: str
) -> None:
    response = client.request(method, path, headers=auth, json={})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "path"


def test_staff_forms_with_big_ids_are_not_found(client: TestClient) -> None:
    response = client.post(f"/staff/items/{BIG_ID}/publish", data={"csrf_token": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("fields", "named", "suggested"),
    [
        ({"countires": ["MX"]}, "countires", "countries"),
        ({"topic": ["asylum"]}, "topic", "topics"),
        ({"colour": "red"}, "colour", None),
    ],
)
def test_misspelt_keys_are_refused_and_nothing_is_published(
    celery: AlertsCelery,
    client: TestClient,
    auth: dict[str, str],
    fields: dict[str, object],
    named: str,
    suggested: str | None,
) -> None:
    before = items_stored(celery)
    response = client.post(
        "/api/items", json={"title": "Mexico: new report"} | fields, headers=auth
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert f'unknown key "{named}"' in error["msg"]
    if suggested:
        assert f'did you mean "{suggested}"' in error["msg"]
    assert items_stored(celery) == before


def test_misspelt_keys_in_updates_change_nothing(
    celery: AlertsCelery, client: TestClient, auth: dict[str, str]
) -> None:
    created = client.post("/api/items", json=ITEM, headers=auth)
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    response = client.patch(
        f"/api/items/{item_id}", json={"title": "Changed", "countires": []}, headers=auth
    )
    assert response.status_code == 422
    assert 'did you mean "countries"' in response.json()["detail"][0]["msg"]
    stored = client.get(f"/api/items/{item_id}", headers=auth).json()
    assert stored["title"] == ITEM["title"] and stored["countries"] == ["MX"]
    for path, body, suggestion in [
        (f"/api/items/{item_id}/schedule", {"publish_on": "2030-01-01T00:00:00Z"}, "publish_at"),
        (f"/api/items/{item_id}/embargo", {"untill": "2030-01-01T00:00:00Z"}, "until"),
        (f"/api/items/{item_id}/correct", {"titel": "x"}, "title"),
        ("/api/keys", {"name": "bot", "rol": "admin"}, "role"),
    ]:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code == 422, (path, response.text)
        assert f'did you mean "{suggestion}"' in response.json()["detail"][0]["msg"]
    assert client.get(f"/api/items/{item_id}", headers=auth).json()["status"] == "draft"
