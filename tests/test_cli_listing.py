"""`alerts journalists list|show` and `alerts items list|show` on a migrated store.

Each test runs on a SQLite file and on a PostgreSQL database of its own, both made
by `alerts db upgrade`. The rows are written through the project's use cases
(tests/factories.py) or, for what only the workers and the bounce server write
(deliveries, bounce reports), as plain rows; what the commands print is compared
with values written out here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from alerts.audience import membership
from alerts.cli.root import app
from alerts.core.db import make_engine
from alerts.core.models import (
    BounceEvent,
    Delivery,
    DeliveryStatus,
    ItemStatus,
    JournalistStatus,
    UnsubscribeMethod,
)
from tests.conftest import PG_ADMIN_URL, PG_HOST, SECRET
from tests.factories import journalist, published_item, suppress

runner = CliRunner()
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@dataclass
class Store:
    url: str
    sessions: sessionmaker[Session]


@pytest.fixture(params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    for name in ("ALERTS_DATABASE_URL", "ALERTS_BROKER_URL", "ALERTS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTS_DATA_DIR", str(tmp_path))
    name = f"alerts_listing_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://{PG_HOST}/{name}"
        monkeypatch.setenv("ALERTS_DATABASE_URL", url)
        monkeypatch.setenv("ALERTS_SECRET_KEY", SECRET)
    else:
        url = f"sqlite:///{tmp_path / 'alerts.db'}"
    engine = make_engine(url)
    try:
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        yield Store(url, sessionmaker(engine, expire_on_commit=False))
    finally:
        engine.dispose()
        if request.param == "postgres":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def cli_json(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def words(result: Result) -> str:
    return " ".join(result.output.split())


def newsroom(store: Store) -> None:
    """Four journalists whose subscriptions differ in one way each."""
    with store.sessions() as session:
        journalist(session, "ana@diario.example", (["MX"], ["asylum"]), name="Ana")
        journalist(session, "ben@wire.example", ([], [], "daily"), name="Ben")
        journalist(
            session,
            "chloe@journal.example",
            (["FR"], ["torture"], "weekly"),
            (["MX"], ["womens-rights"]),
            name="Chloé",
        )
        journalist(session, "dev@post.example", (["europe"], []), status=JournalistStatus.PENDING)
        session.commit()


def emails(*args: str) -> list[str]:
    return [row["email"] for row in cli_json("journalists", "list", *args)["journalists"]]


def test_journalists_list_filters(store: Store) -> None:
    newsroom(store)
    everyone = [
        "ana@diario.example",
        "ben@wire.example",
        "chloe@journal.example",
        "dev@post.example",
    ]
    assert emails() == everyone
    assert emails("--status", "pending") == ["dev@post.example"]
    assert emails("--status", "active", "--status", "pending") == everyone
    # A country filter finds who an item about it would reach: a subscription that
    # names it, one that takes any country (Ben), one to a region holding it (Dev).
    assert emails("--country", "mx") == [
        "ana@diario.example",
        "ben@wire.example",
        "chloe@journal.example",
    ]
    assert emails("--country", "FR") == [
        "ben@wire.example",
        "chloe@journal.example",
        "dev@post.example",
    ]
    assert emails("--topic", "torture") == [
        "ben@wire.example",
        "chloe@journal.example",
        "dev@post.example",
    ]
    assert emails("--cadence", "weekly") == ["chloe@journal.example"]
    # The subscription filters hold on one subscription: Chloé's weekly one is about
    # France and torture, her Mexico one is immediate.
    assert emails("--country", "MX", "--cadence", "weekly") == []
    assert emails("--country", "FR", "--topic", "torture", "--cadence", "weekly") == [
        "chloe@journal.example"
    ]
    assert emails("--topic", "asylum", "--status", "pending") == ["dev@post.example"]


def test_journalists_list_json_shape_and_table(store: Store) -> None:
    newsroom(store)
    data = cli_json("journalists", "list", "--cadence", "weekly")
    assert data == {
        "total": 1,
        "shown": 1,
        "journalists": [
            {
                "email": "chloe@journal.example",
                "name": "Chloé",
                "outlet": "",
                "language": "en",
                "status": "active",
                "verified": False,
                "cadences": ["immediate", "weekly"],
                "countries": ["FR", "MX"],
                "any_country": False,
                "topics": ["torture", "womens-rights"],
                "any_topic": False,
                "subscriptions": 2,
            }
        ],
    }
    table = cli("journalists", "list")
    assert table.exit_code == 0, table.output
    lines = {line.split()[1]: line for line in table.stdout.splitlines() if "@" in line}
    assert "immediate, weekly" in lines["chloe@journal.example"]
    assert "FR, MX" in lines["chloe@journal.example"]
    assert "daily" in lines["ben@wire.example"] and "any" in lines["ben@wire.example"]
    assert "pending" in lines["dev@post.example"]


def test_journalists_list_limit_says_how_many_more(store: Store) -> None:
    newsroom(store)
    table = cli("journalists", "list", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "dev@post.example" not in table.stdout
    assert "… 1 more journalist(s)" in table.stdout
    data = cli_json("journalists", "list", "--limit", "3")
    assert (data["total"], data["shown"], len(data["journalists"])) == (4, 3, 3)
    assert "more" not in cli("journalists", "list", "--limit", "4").stdout


def test_empty_results(store: Store) -> None:
    listed = cli("journalists", "list")
    assert listed.exit_code == 0 and listed.stdout.strip() == "no journalists match"
    assert cli_json("journalists", "list") == {"total": 0, "shown": 0, "journalists": []}
    items = cli("items", "list")
    assert items.exit_code == 0 and items.stdout.strip() == "no items match"
    assert cli_json("items", "list") == {"total": 0, "shown": 0, "items": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["journalists", "list", "--status", "gone"], "unknown status: gone (one of pending,"),
        (["journalists", "list", "--country", "XX"], "unknown country or region: XX"),
        (["journalists", "list", "--topic", "cooking"], "unknown topic: cooking"),
        (["journalists", "list", "--cadence", "hourly"], "unknown cadence: hourly"),
        (["items", "list", "--status", "sent"], "unknown status: sent (one of draft,"),
        (["items", "list", "--kind", "tweet"], "unknown kind: tweet (one of press_release,"),
        (["items", "list", "--country", "ZZ"], "unknown country or region: ZZ"),
        (["items", "list", "--topic", "[red]x"], "unknown topic: [red]x"),
        (["journalists", "show", "not-an-address"], "invalid email address 'not-an-address'"),
    ],
)
def test_unknown_values_are_refused(store: Store, args: list[str], message: str) -> None:
    newsroom(store)
    for extra in ([], ["--json"]):
        result = cli(*args, *extra)
        assert result.exit_code == 2, result.output
        assert message in words(result)
        assert result.stdout == ""  # nothing a script could take for a result


def test_journalists_show_the_whole_record(store: Store) -> None:
    with store.sessions() as session:
        ana = journalist(
            session, "ana@diario.example", (["MX"], ["asylum"]), ([], [], "daily"), name="Ana"
        )
        ana.outlet = "El Diario"
        ana.created_at = T0
        ana.confirmed_at = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
        ana.verified_at = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
        ana.verified_by = "desk"
        ben = journalist(session, "ben@wire.example", ([], []))
        first = published_item(session, title="Mexico: first report")
        second = published_item(session, title="Mexico: second report")
        other = published_item(session, title="For Ben only")
        session.flush()
        bounced = Delivery(
            item_id=first,
            journalist_id=ana.id,
            status=DeliveryStatus.SENT,
            attempts=1,
            created_at=datetime(2026, 3, 6, 10, 0, tzinfo=UTC),
            sent_at=datetime(2026, 3, 6, 10, 1, tzinfo=UTC),
        )
        session.add(bounced)
        session.add(
            Delivery(
                item_id=second,
                journalist_id=ana.id,
                status=DeliveryStatus.FAILED,
                attempts=3,
                last_reply="552 5.3.4 message too big",
                created_at=datetime(2026, 3, 7, 10, 0, tzinfo=UTC),
            )
        )
        session.add(Delivery(item_id=other, journalist_id=ben.id, status=DeliveryStatus.SENT))
        session.flush()
        session.add(
            BounceEvent(
                delivery_id=bounced.id,
                journalist_id=ana.id,
                kind="soft",
                status="4.2.2",
                detail="mailbox full",
                created_at=datetime(2026, 3, 6, 11, 0, tzinfo=UTC),
            )
        )
        membership.unsubscribe_all(
            session, ana.id, UnsubscribeMethod.ONE_CLICK, datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
        )
        session.commit()

    record = cli_json("journalists", "show", "  ANA@Diario.Example ")
    assert (record["email"], record["name"], record["outlet"]) == (
        "ana@diario.example",
        "Ana",
        "El Diario",
    )
    assert record["status"] == "unsubscribed"
    assert [(s["cadence"], s["countries"], s["topics"]) for s in record["subscriptions"]] == [
        ("immediate", ["MX"], ["asylum"]),
        ("daily", [], []),
    ]
    history = record["history"]
    assert history["created_at"] == "2026-03-04T05:06:07+00:00"
    assert history["confirmed_at"] == "2026-03-04T06:00:00+00:00"
    assert history["unsubscribed_at"] == "2026-03-08T12:00:00+00:00"
    assert (history["verified_at"], history["verified_by"]) == ("2026-03-05T09:30:00+00:00", "desk")
    assert history["erased_at"] is None
    assert record["unsubscribe_events"] == [
        {"method": "one-click", "created_at": "2026-03-08T12:00:00+00:00"}
    ]
    assert record["suppression"]["reason"].endswith("(one-click)")
    assert record["bounce_events"] == [
        {
            "kind": "soft",
            "status": "4.2.2",
            "detail": "mailbox full",
            "created_at": "2026-03-06T11:00:00+00:00",
        }
    ]
    # Newest first, and only Ana's.
    assert [(d["title"], d["status"]) for d in record["deliveries"]] == [
        ("Mexico: second report", "failed"),
        ("Mexico: first report", "sent"),
    ]
    assert record["deliveries"][0]["last_reply"] == "552 5.3.4 message too big"
    assert record["deliveries"][1]["sent_at"] == "2026-03-06T10:01:00+00:00"
    assert record["deliveries_total"] == 2
    assert (
        len(
            cli_json("journalists", "show", "ana@diario.example", "--deliveries", "1")["deliveries"]
        )
        == 1
    )

    shown = cli("journalists", "show", "ana@diario.example")
    assert shown.exit_code == 0, shown.output
    text = words(shown)
    for expected in (
        "El Diario",
        "unsubscribed 2026-03-08 12:00 UTC",
        "verified press 2026-03-05 09:30 UTC by desk",
        "unsubscribe 2026-03-08 12:00 UTC (one-click)",
        "bounce 2026-03-06 11:00 UTC soft 4.2.2: mailbox full",
        "Mexico: second report",
        "552 5.3.4 message too big",
        "Last deliveries (2 of 2)",
    ):
        assert expected in text, expected
    assert "For Ben only" not in text


def test_journalists_show_unknown_or_erased_address(store: Store) -> None:
    with store.sessions() as session:
        gone = journalist(session, "gone@example.net", ([], []))
        session.flush()
        membership.erase(session, gone.id, T0, lambda email: f"hash:{email}")
        session.commit()
    for address in ("nobody@example.net", "gone@example.net"):
        result = cli("journalists", "show", address)
        assert result.exit_code == 1, result.output
        assert f"no journalist with the address {address}" in words(result)
        assert result.stdout == ""


def items_newsroom(store: Store) -> dict[str, int]:
    with store.sessions() as session:
        ids = {
            "mx": published_item(
                session, title="Mexico: asylum", countries=["MX"], topics=["asylum"]
            ),
            "fr": published_item(
                session,
                title="France: a report",
                kind="report",
                countries=["FR"],
                topics=["torture"],
            ),
            "world": published_item(session, title="Everywhere", topics=["journalists"]),
        }
        session.commit()
    return ids


def titles(*args: str) -> list[str]:
    return [row["title"] for row in cli_json("items", "list", *args)["items"]]


def test_items_list_filters(store: Store) -> None:
    items_newsroom(store)
    publish = cli("publish", "--title", "A draft? no: published", "--kind", "statement")
    assert publish.exit_code == 0, publish.output
    assert titles() == [
        "A draft? no: published",
        "Everywhere",
        "France: a report",
        "Mexico: asylum",
    ]
    assert titles("--kind", "report") == ["France: a report"]
    assert titles("--kind", "report", "--kind", "statement") == [
        "A draft? no: published",
        "France: a report",
    ]
    assert titles("--country", "mx") == ["Mexico: asylum"]
    assert titles("--country", "europe") == ["France: a report"]
    assert titles("--topic", "torture", "--topic", "asylum") == [
        "France: a report",
        "Mexico: asylum",
    ]
    assert titles("--topic", "torture", "--country", "MX") == []
    assert titles("--status", "published", "--limit", "2") == [
        "A draft? no: published",
        "Everywhere",
    ]
    assert titles("--status", "draft") == []
    limited = cli("items", "list", "--limit", "1")
    assert "… 3 more item(s)" in limited.stdout


def test_items_show_reach_and_progress(store: Store) -> None:
    ids = items_newsroom(store)
    with store.sessions() as session:
        people = [journalist(session, f"p{n}@example.net", (["MX"], [])) for n in range(6)] + [
            journalist(session, "digest@example.net", (["MX"], [], "daily"))
        ]
        journalist(session, "fr@example.net", (["FR"], []))
        session.flush()
        statuses = [
            DeliveryStatus.SENT,
            DeliveryStatus.SENT,
            DeliveryStatus.SENT,
            DeliveryStatus.FAILED,
            DeliveryStatus.PENDING,
            DeliveryStatus.SENDING,
            DeliveryStatus.CANCELLED,
        ]
        rows = [
            Delivery(item_id=ids["mx"], journalist_id=p.id, status=s)
            for p, s in zip(people, statuses, strict=True)
        ]
        session.add_all(rows)
        session.flush()
        # Two reports on one delivery (a delay, then the failure) are one bounced delivery.
        for kind, status in (("soft", "4.4.7"), ("hard", "5.1.1")):
            session.add(
                BounceEvent(
                    delivery_id=rows[0].id, journalist_id=people[0].id, kind=kind, status=status
                )
            )
        session.add(BounceEvent(delivery_id=rows[1].id, journalist_id=people[1].id, kind="hard"))
        session.add(
            BounceEvent(delivery_id=rows[2].id, journalist_id=people[2].id, kind="complaint")
        )
        suppress(session, "p5@example.net")
        session.commit()

    record = cli_json("items", "show", str(ids["mx"]))
    assert (record["title"], record["status"], record["kind"]) == (
        "Mexico: asylum",
        ItemStatus.PUBLISHED,
        "press_release",
    )
    assert (record["countries"], record["topics"]) == (["MX"], ["asylum"])
    assert record["published_at"] is not None and record["published_at"].endswith("+00:00")
    assert record["embargo_until"] is None and record["publish_at"] is None
    assert record["progress"] == {
        "total": 7,
        "sent": 3,
        "failed": 1,
        "pending": 2,
        "cancelled": 1,
        "bounced": 2,
        "complaints": 1,
    }
    # Six immediate MX subscribers, one of them suppressed; the daily one waits for a digest.
    assert record["reach"] == {"matched": 5, "deliveries": 7, "fanned_out_at": None}

    listed = cli_json("items", "list", "--country", "MX")["items"]
    assert [(i["id"], i["progress"]["sent"], i["progress"]["total"]) for i in listed] == [
        (ids["mx"], 3, 7)
    ]

    shown = cli("items", "show", str(ids["mx"]))
    assert shown.exit_code == 0, shown.output
    text = words(shown)
    assert "matches now 5 journalist(s)" in text and "deliveries 7" in text
    table = [line.split() for line in shown.stdout.splitlines() if line.startswith("│")]
    assert table == [["│", "3", "│", "1", "│", "2", "│", "1", "│", "2", "│", "1", "│"]]


def test_items_show_unknown_item(store: Store) -> None:
    for extra in ([], ["--json"]):
        result = cli("items", "show", "4242", *extra)
        assert result.exit_code == 1, result.output
        assert "no item 4242" in words(result)
        assert result.stdout == ""
    assert cli("items", "show", "first").exit_code == 2


def test_an_embargoed_item_shows_when_it_lifts(store: Store) -> None:
    at = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
    lift = f"{at:%Y-%m-%dT%H:%M}+00:00"
    made = cli("publish", "--title", "Under embargo", "--country", "MX", "--embargo-until", lift)
    assert made.exit_code == 0, made.output
    item_id = made.stdout.strip()
    record = cli_json("items", "show", item_id)
    assert (record["status"], record["embargo_until"]) == (
        "embargoed",
        f"{at:%Y-%m-%dT%H:%M}:00+00:00",
    )
    assert titles("--status", "embargoed") == ["Under embargo"]
    assert f"embargo until {at:%Y-%m-%d %H:%M} UTC" in words(cli("items", "list"))


def test_publish_and_import_json(store: Store, tmp_path: Path) -> None:
    published = cli_json(
        "publish", "--title", "Mexico: json", "--country", "MX", "--topic", "asylum"
    )
    [item] = published["items"]
    assert (item["title"], item["status"], item["countries"], item["topics"]) == (
        "Mexico: json",
        "published",
        ["MX"],
        ["asylum"],
    )
    assert cli_json("items", "show", str(item["id"]))["published_at"] == item["published_at"]

    path = tmp_path / "people.csv"
    path.write_text("email,name,outlet,countries,topics,cadence\nana@diario.example,Ana,D,MX,,\n")
    assert cli_json("journalists", "import", str(path)) == {
        "journalists_created": 1,
        "journalists_updated": 0,
        "subscriptions_added": 1,
        "skipped": [],
    }
