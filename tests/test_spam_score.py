"""Every seed item, in both languages, passes Debian's SpamAssassin with a low score.

SpamAssassin runs with local rules only (``-L``: no DNS blocklists, no network), no
Bayes database and no user preferences, so a score depends on the message alone.
Each run writes the table to build/test-artifacts/spam-scores.md; ``make test``
installs SpamAssassin with apt when it is missing (see the Makefile).
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from tests.seed_emails import (
    EXTRAS,
    LANGUAGES,
    SEED,
    extra_message,
    seed_message,
    signed_recipient,
)

SPAMASSASSIN = shutil.which("spamassassin") or "/usr/bin/spamassassin"
REPORT = Path(__file__).resolve().parent.parent / "build" / "test-artifacts" / "spam-scores.md"
MAX_SCORE = 1.0
NAMES = {"en": "Ana Torres", "es": "Júlia Núñez", "fr": "Hélène Lefèvre", "ar": "ليلى حداد"}
# The control: the GTUBE line every SpamAssassin scores as spam, in an otherwise plain message.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CONTROL_ID = "<gtube.control@example.net>"
CONTROL = (
    "From: Someone <someone@example.net>\r\nTo: ana@example.net\r\n"
    f"Subject: control\r\nMessage-ID: {CONTROL_ID}\r\n"
    "Date: Sat, 28 Nov 2026 09:30:00 +0000\r\n\r\n"
    f"This message must score as spam.\r\n{GTUBE}\r\n"
).encode()

_SCORE = re.compile(r"\bscore=(-?\d+(?:\.\d+)?)")
_TESTS = re.compile(r"\btests=(\S*)")
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: list[tuple[float, str, str]]  # points, name, description
    listed: set[str]  # the rule names in X-Spam-Status

    def describe(self) -> str:
        return ", ".join(f"{name} ({points:+.1f})" for points, name, _ in self.rules) or "none"


def _verdict(message: Message) -> Verdict:
    # Folded: "No, score=-1.0 required=5.0 tests=A,\n\tB,C autolearn=… version=…".
    status = re.sub(r",\s+", ",", " ".join(str(message["X-Spam-Status"] or "").split()))
    score = _SCORE.search(status)
    assert score, f"no score in X-Spam-Status: {status!r}"
    tests = _TESTS.search(status)
    listed = {t for t in (tests.group(1) if tests else "").split(",") if t and t != "none"}
    # The report -t appends: "Content analysis details: …", then a "---- ----" ruler,
    # then one line per rule ("points NAME description"), descriptions folded.
    payload = message.get_payload(decode=False)
    text = payload if isinstance(payload, str) else message.as_string()
    _, found, report = text.partition("Content analysis details:")
    assert found, "SpamAssassin's report is missing (was -t given?)"
    rules = []
    for line in report.split("---- ", 2)[-1].splitlines():
        match = _RULE.match(line)
        if match:
            rules.append((float(match.group(1)), match.group(2), match.group(3).strip()))
    return Verdict(float(score.group(1)), rules, listed)


def _run(messages: list[bytes], workdir: Path) -> dict[str, Verdict]:
    """One SpamAssassin process over an mbox of every message (start-up costs seconds)."""
    box = mailbox.mbox(workdir / "in.mbox")
    for raw in messages:
        # As a local delivery agent would store it: LF line ends.
        box.add(raw.replace(b"\r\n", b"\n"))
    box.close()
    prefs = workdir / "user_prefs"
    prefs.write_text("")
    with (workdir / "in.mbox").open("rb") as stdin:
        done = subprocess.run(
            [
                SPAMASSASSIN,
                "--local",  # no network tests
                "--test-mode",  # pass each message through with the report appended
                "--nocreate-prefs",
                f"--prefspath={prefs}",
                "--cf=use_bayes 0",  # no learnt tokens: the same result on any machine
                "--cf=report_safe 0",  # never wrap a message, even one judged spam
                "--mbox",
            ],
            stdin=stdin,
            capture_output=True,
            timeout=600,
            env=os.environ | {"HOME": str(workdir)},
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    (workdir / "out.mbox").write_bytes(done.stdout)
    verdicts = {}
    for message in mailbox.mbox(workdir / "out.mbox"):
        verdicts[str(message["Message-ID"]).strip()] = _verdict(message)
    return verdicts


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], Verdict]:
    """Every seed item in every language, scored; and the control."""
    if not Path(SPAMASSASSIN).exists():
        pytest.fail(
            "SpamAssassin is missing: `make spamassassin` (or apt-get install spamassassin)"
        )
    messages, keys = [CONTROL], {}
    for language in LANGUAGES:
        # Seed items by index; digests, embargoed releases and notices after them.
        for index in range(len(SEED) + len(EXTRAS)):
            delivery = len(messages)
            recipient = signed_recipient(100 + delivery, NAMES[language], delivery)
            raw = (
                seed_message(index, language, recipient)
                if index < len(SEED)
                else extra_message(EXTRAS[index - len(SEED)], language, recipient)
            )
            messages.append(raw)
            message_id = re.search(rb"^Message-ID: (\S+)\r$", raw, re.MULTILINE | re.IGNORECASE)
            assert message_id, raw[:500]
            keys[message_id.group(1).decode()] = (index, language)
    verdicts = _run(messages, tmp_path_factory.mktemp("spamassassin"))
    assert set(verdicts) == set(keys) | {CONTROL_ID}, "every message must come back scored"
    results = {keys[mid]: v for mid, v in verdicts.items() if mid in keys}
    results[(-1, "control")] = verdicts[CONTROL_ID]
    return results


def test_the_gate_can_fail(scored: dict[tuple[int, str], Verdict]) -> None:
    # A message SpamAssassin must flag: proves the run and the parsing see real scores.
    control = scored[(-1, "control")]
    assert control.score > MAX_SCORE and "GTUBE" in control.listed, control


def test_every_seed_item_scores_at_most_one_point(
    scored: dict[tuple[int, str], Verdict],
) -> None:
    lines = [
        f"# SpamAssassin scores of the seed items (local rules only, fail above {MAX_SCORE})",
        "",
        "| # | language | score | rules that fired | title |",
        "|---|---|---|---|---|",
    ]
    too_high = []
    titles = [draft.title for draft in SEED] + [f"({extra})" for extra in EXTRAS]
    for language in LANGUAGES:
        for index, title in enumerate(titles):
            verdict = scored[(index, language)]
            # The report's table and the header name the same rules.
            assert {name for _, name, _ in verdict.rules} == verdict.listed, verdict
            print(f"{language} #{index + 1}: {verdict.score:+.1f}  {verdict.describe()}")
            lines.append(
                f"| {index + 1} | {language} | {verdict.score:.1f} | {verdict.describe()} "
                f"| {title.replace('|', '/')} |"
            )
            if verdict.score > MAX_SCORE:
                too_high.append(f"{language} #{index + 1} {title!r}: {verdict.describe()}")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not too_high, "scored above 1.0:\n" + "\n".join(too_high)
