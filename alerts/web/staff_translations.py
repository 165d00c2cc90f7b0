"""The staff item page's translations: one form per language, saved or removed.

Plain forms (no JavaScript needed), checked by the same ``items.translations`` as
the API; each language's saved version has its own preview (the email a reader
of that language gets, ``/api/items/{id}/preview?lang=``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.core.models import Item, utcnow
from alerts.items import translations
from alerts.items.translations import InvalidTranslation
from alerts.mail.rich_blocks import load_rich
from alerts.web.api.deps import Id
from alerts.web.staff_pages import Csrf, Text, _render, _staff, signed_in, translation_view
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime

router = APIRouter(prefix="/staff", include_in_schema=False)

Short = Annotated[str, Form(max_length=600)]


def _back(request: Request, item_id: int, note: str = "") -> RedirectResponse:
    target = f"{_pages(request).root}/staff/items/{item_id}/translations"
    return RedirectResponse(target + (f"?note={note}" if note else ""), status_code=303)


@router.get("/items/{item_id}/translations", response_class=HTMLResponse)
@signed_in
def translations_page(request: Request, item_id: Id, note: str = "") -> Response:
    """A section per language (its own tab in the page's list), each with its own preview."""
    staff = _staff(request, "items:read")
    runtime = _runtime(request)
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        rich = load_rich(session, [item], runtime.settings.media_base_url)[item.id]
        rows = [translation_view(row) for row in translations.of_item(session, item.id)]
        view = {"id": item.id, "title": item.title, "language": item.language}
    return _render(
        request,
        "translations.html",
        staff=staff,
        item=view,
        rich={"photo": rich.photo},
        translations=rows,
        note=note[:300],
    )


@router.post("/items/{item_id}/translations")
@signed_in
def save_translation(
    request: Request,
    item_id: Id,
    language: Annotated[str, Form(max_length=20)] = "",
    title: Short = "",
    summary: Text = "",
    body: Text = "",
    image_alt: Short = "",
    image_caption: Short = "",
    notes: Text = "",
    csrf_token: Csrf = None,
) -> Response:
    _staff(request, "items:write", csrf_token, check_csrf=True)
    # A field left empty is the original's (as a field left out of the API's body).
    given = {
        "title": title,
        "summary": summary,
        "body": body,
        "image_alt": image_alt,
        "image_caption": image_caption,
        "notes": notes,
    }
    words = {name: value for name, value in given.items() if value.strip() or name == "title"}
    with _runtime(request).sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(404, f"No item {item_id}.")
        try:
            code = translations.check_language(language.strip())
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
