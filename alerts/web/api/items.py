"""/api/items: drafts, preview, reach, test-send, publish, schedule, correct, withdraw."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.audience.subscriptions import InvalidAddress, normalise_email
from alerts.core.models import Delivery, DeliveryStatus, Item, Journalist, utcnow
from alerts.core.runtime import Runtime
from alerts.delivery import progress, recovery
from alerts.delivery.matching import reach as reach_of
from alerts.items import corrections, drafts, embargoes, lifecycle, translations
from alerts.mail.rendering import build_message
from alerts.web.api import schemas
from alerts.web.api.deps import Id, Staff, celery, field_error, require, runtime, session
from alerts.web.csp import preview_policy
from alerts.worker.app import AlertsCelery

router = APIRouter(prefix="/items", tags=["items"])

Db = Annotated[Session, Depends(session)]
Rt = Annotated[Runtime, Depends(runtime)]
Reader = Annotated[Staff, Depends(require("items:read"))]
Writer = Annotated[Staff, Depends(require("items:write"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.Problem}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": schemas.Problem}}
PREVIEW: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        }
    }
}


def _item(db: Session, item_id: Id) -> Item:
    item = db.get(Item, item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    return item


def _check_ahead(field: str, when: datetime, otherwise: str) -> None:
    """A time in the future, at most a year ahead: a 422 naming the field otherwise."""
    try:
        lifecycle.check_ahead(when, utcnow(), field, otherwise)
    except lifecycle.NotAhead as exc:
        message = (
            "must be at most a year ahead"
            if exc.too_far
            else f"must be in the future ({otherwise})"
        )
        raise field_error(field, message) from exc
    except drafts.InvalidItem as exc:  # a time without a zone
        raise field_error(field, str(exc)) from exc


def _refused(exc: drafts.InvalidItem) -> HTTPException:
    """A bad field is a 422 naming it (``image.media_id`` as ["body", "image", "media_id"]);
    a conflict with the item's state, a 409."""
    if exc.field is None:
        return HTTPException(409, str(exc))
    loc: list[str | int] = ["body"]
    loc += [int(p) if p.isdigit() else p for p in exc.field.split(".")]
    message = exc.message if isinstance(exc, drafts.InvalidMedia) else str(exc)
    return HTTPException(422, detail=[{"loc": loc, "msg": message, "type": "value_error"}])


def _apply(action: object) -> None:
    """Run a change, answering as :func:`_refused` says when the item refuses it."""
    if callable(action):
        try:
            action()
        except drafts.InvalidItem as exc:
            raise _refused(exc) from exc


