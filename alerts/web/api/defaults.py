"""/api/defaults: notes to editors and media contacts for every item without its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from alerts.core.models import utcnow
from alerts.items import defaults
from alerts.web.api import schemas
from alerts.web.api.deps import Staff, require, session

router = APIRouter(prefix="/defaults", tags=["defaults"])

Db = Annotated[Session, Depends(session)]
Reader = Annotated[Staff, Depends(require("items:read"))]
Writer = Annotated[Staff, Depends(require("items:write"))]


@router.get("", response_model=schemas.DefaultsOut)
def get_defaults(db: Db, _: Reader) -> schemas.DefaultsOut:
    return schemas.DefaultsOut.of(defaults.get_defaults(db))


@router.put("", response_model=schemas.DefaultsOut)
def put_defaults(body: schemas.Defaults, db: Db, staff: Writer) -> schemas.DefaultsOut:
    """Replace the defaults; every item whose notes or contacts are null shows them from
    its next rendering on (an item's own, even an empty list, stays its own)."""
    given = defaults.DefaultsIn.model_validate(body.model_dump())
    row = defaults.set_defaults(db, given, staff.name, utcnow())
    db.commit()
    return schemas.DefaultsOut.of(row)
