"""Digests' links are click-tracked: a real digest through the pipeline (the beat plans,
the worker sends, the sink receives), its links followed like a person, each click
counted for the item it belongs to, and no token sending anyone off the item's links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from alerts.core.click_tokens import ClickSigner
from alerts.core.models import Cadence, Delivery, Digest, DigestStatus, Item, utcnow
from alerts.engagement.report import item_report
from alerts.web import create_app
from alerts.worker.app import PLAN_DIGESTS
from tests.conftest import SECRET, Stack
from tests.factories import journalist, published_item
from tests.test_clicks import BROWSER
from tests.webclient import wait_for_mail

ADDRESS = "dana@tokyo.example"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with TestClient(
        create_app(pipeline.app), base_url=pipeline.settings.base_url, follow_redirects=False
    ) as client:
        yield client


def _digest(pipeline: Stack) -> tuple[dict[str, int], str, str]:
    """Dana's daily digest of two items, as received; the items by title."""
    now = utcnow()
    due = (now - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    with pipeline.session() as session:
        dana = journalist(session, ADDRESS, (["MX"], [], Cadence.DAILY), name="Dana")
        dana.timezone, dana.digest_minute = "Asia/Tokyo", due.hour * 60 + due.minute
        session.flush()
        items = {}
        for title, hours_ago, slug in (("Older report", 5, "older"), ("Newer release", 3, "newer")):
            item_id = published_item(
                session,
                title=title,
                countries=["MX"],
                url=f"https://ngo.example/{slug}",
                body=f"See [the data](https://data.ngo.example/{slug}).",
            )
            session.get(Item, item_id).published_at = now - timedelta(hours=hours_ago)  # type: ignore[union-attr]
            items[title] = item_id
        session.commit()
    for item_id in items.values():
        pipeline.wait_for_item(item_id)  # immediate fan-outs: no one matches
    pipeline.app.send_task(PLAN_DIGESTS)
    [received] = wait_for_mail(pipeline, ADDRESS)
    pipeline.wait_until(
        lambda: _statuses(pipeline) == [DigestStatus.SENT], what="the digest recorded sent"
    )
    with pipeline.session() as session, session.begin():
        # Sent a minute ago: no click is "too soon after delivery" (a scanner's mark).
        session.execute(update(Delivery).values(sent_at=utcnow() - timedelta(minutes=1)))
    text_part, html_part = received.get_body(("plain",)), received.get_body(("html",))
    assert text_part is not None and html_part is not None
    text = str(text_part.get_content()).replace("\r\n", "\n")
    html = str(html_part.get_content())
    return items, text, html


def _statuses(pipeline: Stack) -> list[str]:
    with pipeline.session() as session:
        return list(session.scalars(select(Digest.status)))


def _report(pipeline: Stack, item_id: int) -> dict[str, object]:
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item_report(session, item)


def _path(url: str) -> str:
    return url[url.index("/c/") :]


def test_a_digests_links_are_tracked_and_counted_for_their_own_item(
    pipeline: Stack, web: TestClient
) -> None:
    assert pipeline.settings.track_clicks == "aggregate"  # the default
    items, text, html = _digest(pipeline)
    base = pipeline.settings.base_url
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    tracked = list(dict.fromkeys(h for h in hrefs if h.startswith(f"{base}/c/")))
    # Each item's link and its web version; no target is left bare in either part.
    assert len(tracked) == 4, hrefs
    for slug in ("older", "newer"):
        assert f"https://ngo.example/{slug}" not in html + text
    assert f"{base}/news/" not in html and f"{base}/news/" not in text
    assert {_path(u) for u in re.findall(r"https?://\S+/c/\S+", text)} == {
        _path(u) for u in tracked
    }
    assert "@" not in "".join(tracked)  # no address in any token

    older, newer = items["Older report"], items["Newer release"]

    def item_of(link: str) -> int:
        return int(_path(link).split("/")[2].split(".")[0])

    # A person opens one link of each item (two links of one item within seconds would
    # be a scanner's burst); the rest are checked with HEAD, which counts as a machine.
    landed: dict[str, int] = {}
    people: dict[int, str] = {}
    for link in tracked:
        person = item_of(link) not in people
        send = web.get if person else web.head
        response = send(_path(link), headers={"User-Agent": BROWSER})
        assert response.status_code == 302, response.text
        landed[response.headers["location"]] = item_of(link)
        if person:
            people[item_of(link)] = response.headers["location"]
    assert landed == {
        "https://ngo.example/older": older,
        f"{base}/news/{older}?lang=en": older,
        "https://ngo.example/newer": newer,
        f"{base}/news/{newer}?lang=en": newer,
    }
    # Each click counted once, for its own item and link; the HEADs apart, as machines.
    for item_id in (older, newer):
        report = _report(pipeline, item_id)
        clicks = report["clicks"]
        assert isinstance(clicks, dict)
        assert report["sent"] == 1
        assert (clicks["human"], clicks["unique_human"], clicks["machine"]) == (1, 1, 1), clicks
        humans = {link["url"]: link["human"] for link in clicks["by_link"] if link["human"]}
        assert humans == {people[item_id]: 1}


def test_a_digest_token_cannot_be_turned_toward_another_target(
    pipeline: Stack, web: TestClient
) -> None:
    items, _, html = _digest(pipeline)
    base = pipeline.settings.base_url
    [first, *_] = [unescape(h) for h in re.findall(r'href="([^"]+)"', html) if "/c/" in h]
    older, newer = items["Older report"], items["Newer release"]
    delivery = int(_path(first).split(".")[3])
    allowed = {
        "https://ngo.example/older",
        "https://ngo.example/newer",
        "https://data.ngo.example/older",
        "https://data.ngo.example/newer",
        f"{base}/news/{older}?lang=en",
        f"{base}/news/{newer}?lang=en",
    }
    ours = ClickSigner(SECRET)
    for item_id in (older, newer, older + newer, 0):
        for number in range(1, 8):
            response = web.get(f"/c/{ours.token(item_id, 'en', number, delivery)}")
            if response.status_code == 302:
                assert response.headers["location"] in allowed
            else:
                assert response.status_code == 404 and "location" not in response.headers
    forged = _path(first)[:-2] + ("AA" if not _path(first).endswith("AA") else "BB")
    assert web.get(forged).status_code == 400
