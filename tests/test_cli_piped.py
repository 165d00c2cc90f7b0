"""The listing commands as a script runs them: a real process, stdout a pipe, stdin closed.

Nothing may be cut or folded because there is no terminal to measure, and --json
must stay JSON whatever the environment asks of Rich (a narrow COLUMNS, forced
colours).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from alerts.core.db import make_engine
from alerts.core.models import Delivery, DeliveryStatus, Feed, Journalist

ENTRY = "from alerts.cli.root import main; main()"
TITLE = "[Update] Mexico: " + " ".join(f"word{n:03d}" for n in range(40))  # about 330 characters
OUTLET = "The Very Long Name Of A Regional Newspaper, Weekend Edition, " * 3


def run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_") and k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=base | {"ALERTS_DATA_DIR": str(data_dir)} | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,  # stdout is a pipe, as under a script or a supervisor
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def populated(data_dir: Path) -> int:
    """One item with a long title, sent to a journalist with a long outlet; the item id."""
    run(data_dir, "db", "upgrade")
    item_id = int(run(data_dir, "publish", "--title", TITLE, "--country", "MX").stdout)
    csv = data_dir / "people.csv"
    csv.write_text(
        f'email,name,outlet,countries,topics,cadence\nana@diario.example,Ana,"{OUTLET}",MX,,\n'
    )
    run(data_dir, "journalists", "import", str(csv))
    engine = make_engine(f"sqlite:///{data_dir / 'alerts.db'}")
    with engine.begin() as conn:
        ana = conn.scalar(select(Journalist.id).where(Journalist.email == "ana@diario.example"))
        conn.execute(
            insert(Delivery).values(
                item_id=item_id,
                journalist_id=ana,
                status=DeliveryStatus.SENT,
                attempts=1,
                created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                sent_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
            )
        )
        conn.execute(
            insert(Feed).values(
                url="https://reader:hunter2@feeds.example/" + "section/" * 20 + "rss.xml",
                kind="press_release",
                topic_map="{}",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    engine.dispose()
    return item_id


def test_tables_piped_keep_whole_titles_outlets_and_urls(tmp_path: Path) -> None:
    item_id = populated(tmp_path)
    for args in (
        ["items", "list"],
        ["items", "show", str(item_id)],
        ["journalists", "show", "ana@diario.example"],
        ["status"],
    ):
        out = run(tmp_path, *args).stdout
        assert TITLE in out, (args, out)
        assert "…" not in out, (args, out)
    for args in (["journalists", "list"], ["journalists", "show", "ana@diario.example"]):
        out = run(tmp_path, *args).stdout
        assert OUTLET.strip() in out, (args, out)
    feeds = run(tmp_path, "feed", "list").stdout
    assert "https://***@feeds.example/" + "section/" * 20 + "rss.xml" in feeds
    assert "hunter2" not in feeds


def _times(value: Any) -> list[str]:
    """Every string under a key ending in ``_at``, however deep."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k.endswith("_at") and isinstance(v, str)]
        return found + [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    return []


def test_json_is_plain_json_with_utc_times_whatever_rich_is_told(tmp_path: Path) -> None:
    item_id = populated(tmp_path)
    run(tmp_path, "staff", "add-key", "--name", "Desk", "--role", "publisher")
    hostile = {"COLUMNS": "30", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    outputs = {}
    for args in (
        ["items", "list"],
        ["items", "show", str(item_id)],
        ["journalists", "list"],
        ["journalists", "show", "ana@diario.example"],
        ["feed", "list"],
        ["staff", "list-keys"],
        ["status"],
    ):
        out = run(tmp_path, *args, "--json", **hostile).stdout
        assert "\x1b" not in out, args
        outputs[" ".join(args)] = json.loads(out)
    assert outputs[f"items show {item_id}"]["title"] == TITLE
    assert outputs["items list"]["items"][0]["title"] == TITLE
    assert outputs["journalists list"]["journalists"][0]["outlet"] == OUTLET.strip()
    [delivery] = outputs["journalists show ana@diario.example"]["deliveries"]
    assert (delivery["title"], delivery["sent_at"]) == (TITLE, "2026-01-02T03:04:06+00:00")
    [feed] = outputs["feed list"]
    assert feed["url"].startswith("https://***@feeds.example/") and feed["last_polled_at"] is None
    assert [key["name"] for key in outputs["staff list-keys"]] == ["Desk"]
    assert outputs["status"]["recent_items"][0]["title"] == TITLE
    times = [t for data in outputs.values() for t in _times(data)]
    assert len(times) >= 8
    for text in times:
        assert datetime.fromisoformat(text).utcoffset() == timedelta(0), text
        assert "T" in text, text  # ISO 8601, not str(datetime)'s space


def test_the_demo_piped_prints_its_maildir_paths_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / ("a-folder-with-a-long-name-" * 6) / "alerts-data"
    out = run(data_dir, "demo", "--timeout", "120").stdout
    new = data_dir / "maildir" / "new"
    assert f"file in {new}" in out
    assert f"Every message the sink received is in {data_dir / 'maildir'}" in out
    files = sorted(path.name for path in new.iterdir())
    assert files and all(name in out for name in files)
