"""Why a feed entry was left a draft is stored on the item and shown to staff everywhere.

A real feed on a local server names a lead photo that cannot be had (a 404, a page
that is not an image, a server too slow to answer); the poll stores the entry as a
draft with the reason in ``items.import_problem``. Staff read it in
``GET /api/items/{id}``, on the staff item page (in their language) and in
``alerts items show``; it goes once they set a photo or publish.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alerts.cli.root import app as alerts_app
from alerts.core.models import Item, ItemStatus, utcnow
from alerts.feeds.ingest import poll_all
from alerts.feeds.lead_photos import LeadPhotos
from alerts.staff.keys import create_key
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.test_api import Keys
from tests.test_feed_enclosures import media_content, only_the_feed, rss
from tests.test_feeds import FeedServer, register
from tests.test_media_files import gps_jpeg
from tests.webclient import csrf

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    try:
        yield feeds
    finally:
        feeds.stop()


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    app = create_app(pipeline.app, SignUpLimits("memory://", "100/hour", "1000/hour"))
    with TestClient(app, base_url=pipeline.settings.base_url) as client:
        yield client


def _poll(pipeline: Stack, server: FeedServer, photo_path: str) -> int:
    feed_url = server.serve("/feed.rss", rss(media_content(server.url(photo_path))), "text/xml")
    runtime = pipeline.app.runtime
    register(runtime.sessions, feed_url)
    with only_the_feed(feed_url) as client:
        summary = poll_all(
            runtime.sessions, runtime.taxonomy, client, utcnow(), LeadPhotos.of(runtime.settings)
        )
    [item_id] = summary["results"][0]["drafted"]
    return int(item_id)


def _problem(pipeline: Stack, item_id: int) -> str | None:
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item.import_problem


def _sign_in(pipeline: Stack, client: TestClient) -> None:
    with pipeline.session() as session:
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    form = client.get("/staff/login")
    done = client.post(
        "/staff/login", data={"key": key, "csrf_token": csrf(form.text)}, follow_redirects=False
    )
    assert done.status_code == 303


def _cli_show(pipeline: Stack, monkeypatch: pytest.MonkeyPatch, item_id: int) -> dict[str, Any]:
    for name, value in pipeline.env.items():
        if name.startswith("ALERTS_"):
            monkeypatch.setenv(name, value)
    shown = runner.invoke(alerts_app, ["items", "show", str(item_id), "--json"])
    assert shown.exit_code == 0, shown.output
    record: dict[str, Any] = json.loads(shown.stdout)
    plain = runner.invoke(alerts_app, ["items", "show", str(item_id)])
    assert plain.exit_code == 0, plain.output
    record["_plain"] = " ".join(plain.output.split())
    return record


def test_a_photo_that_404s_is_the_reason_staff_read_until_they_set_a_photo(
    pipeline: Stack, server: FeedServer, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = _poll(pipeline, server, "/gone.jpg")
    assert _problem(pipeline, item_id) == "lead photo not stored: HTTP 404 Not Found"

    auth = Keys.auth(Keys(pipeline).publisher)
    shown = api.get(f"/api/items/{item_id}", headers=auth)
    assert shown.status_code == 200
    assert shown.json()["status"] == ItemStatus.DRAFT
    assert shown.json()["import_problem"] == "lead photo not stored: HTTP 404 Not Found"

    record = _cli_show(pipeline, monkeypatch, item_id)
    assert record["import_problem"] == "lead photo not stored: HTTP 404 Not Found"
    assert "import problem lead photo not stored: HTTP 404 Not Found" in record["_plain"]

    _sign_in(pipeline, api)
    page = api.get(f"/staff/items/{item_id}?lang=es")
    assert page.status_code == 200
    assert 'id="import-problem"' in page.text
    assert "Importado de un feed y dejado como borrador:" in page.text
    assert "lead photo not stored: HTTP 404 Not Found" in page.text

    # Staff upload a photo and set it: the notice has done its work.
    uploaded = api.post(
        "/api/media", headers=auth, files={"file": ("p.jpg", gps_jpeg(800, 600), "image/jpeg")}
    )
    assert uploaded.status_code == 201, uploaded.text
    image = {"media_id": uploaded.json()["id"], "alt": "Families at the border"}
    edited = api.patch(f"/api/items/{item_id}", headers=auth, json={"image": image})
    assert edited.status_code == 200, edited.text
    assert edited.json()["import_problem"] is None
    assert _problem(pipeline, item_id) is None
    assert 'id="import-problem"' not in api.get(f"/staff/items/{item_id}").text


def test_publishing_without_a_photo_clears_the_reason(
    pipeline: Stack, server: FeedServer, api: TestClient
) -> None:
    server.serve("/page", b"<html><body>Moved</body></html>", "text/html")
    item_id = _poll(pipeline, server, "/page")
    assert _problem(pipeline, item_id) == "lead photo not stored: not an image (text/html)"
    auth = Keys.auth(Keys(pipeline).publisher)
    # An edit that sets no photo leaves the reason where it is.
    edited = api.patch(f"/api/items/{item_id}", headers=auth, json={"summary": "Updated."})
    assert edited.json()["import_problem"] == "lead photo not stored: not an image (text/html)"
    published = api.post(f"/api/items/{item_id}/publish", headers=auth)
    assert published.status_code == 200, published.text
    assert published.json()["import_problem"] is None
    assert _problem(pipeline, item_id) is None
