"""The web link in an embargoed alert: signed for one item, good until its embargo lifts.

Verified press receive embargoed releases before anyone else; the link in that
email opens the release's page during the embargo, and only that release's.
The token names the item and the moment it stops working (the lift it was
signed for), so it needs no table: a forged one, one for another item, or one
past its time answers like an id that was never used. After the lift the plain
address works for everyone and the token is no longer needed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "newsroom-alerts.embargo-preview"


class EmbargoLinks:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)

    def sign(self, item_id: int, until: datetime) -> str:
        """A token for ``item_id`` that stops working at ``until`` (the embargo's lift)."""
        return self._serializer.dumps([item_id, int(until.astimezone(UTC).timestamp())])

    def opens(self, token: str, item_id: int, now: datetime) -> bool:
        """Whether ``token`` was signed for this item and its time has not come."""
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return False
        if not (isinstance(value, list) and len(value) == 2):
            return False
        signed_id, until = value
        if type(signed_id) is not int or type(until) is not int:
            return False
        return signed_id == item_id and now.timestamp() < until
