"""The staff item page's translations: one form per language, saved or removed.

Plain forms (no JavaScript needed), checked by the same ``items.translations`` as
the API; each language's section has its own preview (the email a reader of that
language gets): the saved version's (``/api/items/{id}/preview?lang=``) until staff
type, then the typed words' (``translations/preview``, nothing saved), redrawn by
translations.js or by the section's "Preview" button without JavaScript.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from alerts.core.models import Item, utcnow
from alerts.items import translations
from alerts.items.translations import InvalidTranslation
from alerts.mail.rich_blocks import load_rich
from alerts.web import translation_form
from alerts.web.api.deps import Id
from alerts.web.csp import compose_policy
from alerts.web.staff_pages import Csrf, Text, _render, _staff, signed_in, translation_view
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime
from alerts.web.translation_preview import preview_html

router = APIRouter(prefix="/staff", include_in_schema=False)

Short = Annotated[str, Form(max_length=600)]


def _back(request: Request, item_id: int, note: str = "") -> RedirectResponse:
    target = f"{_pages(request).root}/staff/items/{item_id}/translations"
    return RedirectResponse(target + (f"?note={note}" if note else ""), status_code=303)


@router.get("/items/{item_id}/translations", response_class=HTMLResponse)
@signed_in
def translations_page(request: Request, item_id: Id, note: str = "") -> Response:
    """A section per language (its own tab in the page's list), each with its own preview."""
    return _page(request, item_id, note=note[:300])


def _page(
    request: Request,
    item_id: int,
    note: str = "",
    typed: dict[str, str] | None = None,
    shown: str | None = None,
    status: int = 200,
) -> Response:
    """The page; ``typed``: one section's unsaved words (kept in its form), ``shown``:
    their preview (in that section's frame instead of the saved version's)."""
    staff = _staff(request, "items:read")
    runtime = _runtime(request)
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        rich = load_rich(session, [item], runtime.settings.media_base_url)[item.id]
        rows = [translation_view(row) for row in translations.of_item(session, item.id)]
        view = {"id": item.id, "title": item.title, "language": item.language}
    if typed is not None:
        # The typed words replace that language's saved ones in its form, or fill the new one.
        known = [row["language"] for row in rows]
        key = typed["language"] if typed["language"] in known else ""
        rows = [typed if row["language"] == key else row for row in rows]
        blank = typed if not key else None
        section: str | None = key or "new"
    else:
        section, blank = None, None
    response = _render(
        request,
        "translations.html",
        status=status,
        staff=staff,
        item=view,
        rich={"photo": rich.photo},
        translations=rows,
        blank=blank,
        typed_section=section,
        preview_html=shown,
        note=note,
    )
    # A preview shown inline (srcdoc) keeps the page's policy: the photo's thumbnail may be data:.
    response.headers["Content-Security-Policy"] = compose_policy(runtime.settings)
    return response


def _typed(
    language: Annotated[str, Form(max_length=20)] = "",
    title: Short = "",
    summary: Text = "",
    body: Text = "",
    image_alt: Short = "",
    image_caption: Short = "",
    notes: Text = "",
) -> dict[str, str]:
    """One language section's form as typed (the preview and the save read the same)."""
    return {
        "language": language.strip(),
        "title": title,
        "summary": summary,
        "body": body,
        "image_alt": image_alt,
        "image_caption": image_caption,
        "notes": notes,
    }


Typed = Annotated[dict[str, str], Depends(_typed)]


@router.post("/items/{item_id}/translations/preview", response_model=None)
@signed_in
def preview_translation(
    request: Request, item_id: Id, typed: Typed, csrf_token: Csrf = None
) -> Response:
    """The section's email as typed, nothing saved: JSON to the page's script (``Accept:
    application/json``), the whole page with that section's preview to a plain submit."""
    _staff(request, "items:write", csrf_token, check_csrf=True)
    words = translation_form.words(typed)
    runtime = _runtime(request)
    html, error = None, ""
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        try:
            html = preview_html(session, runtime, item, typed["language"], words)
        except InvalidTranslation as exc:
            error = str(exc)
    status = 422 if error else 200
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"html": html, "error": error or None}, status_code=status)
    return _page(
        request,
        item_id,
        note=f"error: {error}"[:300] if error else "",
        typed=typed,
        shown=html,
        status=status,
    )


@router.post("/items/{item_id}/translations")
@signed_in
def save_translation(
    request: Request, item_id: Id, typed: Typed, csrf_token: Csrf = None
) -> Response:
    _staff(request, "items:write", csrf_token, check_csrf=True)
    words = translation_form.words(typed)
    with _runtime(request).sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        try:
            code = translations.check_language(typed["language"])
            translations.put(session, item, code, translations.parse_fields(words), utcnow())
        except InvalidTranslation as exc:
            session.rollback()
            return _back(request, item_id, f"error: {exc}"[:300])
        session.commit()
    return _back(request, item_id, f"translation {code} saved")


@router.post("/items/{item_id}/translations/{lang}/delete")
@signed_in
def delete_translation(
    request: Request, item_id: Id, lang: str, csrf_token: Csrf = None
) -> Response:
    _staff(request, "items:write", csrf_token, check_csrf=True)
    with _runtime(request).sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        removed = translations.remove(session, item, lang[:16])
        session.commit()
    return _back(request, item_id, f"translation {lang[:16]} removed" if removed else "")
