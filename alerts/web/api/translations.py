"""/api/items/{id}/translations: an item's linked translations, one per language."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from sqlalchemy.orm import Session

from alerts.core.models import Item, utcnow
from alerts.items import translations
from alerts.items.translations import InvalidTranslation
from alerts.web.api import schemas
from alerts.web.api.deps import Id, Staff, require, session

router = APIRouter(prefix="/items", tags=["translations"])

Db = Annotated[Session, Depends(session)]
Reader = Annotated[Staff, Depends(require("items:read"))]
Writer = Annotated[Staff, Depends(require("items:write"))]
# Checked in the route (a known language, not the original's): a 422 naming ``lang``.
Lang = Annotated[str, Path(min_length=2, max_length=16, description="A language code: es, ar")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.Problem}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": schemas.Problem}}


def _item(db: Session, item_id: int) -> Item:
    item = db.get(Item, item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    return item


def _language(lang: str) -> str:
    try:
        return translations.check_language(lang)
    except InvalidTranslation as exc:
        raise _unprocessable(["path", "lang"], str(exc)) from exc


def _unprocessable(loc: list[str | int], message: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": loc, "msg": message, "type": "value_error"}])


@router.get(
    "/{item_id}/translations", response_model=list[schemas.TranslationOut], responses=NOT_FOUND
)
def list_translations(item_id: Id, db: Db, _: Reader) -> list[schemas.TranslationOut]:
    _item(db, item_id)
    return [schemas.TranslationOut.of(row) for row in translations.of_item(db, item_id)]


@router.put(
    "/{item_id}/translations/{lang}",
    response_model=schemas.TranslationOut,
    responses=NOT_FOUND | CONFLICT,
)
def put_translation(
    item_id: Id, lang: Lang, body: schemas.TranslationIn, db: Db, _: Writer
) -> schemas.TranslationOut:
    """Add or replace the item's translation in ``lang``. Added after publishing, it goes
    to the readers of that language whose email has not been sent yet; nobody gets the
    item twice."""
    language = _language(lang)
    item = _item(db, item_id)
    fields = translations.TranslationFields.model_validate(body.model_dump())
    try:
        row, _created = translations.put(db, item, language, fields, utcnow())
    except InvalidTranslation as exc:
        if exc.field == "language":
            raise _unprocessable(["path", "lang"], str(exc)) from exc
        if exc.field is None:
            raise HTTPException(409, str(exc)) from exc
        raise _unprocessable(["body", *exc.field.split(".")], str(exc)) from exc
    db.commit()
    return schemas.TranslationOut.of(row)


@router.delete(
    "/{item_id}/translations/{lang}",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
)
def delete_translation(item_id: Id, lang: Lang, db: Db, _: Writer) -> Response:
    """Remove it: readers of that language not sent the item yet get the original."""
    language = _language(lang)
    item = _item(db, item_id)
    if not translations.remove(db, item, language):
        raise HTTPException(404, f"item {item_id} has no translation in {language}")
    db.commit()
    return Response(status_code=204)
