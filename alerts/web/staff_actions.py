"""The staff pages' buttons on one item: save, publish, schedule, embargo, withdraw, correct."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from alerts.audience.subscriptions import InvalidAddress, normalise_email
from alerts.core.models import Item, utcnow
from alerts.items import corrections, embargoes, lifecycle
from alerts.items.drafts import InvalidItem
from alerts.web.api.deps import Id
from alerts.web.staff_pages import Csrf, Text, _back, _staff, signed_in
from alerts.web.state import runtime as _runtime
from alerts.worker.app import AlertsCelery

router = APIRouter(prefix="/staff", include_in_schema=False)


def _act(
    request: Request, item_id: int, csrf_token: str | None, note: str, action: Any
) -> Response:
    """Run ``action(session, item)`` for a signed-in publisher; conflicts come back as notes."""
    _staff(request, "items:write", csrf_token, check_csrf=True)
    runtime = _runtime(request)
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        try:
            result = action(session, item)
        except (InvalidItem, ValueError) as exc:
            session.rollback()
            return _back(request, item_id, f"error: {exc}"[:300])
        session.commit()
    if isinstance(result, Item):
        return _back(request, result.id, note)
    return _back(request, item_id, note)


@router.post("/items/{item_id}/publish")
@signed_in
def publish(request: Request, item_id: Id, csrf_token: Csrf = None) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "published",
        lambda s, item: lifecycle.publish_item(s, item, utcnow()),
    )


def _utc_minute(value: str) -> datetime:
    """The form's ``datetime-local`` value, read as UTC (an explicit offset is kept)."""
    try:
        when = datetime.fromisoformat(value)
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidItem("give the time as YYYY-MM-DDTHH:MM (UTC)") from exc


@router.post("/items/{item_id}/schedule")
@signed_in
def schedule(
    request: Request,
    item_id: Id,
    publish_at: Annotated[str, Form(description="UTC, YYYY-MM-DDTHH:MM")] = "",
    csrf_token: Csrf = None,
) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "scheduled",
        lambda s, item: lifecycle.schedule(item, _utc_minute(publish_at), utcnow()),
    )


@router.post("/items/{item_id}/embargo")
@signed_in
def embargo(
    request: Request,
    item_id: Id,
    until: Annotated[str, Form(description="UTC, YYYY-MM-DDTHH:MM")] = "",
    csrf_token: Csrf = None,
) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "sent to verified press under embargo",
        lambda s, item: embargoes.embargo(s, item, _utc_minute(until), utcnow()),
    )


@router.post("/items/{item_id}/embargo/move")
@signed_in
def move_embargo(
    request: Request,
    item_id: Id,
    until: Annotated[str, Form(description="UTC, YYYY-MM-DDTHH:MM")] = "",
    csrf_token: Csrf = None,
) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "embargo moved; recipients are told",
        lambda s, item: embargoes.move_embargo(s, item, _utc_minute(until), utcnow()),
    )


@router.post("/items/{item_id}/embargo/lift")
@signed_in
def lift_embargo(request: Request, item_id: Id, csrf_token: Csrf = None) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "embargo lifted",
        lambda s, item: embargoes.lift_embargo(s, item, utcnow()),
    )


@router.post("/items/{item_id}/cancel-schedule")
@signed_in
def cancel_schedule(request: Request, item_id: Id, csrf_token: Csrf = None) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "schedule cancelled",
        lambda s, item: lifecycle.cancel_schedule(item),
    )


@router.post("/items/{item_id}/withdraw")
@signed_in
def withdraw(request: Request, item_id: Id, csrf_token: Csrf = None) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "withdrawn",
        lambda s, item: lifecycle.withdraw(s, item, utcnow()),
    )


@router.post("/items/{item_id}/correct")
@signed_in
def correct(
    request: Request, item_id: Id, summary: Text = "", body: Text = "", csrf_token: Csrf = None
) -> Response:
    return _act(
        request,
        item_id,
        csrf_token,
        "correction published",
        lambda s, item: corrections.correct(s, item, None, summary, body, utcnow()),
    )


@router.post("/items/{item_id}/test-send")
@signed_in
def test_send(
    request: Request,
    item_id: Id,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token: Csrf = None,
) -> Response:
    _staff(request, "items:write", csrf_token, check_csrf=True)
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        return _back(request, item_id, f"error: {exc}"[:300])
    celery: AlertsCelery = request.app.state.celery
    celery.enqueue_test_send(item_id, address)
    return _back(request, item_id, f"test copy queued for {address}")
