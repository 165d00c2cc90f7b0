"""Operators' endpoints: /healthz, /readyz, /metrics and the /ops pages."""

from __future__ import annotations

import smtplib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select, text

from alerts.core import metrics
from alerts.core.models import Delivery, DeliveryStatus, Item, Journalist, UnsubscribeEvent, utcnow
from alerts.core.models import Suppression as SuppressionRow
from alerts.delivery import recovery
from alerts.ops import duties
from alerts.ops import status as ops
from alerts.web import ops_access
from alerts.web.api.deps import Id
from alerts.web.csrf import FIELD
from alerts.web.staff_pages import _render, _staff, signed_in
from alerts.web.state import celery as _celery
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Dependencies are /readyz's business."""
    return {"status": "ok"}


def _timed(check: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        detail = check()
        result: dict[str, Any] = {"ok": True, "detail": detail}
    except Exception as exc:  # a failing dependency is the answer, not an error
        result = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """Readiness: the database, the broker and the SMTP relay all answer."""
    if (refusal := ops_access.denied(request)) is not None:
        return refusal
    runtime, celery = _runtime(request), _celery(request)

    def database() -> str:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return runtime.engine.dialect.name

    def broker() -> str:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return ops._redact(str(celery.conf.broker_url))

    def relay() -> str:
        target = runtime.settings.smtp
        smtp_class = smtplib.SMTP_SSL if target.scheme == "smtps" else smtplib.SMTP
        with smtp_class(target.host, target.port, timeout=3) as smtp:
            code, _ = smtp.noop()
        return f"{target.label} answered {code}"

    def overdue_duties() -> str:
        with runtime.sessions() as session:
            late = [d.name for d in duties.states(session, runtime.settings, utcnow()) if d.overdue]
        if late:  # a duty that stopped is as much a failure as a dependency that did
            raise RuntimeError(f"overdue by more than three intervals: {', '.join(late)}")
        return "every periodic duty ran recently"

    smtp = ops_access.relay_check(request).get(lambda: _timed(relay))
    checks = {
        "database": _timed(database),
        "broker": _timed(broker),
        "smtp": smtp,
        "duties": _timed(overdue_duties),
    }
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def _state(request: Request) -> dict[str, Any]:
    """The numbers /metrics reads at scrape time."""
    runtime, celery = _runtime(request), _celery(request)
    with runtime.sessions() as session:
        now = utcnow()
        by_status = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        reasons = session.scalars(select(SuppressionRow.reason)).all()
        unsubscribes = dict(
            session.execute(
                select(UnsubscribeEvent.method, func.count()).group_by(UnsubscribeEvent.method)
            ).all()
        )
        oldest = ops.oldest_pending_age(session, now)
        beats = duties.states(session, runtime.settings, now)
    kinds: dict[str, int] = {}
    for reason in reasons:
        kind = (
            "bounce"
            if reason.startswith("bounce")
            else (
                "complaint"
                if reason.startswith("complaint")
                else ("unsubscribed" if reason.startswith("unsubscribed") else "other")
            )
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    try:
        queues = ops.queue_depths(celery)
    except Exception:  # the broker being down must not break the scrape
        queues = {}
    return {
        "queues": queues,
        "oldest_pending_seconds": oldest,
        "deliveries_by_status": {s.value: by_status.get(s.value, 0) for s in DeliveryStatus},
        "suppressions": kinds,
        "unsubscribes": unsubscribes,
        "duty_last_success": {
            d.name: d.last_success.timestamp() if d.last_success else 0.0 for d in beats
        },
    }


@router.get("/metrics")
def metrics_endpoint(request: Request) -> Response:
    if (refusal := ops_access.denied(request)) is not None:
        return refusal
    directory = _runtime(request).settings.metrics_dir
    assert directory is not None
    body = metrics.scrape(directory, metrics.StateCollector(lambda: _state(request)))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/ops")
@signed_in
def ops_page(request: Request) -> Response:
    staff = _staff(request, "ops")
    runtime = _runtime(request)
    with runtime.sessions() as session:
        snapshot = ops.database_part(session, utcnow())
    snapshot |= ops.duties_part(_celery(request)) | ops.broker_part(_celery(request))
    return _render(request, "ops.html", staff=staff, s=snapshot)


@router.get("/ops/items/{item_id}")
@signed_in
def ops_item(request: Request, item_id: Id, note: str = "") -> Response:
    staff = _staff(request, "ops")
    with _runtime(request).sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        rows = session.execute(
            select(Delivery, Journalist.email)
            .join(Journalist, Journalist.id == Delivery.journalist_id)
            .where(Delivery.item_id == item_id)
            .order_by(Delivery.status, Delivery.id)
            .limit(500)
        ).all()
        deliveries = [
            {
                "id": d.id,
                "journalist_id": d.journalist_id,
                "email": email,
                "status": d.status,
                "attempts": d.attempts,
                "last_reply": d.last_reply,
                "sent_at": d.sent_at,
                "next_attempt_at": d.next_attempt_at,
            }
            for d, email in rows
        ]
        title = item.title
    counts: dict[str, int] = {}
    for d, _ in rows:
        counts[d.status] = counts.get(d.status, 0) + 1
    return _render(
        request,
        "ops_item.html",
        staff=staff,
        item_id=item_id,
        title=title,
        deliveries=deliveries,
        counts=counts,
        note=note,
        can_retry=counts.get(DeliveryStatus.FAILED, 0) > 0,
    )


@router.post("/ops/items/{item_id}/retry")
@signed_in
def ops_retry(
    request: Request, item_id: Id, csrf_token: Annotated[str | None, Form(alias=FIELD)] = None
) -> Response:
    _staff(request, "deliveries:retry", csrf_token, check_csrf=True)
    runtime, celery = _runtime(request), _celery(request)
    with runtime.sessions() as session:
        ids = recovery.retry_failed(session, item_id, utcnow())
        session.commit()
    celery.enqueue_batches(ids)
    root = request.app.state.pages.root
    return RedirectResponse(
        f"{root}/ops/items/{item_id}?note={len(ids)}+queued+again", status_code=303
    )
