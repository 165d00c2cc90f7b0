"""The emails as rendered now, compared with the reviewed copies in tests/snapshots/.

A change to a template, a translation or the message assembly shows up here as a
diff, to be reviewed like code. After an intended change:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_snapshots.py

rewrites the files; read `git diff tests/snapshots` before committing them.
Per-recipient values are fixed placeholders; Date and Message-ID are left out.
"""

from __future__ import annotations

import difflib
import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from alerts.audience.membership import Notice
from alerts.mail.account_emails import build_notice
from alerts.mail.rendering import Recipient, make_environment
from tests.seed_emails import BASE_URL, EXTRAS, LANGUAGES, SEED, extra_message, seed_message
from tests.test_rendering import SENDER

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
HEADERS = (
    "Subject",
    "From",
    "To",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Precedence",
    "Auto-Submitted",
)
RECIPIENT = Recipient(
    delivery_id=1,
    journalist_id=1,
    email="journalist@example.net",
    name="Journalist Name",
    unsubscribe_url=f"{BASE_URL}/u/UNSUBSCRIBE-TOKEN",
    preferences_url=f"{BASE_URL}/preferences/PREFERENCES-TOKEN",
)
NOTICES = (Notice.CONFIRM, Notice.ALREADY, Notice.PREFERENCES)


def _message(name: str) -> bytes:
    """``en/item-01`` (a seed item) or ``en/notice-confirm``: the email as sent."""
    language, _, what = name.partition("/")
    if what.startswith("item-"):
        return seed_message(int(what.removeprefix("item-")) - 1, language, RECIPIENT)
    if what in EXTRAS:
        return extra_message(what, language, RECIPIENT)
    notice = Notice(what.removeprefix("notice-"))
    return build_notice(
        make_environment(None, language),
        SENDER,
        notice,
        language=language,
        email=RECIPIENT.email,
        name=RECIPIENT.name,
        link=f"{BASE_URL}/{'confirm' if notice is Notice.CONFIRM else 'preferences'}/TOKEN",
    )


def _snapshot(raw: bytes) -> dict[str, str]:
    """The reviewable parts: chosen headers, the MIME layout, the text and the HTML."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    lines = [f"{h}: {message[h]}" for h in HEADERS if message[h] is not None]
    parts = [
        f"{part.get_content_type()}; charset={part.get_content_charset()}"
        for part in message.walk()
        if not part.is_multipart()
    ]
    lines.append(f"MIME: {message.get_content_type()} [{', '.join(parts)}]")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # The wire's CRLF line ends become LF, as the files are kept.
    return {
        ".txt": "\n".join(lines) + "\n\n" + str(text.get_content()).replace("\r\n", "\n"),
        ".html": str(html.get_content()).replace("\r\n", "\n"),
    }


NAMES = (
    [f"{language}/item-{index + 1:02d}" for language in LANGUAGES for index in range(len(SEED))]
    + [f"{language}/notice-{notice.value}" for language in LANGUAGES for notice in NOTICES]
    + [f"{language}/{extra}" for language in LANGUAGES for extra in EXTRAS]
)


@pytest.mark.parametrize("name", NAMES)
def test_rendering_matches_the_reviewed_snapshot(name: str) -> None:
    problems = []
    for suffix, current in _snapshot(_message(name)).items():
        path = SNAPSHOTS / f"{name}{suffix}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(current, encoding="utf-8", newline="\n")
            continue
        if not path.exists():
            problems.append(f"{path} is missing (UPDATE_SNAPSHOTS=1 writes it)")
            continue
        reviewed = path.read_text(encoding="utf-8")
        if reviewed != current:
            diff = difflib.unified_diff(
                reviewed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                f"{path.relative_to(SNAPSHOTS.parent.parent)} (reviewed)",
                "rendered now",
            )
            problems.append("".join(diff))
    assert not problems, (
        "the rendering differs from the reviewed snapshot; if intended, run "
        "UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_snapshots.py and review the diff\n"
        + "\n".join(problems)
    )


def test_no_snapshot_is_left_over() -> None:
    wanted = {f"{name}{suffix}" for name in NAMES for suffix in (".txt", ".html")}
    present = {str(p.relative_to(SNAPSHOTS)) for p in SNAPSHOTS.rglob("*") if p.is_file()}
    if UPDATE:
        for stale in present - wanted:
            (SNAPSHOTS / stale).unlink()
        return
    assert present - wanted == set(), "snapshots of emails no longer rendered: delete them"
    assert wanted - present == set(), "snapshots missing: UPDATE_SNAPSHOTS=1 writes them"
