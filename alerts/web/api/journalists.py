"""/api/journalists: search, import and export (CSV), erase (admin)."""

from __future__ import annotations

import csv
import io
import tempfile
from typing import IO, Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from alerts.audience import membership
from alerts.audience.csv_import import ImportSummary, import_journalists
from alerts.audience.csv_rows import EXPORT_COLUMNS, ImportFailed, export_cell
from alerts.core.models import Journalist, utcnow
from alerts.core.runtime import Runtime
from alerts.items import embargoes
from alerts.web.api import schemas
from alerts.web.api.deps import Id, Staff, celery, require, runtime, session

router = APIRouter(prefix="/journalists", tags=["journalists"])

Db = Annotated[Session, Depends(session)]
MAX_CSV_BYTES = 20 * 1024 * 1024
# An upload larger than this goes to a temporary file while it is read.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


@router.get("", response_model=schemas.JournalistPage)
def list_journalists(
    db: Db,
    _: Annotated[Staff, Depends(require("journalists:read"))],
    q: Annotated[
        str | None, Query(max_length=200, description="Part of address, name or outlet")
    ] = None,
    status: Literal["pending", "active", "unsubscribed", "suppressed"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> schemas.JournalistPage:
    query = select(Journalist)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(
                Journalist.email.like(pattern),
                func.lower(Journalist.name).like(pattern),
                func.lower(Journalist.outlet).like(pattern),
            )
        )
    if status:
        query = query.where(Journalist.status == status)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.options(selectinload(Journalist.subscriptions))
        .order_by(Journalist.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return schemas.JournalistPage(
        total=total,
        page=page,
        per_page=per_page,
        journalists=[schemas.JournalistOut.of(j) for j in rows],
    )


@router.post(
    "/import",
    response_model=schemas.ImportResult,
    responses={
        422: {
            "description": "Bad rows: every problem by line (the first 100) and how many in all",
            "model": schemas.CsvImportProblem,
        }
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_csv(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Staff, Depends(require("journalists:write"))],
) -> Response | schemas.ImportResult:
    """Same CSV as `alerts journalists import`; every row is checked, all or nothing.

    The body is spooled to a temporary file as it arrives (never held whole in
    memory) and imported in chunks; a file with any bad row stores nothing.
    """
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_CSV_BYTES:  # sent without a Content-Length, or a wrong one
                raise HTTPException(413, "the file is too large (20 MB at most)")
            spool.write(chunk)
        spool.seek(0)
        try:
            summary = await run_in_threadpool(_import, rt, spool)
        except ImportFailed as exc:
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["body", "csv"],
                            "msg": str(problem),
                            "type": "value_error",
                            "line": problem.line,
                            "column": problem.column,
                            "message": problem.message,
                        }
                        for problem in exc.problems
                    ],
                    "total": exc.total,
                    "bad_rows": exc.bad_rows,
                },
                status_code=422,
            )
    return schemas.ImportResult(**vars(summary))


def _import(rt: Runtime, source: IO[bytes]) -> ImportSummary:
    with rt.sessions() as db:
        summary = import_journalists(
            db,
            source,
            rt.taxonomy,
            utcnow(),
            rt.address_hasher,
            rt.settings.reader_language_list,
        )
        db.commit()
    return summary


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export_csv(db: Db, _: Annotated[Staff, Depends(require("journalists:read"))]) -> Response:
    """Active journalists, one row per subscription: re-importable as it is.

    Safe to open in a spreadsheet: a cell that begins with `=`, `+`, `-`, `@`,
    a tab or a carriage return (a formula to Excel, LibreOffice or Google
    Sheets) is written with a leading `'`, which the import removes again.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    journalists = db.scalars(
        select(Journalist)
        .where(Journalist.status == "active")
        .options(selectinload(Journalist.subscriptions))
        .order_by(Journalist.id)
    )
    for j in journalists:
        for s in j.subscriptions:
            cells = [j.email or "", j.name, j.outlet, ";".join(s.countries), ";".join(s.topics)]
            cells += [s.cadence, j.language, j.timezone]
            writer.writerow([export_cell(cell) for cell in cells])
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="journalists.csv"'},
    )


@router.delete(
    "/{journalist_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": schemas.Problem}},
)
def erase(
    journalist_id: Id,
    db: Db,
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Staff, Depends(require("journalists:erase"))],
) -> Response:
    """Erase a journalist (their address, name, subscriptions); history stays anonymous."""
    if db.get(Journalist, journalist_id) is None:
        raise HTTPException(404, f"no journalist {journalist_id}")
    membership.erase(db, journalist_id, utcnow(), rt.address_hasher)
    db.commit()
    return Response(status_code=204)


NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": schemas.Problem}}


@router.post(
    "/{journalist_id}/verification", response_model=schemas.JournalistOut, responses=NOT_FOUND
)
def verify(
    journalist_id: Id,
    db: Db,
    request: Request,
    staff: Annotated[Staff, Depends(require("journalists:write"))],
) -> schemas.JournalistOut:
    """Mark the journalist verified press: they receive embargoed items before they lift.

    Items under embargo now that match their subscriptions are sent to them at once.
    """
    journalist = _journalist(db, journalist_id)
    membership.verify(journalist, staff.name, utcnow())
    db.commit()
    app = celery(request)
    for item_id in embargoes.embargoed_item_ids(db):
        app.enqueue_fan_out(item_id)  # idempotent: only what they lack is added
    return schemas.JournalistOut.of(journalist)


@router.delete(
    "/{journalist_id}/verification", response_model=schemas.JournalistOut, responses=NOT_FOUND
)
def unverify(
    journalist_id: Id, db: Db, _: Annotated[Staff, Depends(require("journalists:write"))]
) -> schemas.JournalistOut:
    """No longer verified press: embargoed items not yet sent to them are not sent."""
    journalist = _journalist(db, journalist_id)
    membership.unverify(journalist)
    db.commit()
    return schemas.JournalistOut.of(journalist)


def _journalist(db: Session, journalist_id: int) -> Journalist:
    journalist = db.get(Journalist, journalist_id)
    if journalist is None or journalist.email is None:
        raise HTTPException(404, f"no journalist {journalist_id}")
    return journalist
