"""CLI output read by a script or a log: a pipe gets whole titles, never cut at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENTRY = "from alerts.cli.root import main; main()"


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_") and k != "COLUMNS"}
    env["ALERTS_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,  # stdout is a pipe, as under a script or a supervisor
        text=True,
        timeout=120,
        check=False,
    )


def test_status_piped_prints_a_long_title_whole(tmp_path: Path) -> None:
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    title = "Mexico: a long report title that is well past eighty columns " + "x" * 60
    published = _run(["publish", "--title", title, "--country", "MX"], tmp_path)
    assert published.returncode == 0, published.stderr
    status = _run(["status"], tmp_path)
    assert status.returncode == 0, status.stderr
    assert title in status.stdout


def test_staff_list_keys_json_never_shows_the_key(tmp_path: Path) -> None:
    import json

    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    added = _run(["staff", "add-key", "--name", "Desk", "--role", "publisher"], tmp_path)
    assert added.returncode == 0, added.stderr
    listed = _run(["staff", "list-keys", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert [(k["name"], k["role"]) for k in keys] == [("Desk", "publisher")]
    assert added.stdout.strip() not in listed.stdout
