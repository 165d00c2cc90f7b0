"""The media store end to end: `alerts media add`, the files on disk, GET /media from the app."""

from __future__ import annotations

import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from alerts.cli.root import app
from alerts.core.db import make_engine
from alerts.core.models import Media
from alerts.core.settings import load_settings
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media
from alerts.web import create_app
from alerts.worker.app import create_celery
from tests.test_cli import _count, data_dir, runner
from tests.test_media_files import SERIAL, gps_jpeg

__all__ = ["data_dir"]  # the fixture, shared with test_cli


def _client() -> TestClient:
    settings = load_settings()
    return TestClient(create_app(create_celery(settings)), base_url=settings.base_url)


def test_media_add_stores_a_clean_photo_served_with_a_long_cache_life(
    data_dir: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "border.jpg"
    photo.write_bytes(gps_jpeg())
    result = runner.invoke(app, ["media", "add", str(photo)])
    assert result.exit_code == 0, result.output
    stored = json.loads(result.stdout)
    assert stored["type"] == "image/jpeg"
    assert (stored["width"], stored["height"]) == (1600, 1067)
    assert stored["url"] == f"http://127.0.0.1:8000/media/{stored['id']}/web.jpg"
    assert [p.name for p in (data_dir / "media").iterdir()] == [stored["id"]]

    with _client() as client:
        for name, width in (("web.jpg", 1600), ("email.jpg", 600), ("email2x.jpg", 1200)):
            response = client.get(f"/media/{stored['id']}/{name}")
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/jpeg"
            assert "max-age=31536000" in response.headers["cache-control"]
            image = Image.open(io.BytesIO(response.content))
            assert image.width == width and len(image.getexif()) == 0
            assert b"Exif" not in response.content and SERIAL.encode() not in response.content
        assert client.get(f"/media/{stored['id']}/..%2Falerts.db").status_code == 404
        assert client.get("/media/nosuchidnosuchid/web.jpg").status_code == 404


def test_media_add_serves_a_pdf_and_refuses_an_executable_renamed_pdf(
    data_dir: Path, tmp_path: Path
) -> None:
    report = tmp_path / "Facing Walls.pdf"
    report.write_bytes(b"%PDF-1.7\n" + b"0" * 2_400_000)
    result = runner.invoke(app, ["media", "add", str(report)])
    assert result.exit_code == 0, result.output
    stored = json.loads(result.stdout)
    assert stored["type"] == "application/pdf" and stored["size"] == 2_400_009
    assert stored["url"].endswith("/Facing-Walls.pdf")
    with _client() as client:
        response = client.get(stored["url"].removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"

    fake = tmp_path / "report.pdf"
    fake.write_bytes(b"MZ\x90\x00" + b"\x00" * 100)
    refused = runner.invoke(app, ["media", "add", str(fake)])
    assert refused.exit_code == 1 and "Not a document" in refused.output
    svg = tmp_path / "logo.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    refused = runner.invoke(app, ["media", "add", str(svg)])
    assert refused.exit_code == 1 and "SVG is not accepted" in refused.output
    assert _count(data_dir, Media) == 1
    assert len(list((data_dir / "media").iterdir())) == 1


def test_a_refused_or_oversized_upload_leaves_no_file_and_no_row(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    Media.metadata.create_all(engine, tables=[Media.__table__])  # type: ignore[list-item]
    root = tmp_path / "media"
    with Session(engine) as session:
        cases = ((b"%PDF-1.7" + b"0" * 200, "big.pdf", 100), (gps_jpeg()[:3000], "cut.jpg", 10**6))
        for data, name, limit in cases:
            try:
                add_media(session, root, name, data, max_bytes=limit)
            except MediaRefused:
                pass
            else:  # pragma: no cover - the assertion below says what went wrong
                raise AssertionError(f"{name} was accepted")
        session.commit()
        assert session.query(Media).count() == 0
    assert not root.exists() or list(root.iterdir()) == []
    engine.dispose()
