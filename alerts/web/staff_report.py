"""The staff report of one item: its page, with the 48-hour chart, and its CSV."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from markupsafe import Markup

from alerts.core.models import Item
from alerts.engagement.chart import hours_chart
from alerts.engagement.report import item_report, who_clicked
from alerts.web.api.deps import Id
from alerts.web.api.reports import as_csv
from alerts.web.staff_pages import _render, _staff, signed_in
from alerts.web.state import runtime as _runtime

router = APIRouter(prefix="/staff", include_in_schema=False)


def _report(request: Request, item_id: int) -> dict[str, Any]:
    runtime = _runtime(request)
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        report = item_report(session, item, opens_tracked=runtime.settings.track_opens == "on")
        if runtime.settings.track_clicks == "individual":
            report["who"] = who_clicked(session, item_id)
    return report


@router.get("/items/{item_id}/report", response_class=HTMLResponse)
@signed_in
def report_page(request: Request, item_id: Id) -> Response:
    staff = _staff(request, "items:read")
    report = _report(request, item_id)
    chart = Markup(hours_chart(report["timeline"], f"Item {item_id}: the first 48 hours"))
    return _render(
        request,
        "report.html",
        staff=staff,
        report=report,
        chart=chart,
        mode=_runtime(request).settings.track_clicks,
    )


@router.get("/items/{item_id}/report.csv", response_class=PlainTextResponse)
@signed_in
def report_csv(request: Request, item_id: Id) -> Response:
    _staff(request, "items:read")
    return PlainTextResponse(
        as_csv(_report(request, item_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="item-{item_id}-report.csv"'},
    )
