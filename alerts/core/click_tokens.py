"""Click-through tokens: ``ITEM.LANG.NUMBER.DELIVERY.MAC``, signed, never a URL or an address.

The token names a link by its number in the item's email (the target is looked up
in the stored item, so no token can send a browser anywhere the item does not
link to) and the delivery it was sent in. The first three parts are the same for
every reader of one language, so they are written once into the per-item
skeleton; only ``DELIVERY.MAC`` is filled in per recipient. The MAC covers every
part, under a key of its own (a click token is no unsubscribe token, and no other
token is a click token).

The MAC is keyed BLAKE2b (RFC 7693), a third of HMAC-SHA256's cost here: every
link of every email is signed once per recipient, inside the send loop. Tokens
signed with HMAC-SHA256 (emails sent before the change) still read: a link in a
mailbox must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from alerts.core.tokens import InvalidToken

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
_MAC_BYTES = 12  # 96 bits: 16 characters of URL-safe base64
_MAX_ID = 10**12


@dataclass(frozen=True)
class ClickToken:
    item_id: int
    language: str
    number: int
    delivery_id: int


class ClickSigner:
    def __init__(self, secret: str) -> None:
        # One derived key for both MACs: BLAKE2b's keyed mode is a MAC as it stands.
        self._key = hmac.new(secret.encode(), b"newsroom-alerts.click", hashlib.sha256).digest()

    @staticmethod
    def prefix(item_id: int, language: str, number: int) -> str:
        """The part of the token every reader of one language shares."""
        return f"{item_id}.{language}.{number}."

    def suffix(self, prefix: str, delivery_id: int) -> str:
        """The per-recipient part: the delivery and the MAC over the whole token."""
        return self.suffix_bytes(prefix.encode("ascii"), delivery_id).decode("ascii")

    def suffix_bytes(self, prefix: bytes, delivery_id: int) -> bytes:
        """:meth:`suffix` as ASCII bytes, as the message skeleton takes it."""
        delivery = b"%d" % delivery_id
        mac = hashlib.blake2b(prefix + delivery, key=self._key, digest_size=_MAC_BYTES).digest()
        return delivery + b"." + base64.urlsafe_b64encode(mac)

    def _legacy_suffix(self, prefix: str, delivery_id: int) -> str:
        """HMAC-SHA256, as tokens were signed before BLAKE2b (still in mailboxes)."""
        head = f"{prefix}{delivery_id}"
        mac = hmac.digest(self._key, head.encode("ascii"), "sha256")[:_MAC_BYTES]
        return f"{delivery_id}.{base64.urlsafe_b64encode(mac).decode('ascii')}"

    def token(self, item_id: int, language: str, number: int, delivery_id: int) -> str:
        prefix = self.prefix(item_id, language, number)
        return prefix + self.suffix(prefix, delivery_id)

    def read(self, token: str, opening: bool = False) -> ClickToken:
        """The token's parts; InvalidToken when altered, cut short or signed elsewhere.

        Link number 0 is the open-tracking image's (``opening``), never a link's.
        """
        parts = token.split(".")
        if len(parts) != 5 or len(token) > 200:
            raise InvalidToken("this link is not valid")
        item, language, number, delivery, _ = parts
        numbers = (item, number, delivery)
        if not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in numbers):
            raise InvalidToken("this link is not valid")
        if not _LANGUAGE.match(language):
            raise InvalidToken("this link is not valid")
        prefix = f"{item}.{language}.{number}."
        given = token.encode()
        if not any(
            hmac.compare_digest((prefix + sign(prefix, int(delivery))).encode(), given)
            for sign in (self.suffix, self._legacy_suffix)
        ):
            raise InvalidToken("this link is not valid")
        values = int(item), int(number), int(delivery)
        if any(v >= _MAX_ID for v in values) or (int(number) == 0) != opening:
            raise InvalidToken("this link is not valid")
        return ClickToken(values[0], language, values[1], values[2])
