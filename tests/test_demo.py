"""`alerts demo` as a newcomer runs it: from a script, stdin closed, nothing configured."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from alerts.dev.seed import demo_journalists_csv, seed_drafts

ROOT = Path(__file__).resolve().parent.parent
WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
NUMBERS = {word: n for n, word in enumerate(WORDS.split(" "))} | {"dozen": 12}  # "a dozen"


def demo_audience() -> tuple[int, int]:
    """(addresses, rows) of the packaged demo CSV, counted here independently of the demo."""
    rows = list(csv.DictReader(io.StringIO(demo_journalists_csv())))
    return len({row["email"].lower() for row in rows}), len(rows)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word.lower()]


def test_the_readme_promises_the_sample_journalists_the_demo_makes() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    claim = re.search(r"loads the seed newsroom items.*? (\w+) sample journalists", readme)
    assert claim, "the README no longer says how many sample journalists the demo loads"
    journalists, subscriptions = demo_audience()
    assert _number(claim.group(1)) == journalists
    also = re.search(r"sample journalists with (\w+) subscriptions", readme)
    assert also is None or _number(also.group(1)) == subscriptions


def test_the_demo_says_how_many_it_made_and_which_seed_items_stay_drafts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env |= {"ALERTS_DATA_DIR": str(tmp_path / "alerts-data"), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "alerts", "demo", "--timeout", "120"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout + result.stderr
    journalists, subscriptions = demo_audience()
    assert (journalists, subscriptions) == (10, 12)
    assert f"{journalists} sample journalists ({subscriptions} subscriptions), 10 added now" in (
        output
    )
    # One seed item was published; every other one is loaded as a draft, and the demo says so.
    drafts = len(seed_drafts()) - 1
    assert drafts == 11
    assert f"{drafts} more seed item(s) are drafts, not sent to anyone" in output
    assert "staff pages" in output
