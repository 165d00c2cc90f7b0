"""Staff page sessions, kept in the database so that they end when staff say so.

A cookie alone cannot be taken back: until it expired, a copied or left-behind
cookie kept working after "Sign out" or after its key was revoked. Here the
cookie only carries a random token; the session is a row found by the token's
hash, and every request looks it up together with its key. Signing out deletes
the row; revoking the key ends all its sessions at once, because the lookup
requires the key to be live (nothing else has to be remembered to do it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from alerts.core.models import ApiKey, StaffSession

# However busy, a session ends this long after sign-in...
ABSOLUTE = timedelta(hours=12)
# ...and sooner when left alone this long (a screen left unlocked overnight).
IDLE = timedelta(hours=2)
# last_seen_at is written at most this often, not on every page view.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class LiveSession:
    id: str  # the token's hash: safe to name in logs and to bind CSRF tokens to
    key_id: int
    name: str
    role: str


def session_id(token: str) -> str:
    # 32 random bytes: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Session, key_id: int, now: datetime) -> str:
    """A new session for the key; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            id=session_id(token),
            api_key_id=key_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE,
        )
    )
    db.flush()
    return token


def lookup(db: Session, token: str, now: datetime) -> LiveSession | None:
    """The live session of ``token`` and its key, in one query; the caller commits."""
    found = db.execute(
        select(StaffSession.id, StaffSession.last_seen_at, ApiKey.id, ApiKey.name, ApiKey.role)
        .join(ApiKey, ApiKey.id == StaffSession.api_key_id)
        .where(
            StaffSession.id == session_id(token),
            StaffSession.expires_at > now,
            StaffSession.last_seen_at > now - IDLE,
            ApiKey.revoked_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    sid, last_seen, key_id, name, role = found
    if now - last_seen >= TOUCH_EVERY:
        db.execute(update(StaffSession).where(StaffSession.id == sid).values(last_seen_at=now))
    return LiveSession(sid, key_id, name, role)


def end(db: Session, token: str) -> None:
    db.execute(delete(StaffSession).where(StaffSession.id == session_id(token)))


def delete_dead(db: Session, now: datetime) -> int:
    """Rows of sessions that can no longer be used: expired, idle, or of a revoked key."""
    revoked = select(ApiKey.id).where(ApiKey.revoked_at.is_not(None))
    result = db.execute(
        delete(StaffSession).where(
            or_(
                StaffSession.expires_at <= now,
                StaffSession.last_seen_at <= now - IDLE,
                StaffSession.api_key_id.in_(revoked),
            )
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
