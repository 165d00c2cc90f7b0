"""Building newsroom content through the project's own use cases, and reading its pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from alerts.core.models import Item, utcnow
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.lifecycle import publish_item
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.factories import TAXONOMY

# Far enough back that nothing the beat does today (a lift, a schedule) sorts among them.
EPOCH = datetime.fromisoformat("2026-01-05T09:00:00+00:00")


@contextmanager
def client_of(stack: Stack) -> Iterator[TestClient]:
    limits = SignUpLimits("memory://", "100/hour", "1000/hour")
    with TestClient(create_app(stack.app, limits), base_url=stack.settings.base_url) as client:
        yield client


def draft(session: Session, **fields: object) -> Item:
    values = {"title": "A title", "summary": "A summary."} | fields
    item = create_item(session, TAXONOMY, ItemDraft.model_validate(values))
    session.flush()
    return item


def release(session: Session, day: int = 0, **fields: object) -> int:
    """A published item, ``day`` days after EPOCH (so the order is known)."""
    item = publish_item(session, draft(session, **fields), EPOCH + timedelta(days=day))
    session.flush()
    return item.id


def titles(html: str) -> list[str]:
    """The titles of the releases listed on a /news page, in order."""
    return [
        re.sub(r"<[^>]+>", "", match).strip()
        for match in re.findall(r"<h2><a href=\"[^\"]*/news/\d+-[^\"]*\">(.*?)</a></h2>", html)
    ]


def json_ld(html: str) -> dict[str, object]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD on the page"
    data: dict[str, object] = json.loads(match.group(1))
    return data


def meta(html: str, prop: str) -> str | None:
    match = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', html)
    return match.group(1) if match else None


def later(hours: int = 24) -> datetime:
    return utcnow() + timedelta(hours=hours)
