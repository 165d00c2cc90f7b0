"""The compose page's submits: preview before saving, create a draft, save a draft.

All three read the same multipart form (``compose_form``; a new item's language
tabs: ``compose_translations``, saved with it in one transaction), check the CSRF token
bound to the staff session before anything is stored, and answer a refused
field on the page itself (422, the message linked to the field), never a 500.
``/staff/compose/preview`` answers JSON to the page's script (``Accept:
application/json``) and the whole page, preview included, to a plain submit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from alerts.core.models import Item
from alerts.items import drafts
from alerts.items.drafts import ITEM_KINDS, InvalidItem
from alerts.mail.rendering import KIND_LABELS
from alerts.web.api.deps import Id
from alerts.web.compose_form import (
    Composed,
    FieldError,
    RawCompose,
    compose,
    field_id,
    read_compose,
    rich_view,
)
from alerts.web.compose_preview import preview
from alerts.web.compose_translations import Tab, for_preview
from alerts.web.compose_translations import check as check_tabs
from alerts.web.compose_translations import tabs as language_tabs
from alerts.web.csrf import FIELD
from alerts.web.staff_pages import _back, _render, _staff, signed_in
from alerts.web.state import runtime as _runtime

router = APIRouter(prefix="/staff", include_in_schema=False)

Raw = Annotated[RawCompose, Depends(read_compose)]


def refusal(exc: InvalidItem) -> FieldError:
    """``InvalidItem`` as a message on the field it names (``image.media_id`` → the photo)."""
    where = field_id(exc.field.split(".")) if exc.field else ""
    message = exc.message if isinstance(exc, drafts.InvalidMedia) else str(exc)
    return FieldError(where, message)


def page_item(fields: dict[str, Any], item_id: int | None) -> dict[str, Any]:
    """The item as the compose template shows it, from the form's fields."""
    return fields | {
        "id": item_id,
        "url": fields.get("url") or "",
        "campaign": fields.get("campaign") or "",
        "status": "draft",
        "publish_at": None,
        "published_at": None,
        "embargo_until": None,
        "corrects_id": None,
    }


def compose_page(
    request: Request,
    staff: Any,
    item: dict[str, Any],
    rich: dict[str, Any],
    *,
    status: int = 200,
    errors: list[FieldError] | None = None,
    reach: dict[str, Any] | None = None,
    counts: dict[str, int] | None = None,
    note: str = "",
    preview_html: str | None = None,
    tabs: list[Tab] | None = None,
    preview_tab: int | None = None,
) -> Response:
    """The compose page (``item.html``): one place that names everything it needs."""
    return _render(
        request,
        "item.html",
        status=status,
        staff=staff,
        item=item,
        kinds=ITEM_KINDS,
        kind_labels=KIND_LABELS,
        rich=rich,
        errors=errors or [],
        reach=reach,
        counts=counts or {},
        note=note,
        preview_html=preview_html,
        tabs=(tabs or []) if item.get("id") is None else [],
        # A saved item's page links to its translations page; a refused save shows the
        # link without the languages (the template is strict: left out, it was a 500).
        translations=[],
        preview_tab=preview_tab,
    )


def _checked(
    request: Request, raw: RawCompose, item_id: int | None
) -> tuple[Any, Composed, list[Tab]]:
    """The staff member (CSRF checked first: nothing is stored for a forged form), the
    form, its uploads stored and committed (a refused draft keeps them for the next try),
    and its language tabs, their words in the draft's translations when none is refused."""
    staff = _staff(request, "items:write", raw.values.get(FIELD), check_csrf=True)
    runtime = _runtime(request)
    with runtime.sessions() as session:
        composed = compose(session, runtime.settings, raw)
        session.commit()
    shown = language_tabs(raw, runtime.settings.reader_language_list, composed.fields["language"])
    errors, given = check_tabs(shown, composed.fields, item_id)
    composed.errors.extend(errors)
    composed.fields["translations"] = given
    return staff, composed, shown


def _item_id(raw: RawCompose) -> int | None:
    value = raw.text("item_id")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _asked_tab(raw: RawCompose, shown: list[Tab]) -> Tab | None:
    """The tab whose preview was asked for (its "Preview" button), None: the original's."""
    value = raw.text("preview_tab")
    return next((tab for tab in shown if str(tab.index) == value), None)


@router.post("/compose/preview", response_model=None)
@signed_in
def compose_preview(request: Request, raw: Raw) -> Response:
    runtime, item_id = _runtime(request), _item_id(raw)
    staff, composed, shown = _checked(request, raw, item_id)
    html, estimate, errors = None, None, list(composed.errors)
    tab = _asked_tab(raw, shown)
    # A tab's preview waits for its own words and the original's, not the other tabs'.
    given, blocking = for_preview(composed.fields["translations"], errors, tab)
    with runtime.sessions() as session:
        if not blocking:
            try:
                language = tab.language if tab is not None else None
                fields = composed.fields | {"translations": given}
                made = preview(session, runtime, fields, item_id, language)
                html, estimate = made.html, made.reach
            except InvalidItem as exc:
                errors.append(refusal(exc))
        rich = rich_view(session, runtime.settings, composed.fields)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {
                "html": html,
                "reach": estimate,
                "errors": [{"field": e.field, "message": e.message} for e in errors],
                "tab": tab.index if tab is not None else None,
                "image": rich["photo"],
                "attachments": rich["documents"],
            },
            status_code=422 if errors else 200,
        )
    return compose_page(
        request,
        staff,
        page_item(composed.fields, item_id),
        rich,
        status=422 if errors else 200,
        errors=errors,
        reach=estimate,
        preview_html=html,
        tabs=shown,
        preview_tab=tab.index if tab is not None else None,
    )


def _save(request: Request, raw: RawCompose, item_id: int | None) -> Response:
    staff, composed, shown = _checked(request, raw, item_id)
    runtime = _runtime(request)
    errors = list(composed.errors)
    with runtime.sessions() as session:
        if not errors:
            try:
                draft = drafts.parse_draft(composed.fields)
                if item_id is None:
                    item = drafts.create_item(session, runtime.taxonomy, draft)
                else:
                    found = session.get(Item, item_id)
                    if found is None:
                        raise InvalidItem(f"No item {item_id}.")
                    item = drafts.update_draft(session, runtime.taxonomy, found, composed.fields)
                session.commit()
                return _back(request, item.id, "saved")
            except InvalidItem as exc:
                session.rollback()
                errors.append(refusal(exc))
        rich = rich_view(session, runtime.settings, composed.fields)
    return compose_page(
        request,
        staff,
        page_item(composed.fields, item_id),
        rich,
        status=422,
        errors=errors,
        tabs=shown,
    )


@router.post("/items", response_model=None)
@signed_in
def create(request: Request, raw: Raw) -> Response:
    return _save(request, raw, None)


@router.post("/items/{item_id}/draft", response_model=None)
@signed_in
def save_draft(request: Request, item_id: Id, raw: Raw) -> Response:
    return _save(request, raw, item_id)
