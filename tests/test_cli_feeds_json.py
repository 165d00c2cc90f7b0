"""`alerts feed list --json` and `alerts feed poll --json` against a real local feed server.

The fixtures (a migrated store, the local newsroom server) are the feed tests' own,
imported by name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from alerts.cli import feeds as feeds_cli
from tests.test_feeds import FORMATS, TOPIC_MAP, FeedServer, serve_newsroom
from tests.test_feeds import data_dir as data_dir
from tests.test_feeds import server as server

runner = CliRunner()


def test_feed_list_and_poll_as_json(data_dir: Path, server: FeedServer) -> None:
    url = serve_newsroom(server, "atom")
    assert runner.invoke(feeds_cli.app, ["add", url, "--topic-map", str(TOPIC_MAP)]).exit_code == 0
    never = json.loads(runner.invoke(feeds_cli.app, ["list", "--json"]).stdout)
    assert [(f["id"], f["url"], f["kind"], f["mapped_categories"]) for f in never] == [
        (1, url, "press_release", 10)
    ]
    assert never[0]["last_polled_at"] is None and never[0]["last_error"] is None

    polled = runner.invoke(feeds_cli.app, ["poll", "--json"])
    assert polled.exit_code == 0, polled.output
    summary = json.loads(polled.stdout)
    assert (summary["feeds"], summary["published"], summary["drafted"], summary["failed"]) == (
        1,
        4,
        2,
        0,
    )
    [result] = summary["results"]
    assert (result["feed_id"], result["status"], result["skipped"]) == (1, "updated", 1)

    [listed] = json.loads(runner.invoke(feeds_cli.app, ["list", "--json"]).stdout)
    assert datetime.fromisoformat(listed["last_polled_at"]).utcoffset() == timedelta(0)

    server.resources[f"/{FORMATS['atom'][0]}"].status = 500
    failed = runner.invoke(feeds_cli.app, ["poll", "--json"])
    assert failed.exit_code == 1
    [result] = json.loads(failed.stdout)["results"]
    assert result["status"] == "failed" and "HTTP 500" in result["error"]
    [listed] = json.loads(runner.invoke(feeds_cli.app, ["list", "--json"]).stdout)
    assert "HTTP 500" in listed["last_error"]
