"""The CLI on the embedded defaults: bad input is a clear error and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from alerts.cli.root import app
from alerts.core.db import make_engine
from alerts.core.models import Item, ItemStatus, Journalist, JournalistStatus, Subscription

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("ALERTS_DATABASE_URL", "ALERTS_BROKER_URL", "ALERTS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield tmp_path


def _count(data_dir: Path, model: type) -> int:
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).select_from(model)).scalar_one()
    engine.dispose()
    return int(value)


def test_publish_prints_the_item_id_and_stores_it_published(data_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            "publish",
            "--title",
            "Mexico: new report",
            "--country",
            "MX",
            "--topic",
            "asylum",
            "--url",
            "https://ngo.example/r",
        ],
    )
    assert result.exit_code == 0, result.output
    item_id = int(result.output.strip())
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        status = conn.execute(select(Item.status).where(Item.id == item_id)).scalar_one()
    engine.dispose()
    assert status == ItemStatus.PUBLISHED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--title", "T", "--country", "XX"], "unknown country: XX"),
        (["--title", "T", "--country", "europe"], "unknown country: europe"),
        (["--title", "T", "--topic", "gardening"], "unknown topic: gardening"),
        (["--title", "   "], "title: String should have at least 1 character"),
        (["--title", "T", "--kind", "tweet"], "unknown kind 'tweet'"),
        (["--title", "T", "--url", "javascript:alert(1)"], "url must be an http(s) address"),
        ([], "give --title"),
    ],
)
def test_publish_bad_input_is_refused_and_nothing_stored(
    data_dir: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["publish", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert _count(data_dir, Item) == 0


def test_publish_file_is_all_or_nothing(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        json.dumps(
            {
                "items": [
                    {"title": "Good", "countries": ["MX"], "topics": ["asylum"]},
                    {"title": "Bad", "countries": ["ZZ"], "topics": []},
                ]
            }
        )
    )
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 2 and "unknown country: ZZ" in result.output
    assert _count(data_dir, Item) == 0

    path.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "title": "Good",
                        "countries": ["MX"],
                        "topics": ["asylum"],
                        "kind": "report",
                        "published": "2017-06-15",
                        "campaign": "Crisis Mission",
                    },
                    {"title": "Also good", "countries": [], "topics": ["torture"]},
                ]
            }
        )
    )
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert len(result.output.split()) == 2
    assert _count(data_dir, Item) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {
                "items": [
                    {"title": "Good", "countries": ["MX"], "topics": ["asylum"]},
                    {"title": "Misspelt", "countires": ["MX"], "topics": ["asylum"]},
                ]
            },
            'item 2: unknown key "countires" (did you mean "countries"?)',
        ),
        (
            [{"title": "Misspelt", "countries": ["MX"], "topic": ["asylum"]}],
            'item 1: unknown key "topic" (did you mean "topics"?)',
        ),
        (
            {"items": [{"title": "Good", "countries": ["MX"]}], "sorce": "our CMS"},
            'unknown key "sorce" (did you mean "source"?)',
        ),
    ],
)
def test_publish_file_refuses_a_misspelt_key_and_publishes_nothing(
    data_dir: Path, tmp_path: Path, content: object, message: str
) -> None:
    """A misspelt key ignored would change the audience: "countires" means every country."""
    path = tmp_path / "items.json"
    path.write_text(json.dumps(content))
    result = runner.invoke(app, ["publish", "--file", str(path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert _count(data_dir, Item) == 0


def test_publish_file_takes_the_seed_file_as_it_is(data_dir: Path) -> None:
    seed = Path(__file__).parents[1] / "alerts" / "data" / "newsroom-items.json"
    result = runner.invoke(app, ["publish", "--file", str(seed)])
    assert result.exit_code == 0, result.output
    assert _count(data_dir, Item) == len(json.loads(seed.read_text())["items"])


def test_publish_before_the_database_exists_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path / "fresh"))
    result = runner.invoke(app, ["publish", "--title", "T"])
    assert result.exit_code == 1
    assert "alerts db upgrade" in result.output


GOOD_CSV = """email,name,outlet,countries,topics,cadence
Ana.Lopez@Diario.example,Ana López,El Diario,MX;americas,asylum,immediate
ana.lopez@diario.example,Ana López,El Diario,,torture,daily
ben@wire.example,Ben,Wire,,,
"""


def test_import_journalists(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text(GOOD_CSV)
    result = runner.invoke(app, ["journalists", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 journalist(s) added" in result.output and "3 subscription(s)" in result.output
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.connect() as conn:
        people = dict(conn.execute(select(Journalist.email, Journalist.status)).all())
    engine.dispose()
    assert people == {
        "ana.lopez@diario.example": JournalistStatus.ACTIVE,
        "ben@wire.example": JournalistStatus.ACTIVE,
    }
    again = runner.invoke(app, ["journalists", "import", str(path)])
    assert again.exit_code == 0 and "0 subscription(s) added" in again.output
    assert _count(data_dir, Subscription) == 3


def test_import_reports_every_bad_row_and_stores_nothing(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "email,name,outlet,countries,topics,cadence\n"
        "good@example.net,Good,Outlet,MX,asylum,immediate\n"
        "not-an-address,Bad,Outlet,MX,,immediate\n"
        "josé@example.net,Bad,Outlet,MX,,immediate\n"
        "x@example.net,Bad,Outlet,XX,,immediate\n"
        "y@example.net,Bad,Outlet,,cooking,immediate\n"
        "z@example.net,Bad,Outlet,,,hourly\n"
        "w@example.net,Bad,Outlet,,,immediate,extra\n"
    )
    result = runner.invoke(app, ["journalists", "import", str(path)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "line 3: invalid email address 'not-an-address'" in output
    assert "line 4: invalid email address 'josé@example.net'" in output
    assert "line 5: unknown country or region: XX" in output
    assert "line 6: unknown topic: cooking" in output
    assert "line 7: unknown cadence 'hourly'" in output
    assert "line 8: more fields than columns" in output
    assert "nothing imported: 6 bad row(s)" in output
    assert _count(data_dir, Journalist) == 0


def test_import_with_wrong_header_is_refused(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("mail,name\nx@example.net,X\n")
    result = runner.invoke(app, ["journalists", "import", str(path)])
    assert result.exit_code == 2
    assert "missing column(s) email, outlet, countries, topics, cadence" in result.output


def test_import_never_resubscribes_someone_who_left(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text(GOOD_CSV)
    assert runner.invoke(app, ["journalists", "import", str(path)]).exit_code == 0
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.begin() as conn:
        conn.execute(
            update(Journalist)
            .where(Journalist.email == "ben@wire.example")
            .values(status=JournalistStatus.UNSUBSCRIBED)
        )
    path.write_text("email,name,outlet,countries,topics,cadence\nben@wire.example,Ben,W,MX,,\n")
    result = runner.invoke(app, ["journalists", "import", str(path)])
    assert result.exit_code == 0
    assert "ben@wire.example unsubscribed or suppressed" in " ".join(result.output.split())
    with engine.connect() as conn:
        status = conn.execute(
            select(Journalist.status).where(Journalist.email == "ben@wire.example")
        ).scalar_one()
    engine.dispose()
    assert status == JournalistStatus.UNSUBSCRIBED
    assert _count(data_dir, Subscription) == 3


def test_import_refuses_a_short_row_and_a_bad_byte_by_line(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_bytes(
        b"email,name,outlet,countries,topics,cadence\nshort@example.com\nb@example.net,B\xe9a,,,,\n"
    )
    result = runner.invoke(app, ["journalists", "import", str(path)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "line 2: fewer fields than columns (1, the header has 6)" in output
    assert "line 3: not UTF-8 text" in output
    assert "nothing imported: 2 bad row(s), 2 problem(s)" in output
    assert _count(data_dir, Journalist) == 0
