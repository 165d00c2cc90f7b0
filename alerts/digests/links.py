"""Click-through links in a digest: each item's links through ``BASE_URL/c/TOKEN``.

A digest carries several items, and each item went to the journalist under a
delivery row of its own (``Delivery.digest_id``), so a digest's link is an alert
link: the token names the item, the link's number in that item's link table (the
same table its alert uses, in the digest's language) and the item's delivery for
this journalist. No new token format, and the target is still looked up in the
stored item, never carried: a digest's token is no open redirect either.

A URL of the digest that is no item's link (the newsroom's chrome) is left as it
is. One URL two items both link to is counted for the first item of the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.core.click_tokens import ClickSigner
from alerts.mail.tracked_links import substitute


@dataclass(frozen=True)
class DigestLinks:
    # Each item's numbered targets (1 first) in the digest's language, in digest order.
    tables: Mapping[int, tuple[str, ...]]
    # Each item's link-table key: the digest's language, or a translation's key in it.
    keys: Mapping[int, str]
    # Each item's delivery row for this journalist.
    deliveries: Mapping[int, int]
    signer: ClickSigner


def track(text: str, html: str, base_url: str, links: DigestLinks) -> tuple[str, str]:
    """Both parts with every item link through its click token; the rest left alone."""
    owner: dict[str, tuple[int, int]] = {}
    for item_id, targets in links.tables.items():
        if item_id not in links.deliveries:
            continue
        for number, url in enumerate(targets, start=1):
            owner.setdefault(url, (item_id, number))
    root = base_url.rstrip("/")

    def tracked(url: str) -> str | None:
        found = owner.get(url)
        if found is None:
            return None
        item_id, number = found
        token = links.signer.token(item_id, links.keys[item_id], number, links.deliveries[item_id])
        return f"{root}/c/{token}"

    return substitute(text, html, tracked)