@router.get("", response_model=schemas.ItemPage)
def list_items(
    db: Db,
    _: Reader,
    status: Literal["draft", "scheduled", "embargoed", "published", "withdrawn"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> schemas.ItemPage:
    query = select(Item)
    if status:
        query = query.where(Item.status == status)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(Item.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return schemas.ItemPage(
        items=[schemas.ItemOut.of(i) for i in rows], total=total, page=page, per_page=per_page
    )


@router.post("", status_code=201, response_model=schemas.ItemOut, responses=CONFLICT)
def create_item(body: schemas.ItemCreate, db: Db, rt: Rt, _: Writer) -> Response:
    """Create a draft. An ``external_id`` already stored answers 409 with its location."""
    if body.external_id:
        existing = drafts.find_by_external_id(db, body.external_id)
        if existing is not None:
            return JSONResponse(
                {
                    "detail": f"item {existing.id} has this external_id",
                    "item": schemas.ItemOut.of(existing).model_dump(mode="json"),
                },
                status_code=409,
                headers={"Location": f"/api/items/{existing.id}"},
            )
    draft = drafts.parse_draft(body.model_dump(mode="json"))
    try:
        item = drafts.create_item(db, rt.taxonomy, draft)
    except drafts.InvalidItem as exc:
        raise _refused(exc) from exc
    db.commit()
    return JSONResponse(
        schemas.ItemOut.of(item).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/api/items/{item.id}"},
    )


@router.get("/{item_id}", response_model=schemas.ItemOut, responses=NOT_FOUND)
def get_item(item_id: Id, db: Db, _: Reader) -> schemas.ItemOut:
    return schemas.ItemOut.of(_item(db, item_id))


@router.patch("/{item_id}", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT)
def update_item(
    item_id: Id, body: schemas.ItemUpdate, db: Db, rt: Rt, _: Writer
) -> schemas.ItemOut:
    item = _item(db, item_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    _apply(lambda: drafts.update_draft(db, rt.taxonomy, item, changes))
    db.commit()
    return schemas.ItemOut.of(item)


def _sample(rt: Runtime, item: Item, language: str = "en") -> EmailMessage:
    """The item as a journalist receives it: the same bytes, for a sample recipient."""
    recipient = rt.recipient(0, 0, "journalist@example.org", "Sample Journalist")
    raw = build_message(rt.rendered(item, language), recipient, rt.sender)
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@router.get(
    "/{item_id}/preview",
    responses=PREVIEW | NOT_FOUND,
    response_class=Response,
)
def preview(
    item_id: Id,
    db: Db,
    rt: Rt,
    _: Reader,
    format: Literal["html", "text"] = "html",
    lang: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z]{2,3}$",
            description="As a journalist of this language gets it (its translation, if any).",
        ),
    ] = None,
) -> Response:
    if lang is not None:
        try:
            translations.check_language(lang)
        except translations.InvalidTranslation as exc:
            raise HTTPException(
                422, detail=[{"loc": ["query", "lang"], "msg": str(exc), "type": "value_error"}]
            ) from exc
    message = _sample(rt, _item(db, item_id), lang or "en")
    part = message.get_body(("html",) if format == "html" else ("plain",))
    assert part is not None
    content = str(part.get_content())
    if format == "html":
        # Shown inside staff pages: it must not run anything or reach out, except
        # for the release's own photo in the media store.
        return HTMLResponse(
            content,
            headers={
                "Content-Security-Policy": preview_policy(rt.settings),
                "X-Frame-Options": "SAMEORIGIN",
            },
        )
    return PlainTextResponse(content)


@router.get("/{item_id}/reach", response_model=schemas.Reach, responses=NOT_FOUND)
def reach(item_id: Id, db: Db, _: Reader) -> schemas.Reach:
    """How many journalists it would reach if published now (nothing is sent)."""
    item = _item(db, item_id)
    return schemas.Reach(**reach_of(db, item.id, item.countries, item.topics))


@router.post(
    "/{item_id}/test-send", status_code=202, response_model=schemas.Accepted, responses=NOT_FOUND
)
def test_send(
    item_id: Id,
    body: schemas.TestSend,
    db: Db,
    _: Writer,
    app: Annotated[AlertsCelery, Depends(celery)],
) -> schemas.Accepted:
    _item(db, item_id)
    try:
        address = normalise_email(body.email)
    except InvalidAddress as exc:
        raise field_error("email", str(exc)) from exc
    app.enqueue_test_send(item_id, address)
    return schemas.Accepted(status="queued", detail=f"a [TEST] copy goes to {address}")


@router.post("/{item_id}/publish", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT)
def publish(item_id: Id, db: Db, _: Writer) -> schemas.ItemOut:
    item = _item(db, item_id)
    _apply(lambda: lifecycle.publish_item(db, item, utcnow()))
    db.commit()  # the session hook enqueues the fan-out after this commit
    return schemas.ItemOut.of(item)


@router.post("/{item_id}/schedule", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT)
def schedule(item_id: Id, body: schemas.Schedule, db: Db, _: Writer) -> schemas.ItemOut:
    item = _item(db, item_id)
    _check_ahead("publish_at", body.publish_at, "publish now instead")
    _apply(lambda: lifecycle.schedule(item, body.publish_at, utcnow()))
    db.commit()
    return schemas.ItemOut.of(item)


@router.post(
    "/{item_id}/cancel-schedule", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT
)
def cancel_schedule(item_id: Id, db: Db, _: Writer) -> schemas.ItemOut:
    item = _item(db, item_id)
    _apply(lambda: lifecycle.cancel_schedule(item))
    db.commit()
    return schemas.ItemOut.of(item)


@router.post("/{item_id}/embargo", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT)
def embargo(item_id: Id, body: schemas.Embargo, db: Db, _: Writer) -> schemas.ItemOut:
    """Send a draft to verified press now, marked embargoed; to everyone else when it lifts."""
    item = _item(db, item_id)
    _check_ahead("until", body.until, "publish now instead")
    _apply(lambda: embargoes.embargo(db, item, body.until, utcnow()))
    db.commit()  # the session hook enqueues the fan-out to verified press
    return schemas.ItemOut.of(item)


@router.post(
    "/{item_id}/embargo/move", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT
)
def move_embargo(item_id: Id, body: schemas.Embargo, db: Db, _: Writer) -> schemas.ItemOut:
    """A new lifting time; those who received the item are told."""
    item = _item(db, item_id)
    _check_ahead("until", body.until, "lift the embargo instead")
    _apply(lambda: embargoes.move_embargo(db, item, body.until, utcnow()))
    db.commit()
    return schemas.ItemOut.of(item)


@router.post(
    "/{item_id}/embargo/lift", response_model=schemas.ItemOut, responses=NOT_FOUND | CONFLICT
)
def lift_embargo(item_id: Id, db: Db, _: Writer) -> schemas.ItemOut:
    """Lift now: everyone matching gets the alert; those who had it are told it is lifted."""
    item = _item(db, item_id)
    _apply(lambda: embargoes.lift_embargo(db, item, utcnow()))
    db.commit()
    return schemas.ItemOut.of(item)


@router.post(
    "/{item_id}/correct",
    status_code=201,
    response_model=schemas.ItemOut,
    responses=NOT_FOUND | CONFLICT,
)
def correct(item_id: Id, body: schemas.Correction, db: Db, _: Writer) -> schemas.ItemOut:
    """Publish a correction to exactly those who received the original, threaded to it."""
    item = _item(db, item_id)
    made: list[Item] = []
    rich = body.model_dump(
        mode="json", include={"image", "attachments", "notes", "contacts"}, exclude_unset=True
    )
    _apply(
        lambda: made.append(
            corrections.correct(
                db, item, body.title, body.summary, body.body, utcnow(), rich, body.translations
            )
        )
    )
    db.commit()
    return schemas.ItemOut.of(made[0])


@router.post("/{item_id}/withdraw", response_model=schemas.Withdrawn, responses=NOT_FOUND)
def withdraw(item_id: Id, db: Db, _: Writer) -> schemas.Withdrawn:
    item = _item(db, item_id)
    cancelled = lifecycle.withdraw(db, item, utcnow())
    db.commit()
    return schemas.Withdrawn(item=schemas.ItemOut.of(item), cancelled=cancelled)


@router.get("/{item_id}/deliveries", response_model=schemas.Progress, responses=NOT_FOUND)
def deliveries(
    item_id: Id,
    db: Db,
    _: Reader,
    status: Literal["pending", "sending", "sent", "failed", "cancelled"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.Progress:
    _item(db, item_id)
    counts = {s: 0 for s in DeliveryStatus} | progress.counts_for_item(db, item_id)
    query = (
        select(Delivery, Journalist.email)
        .join(Journalist, Journalist.id == Delivery.journalist_id)
        .where(Delivery.item_id == item_id)
    )
    if status:
        query = query.where(Delivery.status == status)
    rows = db.execute(
        query.order_by(Delivery.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return schemas.Progress(
        item_id=item_id,
        total=sum(counts.values()),
        counts=counts,
        page=page,
        per_page=per_page,
        deliveries=[
            schemas.DeliveryOut(
                id=d.id,
                journalist_id=d.journalist_id,
                email=email,
                status=d.status,
                attempts=d.attempts,
                last_reply=d.last_reply,
                sent_at=d.sent_at,
                next_attempt_at=d.next_attempt_at,
                message_id=d.message_id,
            )
            for d, email in rows
        ],
    )


@router.post("/{item_id}/retry-failed", response_model=schemas.Accepted, responses=NOT_FOUND)
def retry_failed(
    item_id: Id,
    db: Db,
    _: Annotated[Staff, Depends(require("deliveries:retry"))],
    app: Annotated[AlertsCelery, Depends(celery)],
) -> schemas.Accepted:
    """Put the item's failed deliveries back in the queue (suppressed addresses stay out)."""
    _item(db, item_id)
    ids = recovery.retry_failed(db, item_id, utcnow())
    db.commit()
    app.enqueue_batches(ids)
    return schemas.Accepted(status="queued", detail=f"{len(ids)} failed deliveries queued again")
