"""`alerts publish --file` with photos and documents given by path: stored first, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.cli.root import app
from alerts.core.db import make_engine
from alerts.core.models import Item, Media
from tests.rich_files import SVG, small_pdf
from tests.test_cli import _count, data_dir, runner
from tests.test_media_files import gps_jpeg

__all__ = ["data_dir"]  # the fixture, shared with test_cli


def _release(folder: Path, items: list[dict[str, object]]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "photo.jpg").write_bytes(gps_jpeg(1200, 800))
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "report.pdf").write_bytes(small_pdf())
    (folder / "logo.svg").write_bytes(SVG)
    path = folder / "items.json"
    path.write_text(json.dumps({"items": items}), encoding="utf-8")
    return path


def _item(title: str, **fields: object) -> dict[str, object]:
    return {"title": title, "countries": ["MX"], "topics": ["asylum"]} | fields


PHOTO = {"path": "photo.jpg", "alt": "The wall", "caption": "At dusk.", "credit": "Ana / NGO"}
REPORT = {"path": "docs/report.pdf", "title": "Full report"}


def _stored_files(data_dir: Path) -> list[Path]:
    media = data_dir / "media"
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def test_files_named_by_path_are_stored_and_the_items_point_at_them(
    data_dir: Path, tmp_path: Path
) -> None:
    path = _release(
        tmp_path / "release",
        [_item("With photo", image=PHOTO, attachments=[REPORT]), _item("Plain")],
    )
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        items = {row.title: row for row in conn.execute(select(Item)).all()}
        media = {row.id: row for row in conn.execute(select(Media)).all()}
    engine.dispose()
    photo = media[items["With photo"].image["media_id"]]
    report = media[items["With photo"].attachments[0]["media_id"]]
    assert (photo.kind, photo.width) == ("image", 1200)
    assert (report.kind, report.label) == ("document", "PDF")
    assert items["With photo"].image["alt"] == "The wall" and "path" not in photo.filename
    assert items["With photo"].attachments[0]["title"] == "Full report"
    assert items["Plain"].image is None
    assert (data_dir / "media" / report.id / report.filename).read_bytes() == small_pdf()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"image": PHOTO | {"path": "logo.svg"}}, "item 2: image.path logo.svg: Not a JPEG"),
        ({"image": PHOTO | {"path": "docs/report.pdf"}}, "item 2: image.path docs/report.pdf"),
        ({"attachments": [REPORT | {"path": "photo.jpg"}]}, "is an image, not a document"),
        ({"image": PHOTO | {"path": "missing.jpg"}}, "no such file: missing.jpg"),
        ({"image": {"path": "photo.jpg", "caption": "no alt"}}, "image.alt: Field required"),
    ],
    ids=["svg", "pdf-as-photo", "photo-as-document", "missing-file", "missing-alt"],
)
def test_one_bad_file_among_good_ones_writes_nothing(
    data_dir: Path, tmp_path: Path, bad: dict[str, object], message: str
) -> None:
    path = _release(
        tmp_path / "release",
        [
            _item("Good", image=PHOTO, attachments=[REPORT]),
            _item("Bad", **({"attachments": [REPORT]} | bad)),
            _item("Also good", image=PHOTO),
        ],
    )
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert _count(data_dir, Item) == 0 and _count(data_dir, Media) == 0
    assert _stored_files(data_dir) == []
