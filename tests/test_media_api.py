"""POST /api/media through the real app: the stored file's facts, or a clear refusal."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from alerts.core.models import Media
from alerts.web import create_app
from tests.conftest import Stack
from tests.test_api import Keys
from tests.test_media_files import SERIAL, gps_jpeg


@pytest.fixture
def api(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as client:
        yield client


def test_an_uploaded_photo_comes_back_clean_and_a_bad_one_is_refused(
    pipeline: Stack, api: TestClient
) -> None:
    keys = Keys(pipeline)
    auth = keys.auth(keys.publisher)
    photo = gps_jpeg()
    assert len(photo) > 0
    response = api.post("/api/media", files={"file": ("b.jpg", photo, "image/jpeg")}, headers=auth)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert set(stored) == {"id", "url", "type", "size", "width", "height"}
    assert (stored["type"], stored["width"], stored["height"]) == ("image/jpeg", 1600, 1067)
    fetched = api.get(stored["url"].removeprefix(pipeline.settings.base_url))
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
    assert len(Image.open(io.BytesIO(fetched.content)).getexif()) == 0
    assert SERIAL.encode() not in fetched.content and b"Exif" not in fetched.content

    for name, data, message in (
        ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        ("report.pdf", b"MZ\x90\x00" + b"\x00" * 64, "Not a document"),
    ):
        refused = api.post("/api/media", files={"file": (name, data)}, headers=auth)
        assert refused.status_code == 422 and message in refused.json()["detail"]
    over = pipeline.settings.media_max_bytes + 100_000
    too_big = api.post(
        "/api/media", files={"file": ("big.pdf", b"%PDF-" + b"0" * over)}, headers=auth
    )
    assert too_big.status_code == 413
    assert api.post("/api/media", files={"file": ("b.jpg", photo)}).status_code == 401
    with pipeline.session() as session:
        assert session.scalar(select(func.count()).select_from(Media)) == 1
