"""/api/keys: staff API keys (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import ApiKey, utcnow
from alerts.staff.keys import UnknownKey, create_key, revoke_key
from alerts.web.api import schemas
from alerts.web.api.deps import Id, Staff, require, session

router = APIRouter(prefix="/keys", tags=["keys"])
Db = Annotated[Session, Depends(session)]
Admin = Annotated[Staff, Depends(require("keys"))]


def _out(row: ApiKey) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("", response_model=list[schemas.KeyOut])
def list_keys(db: Db, _: Admin) -> list[schemas.KeyOut]:
    return [_out(row) for row in db.scalars(select(ApiKey).order_by(ApiKey.id))]


@router.post("", status_code=201, response_model=schemas.NewKey)
def add_key(body: schemas.KeyCreate, db: Db, _: Admin) -> schemas.NewKey:
    row, key = create_key(db, body.name, body.role, utcnow())
    db.commit()
    return schemas.NewKey(**_out(row).model_dump(), key=key)


@router.delete(
    "/{key_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": schemas.Problem}},
)
def revoke(key_id: Id, db: Db, _: Admin) -> Response:
    try:
        revoke_key(db, str(key_id), utcnow())
    except UnknownKey as exc:
        raise HTTPException(404, str(exc)) from exc
    db.commit()
    return Response(status_code=204)
