"""Small staff pages over the same use cases as the API: sign in, list, compose, act."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from alerts.core.i18n import negotiate
from alerts.core.models import Item, ItemTranslation, utcnow
from alerts.delivery.matching import reach
from alerts.delivery.progress import counts_for_item, counts_for_items
from alerts.engagement.report import comparison
from alerts.items import rich_fields, translations
from alerts.items.drafts import ITEM_KINDS
from alerts.mail.rendering import KIND_LABELS
from alerts.staff.keys import allowed, authenticate
from alerts.web.api.deps import Id, Staff
from alerts.web.compose_form import rich_view
from alerts.web.compose_translations import new_tabs
from alerts.web.csp import compose_policy
from alerts.web.csrf import COOKIE as CSRF_COOKIE
from alerts.web.csrf import FIELD
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime
from alerts.web.state import staff_sessions as _sessions

router = APIRouter(prefix="/staff", include_in_schema=False)


Csrf = Annotated[str | None, Form(alias=FIELD)]


class NotSignedIn(Exception):
    pass


def _staff(
    request: Request, permission: str, csrf_token: object = None, check_csrf: bool = False
) -> Staff:
    staff = _sessions(request).read(request)
    if staff is None:
        raise NotSignedIn
    if check_csrf and not _pages(request).csrf.valid_for_session(staff.session_id, csrf_token):
        raise HTTPException(403, "This form has expired: reload the page and try again.")
    if not allowed(staff.role, permission):
        raise HTTPException(403, f"The {staff.role} role may not do this.")
    return staff


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    pages, staff = _pages(request), context.get("staff")
    # Signed in, every form (sign-out included) carries a token bound to the session.
    token = (
        pages.csrf.session_token(staff.session_id)
        if isinstance(staff, Staff) and staff.session_id
        else None
    )
    # The browser's language (or ?lang=): what is translated (the compose form, kinds) follows.
    language = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    response = pages.render(
        request, f"staff/{template}", language, status=status, csrf_token=token, **context
    )
    if template == "item.html":
        response.headers["Content-Security-Policy"] = compose_policy(_runtime(request).settings)
    return response


def _back(request: Request, item_id: int | None = None, note: str = "") -> RedirectResponse:
    root = _pages(request).root
    target = f"{root}/staff/items/{item_id}" if item_id else f"{root}/staff"
    return RedirectResponse(target + (f"?note={note}" if note else ""), status_code=303)


def signed_in(handler: Any) -> Any:
    import functools

    @functools.wraps(handler)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            response: Response = handler(request, *args, **kwargs)
        except NotSignedIn:
            return RedirectResponse(f"{_pages(request).root}/staff/login", status_code=303)
        return response

    return wrapper


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _render(request, "login.html", staff=None, error="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, key: Annotated[str, Form(max_length=200)] = "", csrf_token: Csrf = None
) -> Response:
    if not _pages(request).csrf.valid(request.cookies.get(CSRF_COOKIE), csrf_token):
        return _render(
            request, "login.html", status=403, staff=None, error="The form expired; try again."
        )
    with _runtime(request).sessions() as session:
        row = authenticate(session, key.strip(), utcnow())
        session.commit()
        key_id = row.id if row else None
    if key_id is None:
        return _render(
            request, "login.html", status=401, staff=None, error="That key is not valid."
        )
    response = _back(request)
    _sessions(request).start(request, response, key_id)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Csrf = None) -> Response:
    sessions = _sessions(request)
    staff = sessions.read(request)
    # Otherwise any site could sign staff out; with no live session there is nothing to end.
    if staff is not None and not _pages(request).csrf.valid_for_session(
        staff.session_id, csrf_token
    ):
        raise HTTPException(403, "This form has expired: reload the page and try again.")
    response = RedirectResponse(f"{_pages(request).root}/staff/login", status_code=303)
    sessions.end(request, response)
    return response


@router.get("", response_class=HTMLResponse)
@signed_in
def items_list(request: Request) -> Response:
    staff = _staff(request, "items:read")
    with _runtime(request).sessions() as session:
        items = session.scalars(select(Item).order_by(Item.id.desc()).limit(100)).all()
        counts = counts_for_items(session, [i.id for i in items])
        compared = comparison(session)
        rows = [
            {
                "id": i.id,
                "title": i.title,
                "status": i.status,
                "kind": i.kind,
                "published_at": i.published_at,
                "publish_at": i.publish_at,
                "counts": counts.get(i.id, {}),
            }
            for i in items
        ]
    return _render(request, "items.html", staff=staff, items=rows, compared=compared)


@router.get("/items/new", response_class=HTMLResponse)
@signed_in
def new_item(request: Request) -> Response:
    staff = _staff(request, "items:write")
    blank: dict[str, Any] = {
        "id": None,
        "title": "",
        "summary": "",
        "body": "",
        "url": "",
        "kind": "press_release",
        "language": "en",
        "campaign": "",
        "countries": [],
        "topics": [],
        "status": "draft",
        "publish_at": None,
        "published_at": None,
        "corrects_id": None,
        "image": None,
        "attachments": [],
        "notes": None,
        "contacts": None,
    }
    settings = _runtime(request).settings
    with _runtime(request).sessions() as session:
        rich = rich_view(session, settings, blank)
    return _render(
        request,
        "item.html",
        staff=staff,
        item=blank,
        # A tab per language the office publishes in: translations saved with the item.
        tabs=new_tabs(settings.reader_language_list, blank["language"]),
        preview_tab=None,
        rich=rich,
        kinds=ITEM_KINDS,
        kind_labels=KIND_LABELS,
        errors=[],
        preview_html=None,
        reach=None,
        counts={},
        note="",
    )


Text = Annotated[str, Form(max_length=100_000)]


def translation_view(row: ItemTranslation) -> dict[str, str]:
    """A stored translation as its form shows it ("" where it leaves the original's)."""
    return {
        "language": row.language,
        "title": row.title,
        "summary": row.summary or "",
        "body": row.body or "",
        "image_alt": row.image_alt or "",
        "image_caption": row.image_caption or "",
        "notes": row.notes or "",
    }


@router.get("/items/{item_id}", response_class=HTMLResponse)
@signed_in
def show(request: Request, item_id: Id, note: str = "") -> Response:
    staff = _staff(request, "items:read")
    with _runtime(request).sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        view = {
            "id": item.id,
            "title": item.title,
            "summary": item.summary,
            "body": item.body,
            "url": item.url or "",
            "kind": item.kind,
            "language": item.language,
            "campaign": item.campaign or "",
            "countries": item.countries,
            "topics": item.topics,
            "status": item.status,
            "publish_at": item.publish_at,
            "published_at": item.published_at,
            "embargo_until": item.embargo_until,
            "corrects_id": item.corrects_id,
            "import_problem": item.import_problem,
        }
        rich = rich_view(session, _runtime(request).settings, rich_fields.of_item(item))
        estimate = reach(session, item.id, item.countries, item.topics)
        counts = counts_for_item(session, item_id)
        translated = [translation_view(row) for row in translations.of_item(session, item.id)]
    return _render(
        request,
        "item.html",
        staff=staff,
        item=view,
        tabs=[],
        preview_tab=None,
        translations=translated,
        rich=rich,
        kinds=ITEM_KINDS,
        kind_labels=KIND_LABELS,
        errors=[],
        preview_html=None,
        reach=estimate,
        counts=counts,
        note=note,
    )
