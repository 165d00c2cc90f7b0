"""Staff API keys: created once, kept only as a hash, revocable, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alerts.core.models import ApiKey, StaffRole

KEY_PREFIX = "nra_"  # recognisable in logs and secret scanners


@dataclass(frozen=True)
class Staff:
    """Who is calling: a live key (from a header or the pages' session) and its role."""

    key_id: int
    name: str
    role: str
    # Signed in on the staff pages (not with a key): their forms' CSRF tokens are bound to it.
    session_id: str | None = None


class UnknownKey(LookupError):
    """No such key (or it is already revoked)."""


def hash_key(key: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, role: str, now: datetime) -> tuple[ApiKey, str]:
    """Add a key; returns the row and the key itself, which is never stored."""
    if role not in set(StaffRole):
        raise ValueError(f"unknown role {role!r} (one of {', '.join(StaffRole)})")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a key needs a name of 1 to 100 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role, key_hash=hash_key(key), prefix=key[:12], created_at=now)
    session.add(row)
    session.flush()
    return row, key


def revoke_key(session: Session, id_or_prefix: str, now: datetime) -> ApiKey:
    condition = ApiKey.prefix == id_or_prefix
    if id_or_prefix.isdigit():
        condition = or_(condition, ApiKey.id == int(id_or_prefix))
    row = session.scalars(select(ApiKey).where(condition, ApiKey.revoked_at.is_(None))).first()
    if row is None:
        raise UnknownKey(f"no active key {id_or_prefix!r}")
    row.revoked_at = now
    return row


def authenticate(session: Session, key: str, now: datetime) -> ApiKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    if row is not None:
        row.last_used_at = now
    return row


# Which roles may do what: admin may do everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "items:read": frozenset({StaffRole.PUBLISHER, StaffRole.OPERATOR, StaffRole.ADMIN}),
    "items:write": frozenset({StaffRole.PUBLISHER, StaffRole.ADMIN}),
    "journalists:read": frozenset({StaffRole.PUBLISHER, StaffRole.ADMIN}),
    "journalists:write": frozenset({StaffRole.PUBLISHER, StaffRole.ADMIN}),
    "journalists:erase": frozenset({StaffRole.ADMIN}),
    "deliveries:retry": frozenset({StaffRole.OPERATOR, StaffRole.ADMIN}),
    "ops": frozenset({StaffRole.OPERATOR, StaffRole.ADMIN}),
    "keys": frozenset({StaffRole.ADMIN}),
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]
