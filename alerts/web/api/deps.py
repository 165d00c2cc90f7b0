"""Request plumbing for the staff API: the runtime, a session, the caller's key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from alerts.core.models import utcnow
from alerts.staff.keys import Staff, allowed, authenticate
from alerts.web.state import celery, runtime

__all__ = ["Id", "Staff", "celery", "field_error", "require", "runtime", "session"]

bearer = HTTPBearer(auto_error=False, description="A staff API key: `Authorization: Bearer nra_…`")
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Or the key here.")
UNAUTHORIZED = "a valid staff API key is required"
GATED_STAFF = "gated_staff"  # request state: the caller the API key gate let through


def session(request: Request) -> Iterator[Session]:
    with runtime(request).sessions() as db:
        yield db


def staff_from_key(db: Session, key: str | None) -> Staff | None:
    if not key:
        return None
    row = authenticate(db, key, utcnow())
    if row is None:
        return None
    db.commit()  # last_used_at
    return Staff(row.id, row.name, row.role)


def require(permission: str) -> Callable[..., Staff]:
    """A dependency: the caller holds a live key whose role allows ``permission``."""

    def check(
        request: Request,
        db: Annotated[Session, Depends(session)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        api_key: Annotated[str | None, Security(header_key)],
    ) -> Staff:
        # The gate (web/api_gate.py) has already checked a key sent with a body.
        staff: Staff | None = request.scope.get("state", {}).get(GATED_STAFF)
        if staff is None:
            staff = staff_from_key(db, credentials.credentials if credentials else api_key)
        if staff is None:
            # Also the staff pages' session: the same roles, signed into a cookie.
            staff = request.app.state.staff_sessions.read(request)
        if staff is None:
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        if not allowed(staff.role, permission):
            raise HTTPException(403, f"the {staff.role} role may not do this ({permission})")
        return staff

    return check


def field_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    detail: list[dict[str, Any]] = [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    return HTTPException(422, detail=detail)


# Ids are 32-bit in the schema too: a larger number is a 422 (a 404 page on the web
# pages), not a database error; routes taking an id in their path use this type.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
