"""/api/items/{id}/report: what an item achieved (JSON, or CSV for a spreadsheet)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from alerts.core.models import Item
from alerts.core.runtime import Runtime
from alerts.engagement.report import item_report
from alerts.web.api import schemas
from alerts.web.api.deps import Id, Staff, require, runtime, session

router = APIRouter(prefix="/items", tags=["items"])

Db = Annotated[Session, Depends(session)]
Rt = Annotated[Runtime, Depends(runtime)]
Reader = Annotated[Staff, Depends(require("items:read"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.Problem}}


def report_of(db: Session, rt: Runtime, item_id: int) -> dict[str, Any]:
    item = db.get(Item, item_id)
    if item is None:
        raise HTTPException(404, "no such item")
    return item_report(db, item, opens_tracked=rt.settings.track_opens == "on")


@router.get("/{item_id}/report", responses=NOT_FOUND)
def report(item_id: Id, db: Db, rt: Rt, _: Reader) -> dict[str, Any]:
    """Sent, failed, bounced, unsubscribed after it; human and machine clicks, per link,
    country, topic and outlet (five or more readers only); deliveries and clicks per hour."""
    return report_of(db, rt, item_id)


def as_csv(found: dict[str, Any]) -> str:
    """One row per figure: section, name, human, machine (spreadsheets read it as is)."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\r\n")
    rows.writerow(["section", "name", "human", "machine"])
    for key in ("sent", "failed", "bounced", "unsubscribed"):
        rows.writerow(["deliveries", key, found[key], ""])
    clicks = found["clicks"]
    rows.writerow(["clicks", "all", clicks["human"], clicks["machine"]])
    rows.writerow(["clicks", "unique", clicks["unique_human"], ""])
    rows.writerow(["clicks", "click_through_rate", found["click_through_rate"], ""])
    for link in clicks["by_link"]:
        rows.writerow(
            [f"link {link['number']}", _cell(link["url"]), link["human"], link["machine"]]
        )
    for section in ("country", "topic", "outlet"):
        for row in found[f"by_{section}"]:
            rows.writerow([section, _cell(row["value"]), row["human"], row["machine"]])
    for hour in found["timeline"]:
        rows.writerow([f"hour {hour['hour']}", "deliveries", hour["deliveries"], ""])
        rows.writerow([f"hour {hour['hour']}", "clicks", hour["clicks"], ""])
    return out.getvalue()


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get(
    "/{item_id}/report.csv",
    response_model=None,
    responses={**NOT_FOUND, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def report_csv(item_id: Id, db: Db, rt: Rt, _: Reader) -> PlainTextResponse:
    return PlainTextResponse(
        as_csv(report_of(db, rt, item_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="item-{item_id}-report.csv"'},
    )
