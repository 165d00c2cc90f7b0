"""Machine clicks: mail security scanners and prefetchers open links before people do.

The rules (docs/engagement.md says the same, for staff):

1. A ``HEAD`` request is a machine: browsers open links with ``GET``.
2. A known scanner's user agent, or none at all, is a machine (Microsoft Defender
   Safe Links, Proofpoint URL Defense, Mimecast, Barracuda, and crawlers, HTTP
   libraries and link-preview fetchers).
3. A click within ``NEAR_DELIVERY_SECONDS`` of the delivery is a machine: nobody
   reads an alert that fast, scanners check it as it arrives.
4. Links of one email opened within ``BURST_SECONDS`` of each other are machines,
   every one of them (the earlier ones are counted again as machine clicks):
   a scanner opens every link of a message at once, a person one at a time.
"""

from __future__ import annotations

import re
from datetime import datetime

HUMAN = "human"
MACHINE = "machine"
NEAR_DELIVERY_SECONDS = 5.0
BURST_SECONDS = 3.0

_SCANNERS = re.compile(
    r"safelinks|safe links|defender|microsoft office|ms-office|office365|outlook-ios-preview|"
    r"proofpoint|urldefense|ppops|mimecast|barracuda|bsmtp|messagelabs|symantec|forcepoint|"
    r"trendmicro|sophos|fortiguard|zscaler|cisco|ironport|"
    r"bot\b|bot/|spider|crawler|preview|scanner|"
    r"python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|java/|okhttp|"
    r"libwww|headlesschrome|phantomjs|googleimageproxy|yahoomailproxy",
    re.IGNORECASE,
)


def first_look(method: str, user_agent: str) -> str:
    """Rules 1 and 2: what the request alone says."""
    if method.upper() == "HEAD":
        return MACHINE
    agent = user_agent.strip()
    if not agent or _SCANNERS.search(agent):
        return MACHINE
    return HUMAN


def too_soon(clicked_at: datetime, sent_at: datetime | None) -> bool:
    """Rule 3."""
    if sent_at is None:
        return False
    return (clicked_at - sent_at).total_seconds() < NEAR_DELIVERY_SECONDS
