"""The newsroom items the project started from, packaged as demo data."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib import resources
from typing import Any

from alerts.core.unknown_keys import unknown_keys_message
from alerts.items.drafts import ItemDraft, parse_draft

# The seed file's own keys besides the items': where it came from, and each item's date.
FILE_KEYS = frozenset({"items", "source", "press_contact"})
ITEM_KEYS = frozenset(ItemDraft.model_fields) | {"published"}


def drafts_from_json(data: Any) -> list[ItemDraft]:
    """The seed JSON shape: ``{"items": [...]}`` or a bare list of items.

    A misspelt key is an error, never ignored: "countires" would otherwise
    publish the item to every country. Nothing is returned unless all is well.
    """
    if isinstance(data, dict) and (problem := unknown_keys_message(data, FILE_KEYS)):
        raise ValueError(problem)
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('expected a list of items or an object with an "items" list')
    drafts = []
    for index, entry in enumerate(items, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"item {index}: expected an object")
        if problem := unknown_keys_message(entry, ITEM_KEYS):
            raise ValueError(f"item {index}: {problem}")
        try:
            drafts.append(parse_draft(entry))
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from exc
    return drafts


def seed_drafts() -> list[ItemDraft]:
    """The packaged seed items, each with a stable external id so loading twice adds nothing."""
    raw = json.loads(resources.files("alerts").joinpath("data/newsroom-items.json").read_text())
    drafts = drafts_from_json(raw)
    for entry, draft in zip(raw["items"], drafts, strict=True):
        slug = re.sub(r"[^a-z0-9]+", "-", draft.title.lower()).strip("-")[:80]
        draft.external_id = f"seed:{entry.get('published', '')}:{draft.kind}:{slug}"
    return drafts


def demo_journalists_csv() -> str:
    return resources.files("alerts").joinpath("data/demo-journalists.csv").read_text("utf-8")


def demo_audience() -> tuple[int, int]:
    """(journalists, subscriptions) in the demo CSV: one row per subscription."""
    rows = list(csv.DictReader(io.StringIO(demo_journalists_csv())))
    return len({row["email"].strip().lower() for row in rows}), len(rows)
