"""Click-through links end to end: a real alert through the pipeline, its links opened
like a person (GET, a browser's user agent) and like a scanner (HEAD, a scanner's
agent, every link at once), the report read back, in each privacy mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from alerts.audience import membership
from alerts.core import metrics
from alerts.core.click_tokens import ClickSigner
from alerts.core.models import (
    ClickCount,
    ClickEvent,
    ClickSeen,
    Delivery,
    Item,
    Journalist,
    utcnow,
)
from alerts.engagement.report import item_report
from alerts.items.lifecycle import withdraw
from alerts.staff.keys import create_key
from alerts.web import create_app
from tests.conftest import SECRET, Stack
from tests.factories import journalist, published_item
from tests.webclient import wait_for_mail

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SCANNER = "Mozilla/5.0 (compatible; Microsoft Office/16.0; SafeLinks)"
BODY = (
    "The figures are in [the data](https://data.ngo.example/2026?x=1&y=2). "
    "Questions: [write to us](mailto:press@ngo.example)."
)
ITEM_URL = "https://ngo.example/a"


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    mode = pipeline.app.runtime.settings.track_clicks
    with TestClient(
        create_app(pipeline.app), base_url=pipeline.settings.base_url, follow_redirects=False
    ) as client:
        yield client
    pipeline.app.runtime.settings.track_clicks = mode


def _send(pipeline: Stack, *people: tuple[str, str]) -> tuple[int, dict[str, EmailMessage]]:
    """An alert to each (address, outlet), sent a minute ago (no click is 'too soon')."""
    with pipeline.session() as session:
        for address, outlet in people:
            journalist(session, address, (["MX"], ["asylum"])).outlet = outlet
        item_id = published_item(session, countries=["MX"], topics=["asylum"], body=BODY)
        session.commit()
    pipeline.wait_for_item(item_id)
    mails = {address: wait_for_mail(pipeline, address)[0] for address, _ in people}
    with pipeline.session() as session, session.begin():
        session.execute(update(Delivery).values(sent_at=utcnow() - timedelta(minutes=1)))
        session.execute(update(Item).values(published_at=utcnow() - timedelta(minutes=2)))
    return item_id, mails


def _click_links(message: EmailMessage) -> list[str]:
    html = message.get_body(("html",))
    assert html is not None
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', str(html.get_content()))]
    return list(dict.fromkeys(h for h in hrefs if "/c/" in h))


def _path(url: str) -> str:
    return url[url.index("/c/") :]


def _expected_targets(pipeline: Stack, item_id: int) -> set[str]:
    base = pipeline.settings.base_url
    return {"https://data.ngo.example/2026?x=1&y=2", ITEM_URL, f"{base}/news/{item_id}?lang=en"}


def _report(pipeline: Stack, item_id: int) -> dict[str, object]:
    with pipeline.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item_report(session, item)


def test_every_link_goes_through_a_token_and_lands_on_its_target(
    pipeline: Stack, web: TestClient
) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    message = mails["ana@news.example"]
    links = _click_links(message)
    html = str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    plain = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    # No target is in the email bare; mailto and the per-person links are left alone.
    assert "data.ngo.example" not in html and "data.ngo.example" not in plain
    assert "mailto:press@ngo.example" in html
    assert re.search(r"/u/\S+", plain) and re.search(r"/preferences/\S+", plain)
    assert all("@" not in link for link in links)  # no address in any token
    landed = set()
    for link in links:
        response = web.get(_path(link), headers={"User-Agent": BROWSER})
        assert response.status_code == 302, response.text
        landed.add(response.headers["location"])
    assert landed == _expected_targets(pipeline, item_id)
    # The text part carries the same tokens.
    assert {_path(u) for u in re.findall(r"https?://\S+/c/\S+", plain)} == {
        _path(link) for link in links
    }


def test_person_and_scanner_are_counted_apart(pipeline: Stack, web: TestClient) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"), ("ben@wire.example", "Wire"))
    ana = _click_links(mails["ana@news.example"])
    ben = _click_links(mails["ben@wire.example"])
    assert len(ana) == len(ben) == 3
    # A person opens one link, then again and again: one click.
    for _ in range(5):
        assert web.get(_path(ana[0]), headers={"User-Agent": BROWSER}).status_code == 302
    # Ben's mail is checked by his scanner: a HEAD, SafeLinks, then every link at once.
    assert web.head(_path(ben[0]), headers={"User-Agent": BROWSER}).status_code == 302
    assert web.get(_path(ben[1]), headers={"User-Agent": SCANNER}).status_code == 302
    for link in ben:
        assert web.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302

    report = _report(pipeline, item_id)
    clicks = report["clicks"]
    assert isinstance(clicks, dict)
    assert report["sent"] == 2
    assert clicks["human"] == 1 and clicks["unique_human"] == 1
    assert clicks["machine"] == 3  # each of Ben's three links, once
    first = next(row for row in clicks["by_link"] if row["number"] == 1)
    assert first["human"] == 1
    assert report["click_through_rate"] == 0.5
    assert report["by_country"] == [{"value": "MX", "human": 1, "machine": 1}]
    assert report["by_topic"] == [{"value": "asylum", "human": 1, "machine": 1}]
    assert report["by_outlet"] == []  # fewer than five readers of any outlet
    timeline = report["timeline"]
    assert isinstance(timeline, list)
    assert sum(h["deliveries"] for h in timeline) == 2


def test_aggregate_mode_keeps_nothing_that_names_a_journalist(
    pipeline: Stack, web: TestClient
) -> None:
    _, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    assert web.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302
    with pipeline.session() as session:
        person = session.scalars(select(Journalist)).one()
        delivery_id = session.scalars(select(Delivery.id)).one()
        assert session.scalars(select(ClickEvent)).all() == []
        seen = session.scalars(select(ClickSeen.mark)).all()
        counts = session.execute(select(ClickCount.dimension, ClickCount.value)).all()
        dumped = " ".join(
            str(v)
            for table in ("click_counts", "click_seen", "click_links")
            for row in session.execute(text(f"SELECT * FROM {table}")).all()
            for v in row
        )
    assert seen and str(delivery_id) not in seen
    assert ("unique", "") in counts
    for personal in ("ana@news.example", "ana", "diario"):
        assert personal not in dumped.casefold().replace("ngo.example", "")
    # No column of the counting tables could hold a journalist or a delivery.
    for model in (ClickCount, ClickSeen):
        columns = set(model.__table__.columns.keys())
        assert not columns & {"journalist_id", "delivery_id", "email", "name", "outlet"}
    assert person.id


def test_individual_mode_is_in_the_export_and_goes_with_erasure(
    pipeline: Stack, web: TestClient
) -> None:
    pipeline.app.runtime.settings.track_clicks = "individual"
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    assert web.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302
    with pipeline.session() as session, session.begin():
        person = session.scalars(select(Journalist)).one()
        exported = membership.export(session, person)
        assert [(c["link"], c["kind"]) for c in exported["clicks"]] == [(1, "human")]
        membership.erase(session, person.id, utcnow(), pipeline.app.runtime.address_hasher)
    with pipeline.session() as session:
        assert session.scalars(select(ClickEvent)).all() == []
    before = _report(pipeline, item_id)["clicks"]
    # An erased journalist's link still works; nothing is recorded of them.
    response = web.get(
        _path(_click_links(mails["ana@news.example"])[1]), headers={"User-Agent": BROWSER}
    )
    assert response.status_code == 302
    assert _report(pipeline, item_id)["clicks"] == before
    with pipeline.session() as session:
        assert session.scalars(select(ClickEvent)).all() == []


def test_bad_tokens_are_a_400_page_and_never_a_redirect(pipeline: Stack, web: TestClient) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    token = _path(link)[len("/c/") :]
    item, language, number, delivery, mac = token.split(".")
    foreign = ClickSigner("another-secret-entirely-0123456789abcdef")
    bad = [
        token[:-1],  # truncated
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # tampered MAC
        f"{item}.{language}.{int(number) + 1}.{delivery}.{mac}",  # another link, same MAC
        f"{int(item) + 1}.{language}.{number}.{delivery}.{mac}",  # another item
        foreign.token(item_id, "en", 1, int(delivery)),  # signed elsewhere
        "https:%2F%2Fevil.example",
        "1.en.1.1." + "A" * 300,
    ]
    for candidate in bad:
        response = web.get(f"/c/{candidate}", headers={"User-Agent": BROWSER})
        assert response.status_code in (400, 404), (candidate, response.status_code)
        assert "location" not in response.headers
    # Signed by us, but for a link the item does not have: no redirect either.
    ours = ClickSigner(SECRET)
    response = web.get(f"/c/{ours.token(item_id, 'en', 99, int(delivery))}")
    assert response.status_code == 404 and "location" not in response.headers
    # A replayed token still lands on its own target, and counts once.
    for _ in range(3):
        assert web.get(f"/c/{token}", headers={"User-Agent": BROWSER}).status_code == 302
    assert _report(pipeline, item_id)["clicks"]["human"] == 1  # type: ignore[index]


def test_no_token_sends_a_browser_anywhere_the_item_does_not_link_to(
    pipeline: Stack, web: TestClient
) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    delivery = int(_path(link).split(".")[3])
    ours = ClickSigner(SECRET)
    allowed = _expected_targets(pipeline, item_id)
    for language in ("en", "es", "fr"):
        for number in range(0, 12):
            for item in (item_id, item_id + 1, 0):
                path = f"/c/{ours.token(item, language, max(number, 1), delivery)}"
                response = web.get(path)
                if response.status_code == 302:
                    # Spanish was never sent: the same render in Spanish numbers the
                    # same links (only the web version's language differs).
                    assert item == item_id and language in ("en", "es")
                    spanish = f"{pipeline.settings.base_url}/news/{item_id}?lang=es"
                    assert response.headers["location"] in allowed | {spanish}


def test_a_withdrawn_items_links_land_on_its_release_page(pipeline: Stack, web: TestClient) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    links = _click_links(mails["ana@news.example"])
    with pipeline.session() as session, session.begin():
        item = session.get(Item, item_id)
        assert item is not None
        withdraw(session, item, utcnow())
    web.app.state.click_desk = None  # type: ignore[attr-defined]  # a fresh process's cache
    for link in links:
        response = web.get(_path(link), headers={"User-Agent": BROWSER})
        assert response.status_code == 302
        assert (
            response.headers["location"] == f"{pipeline.settings.base_url}/news/{item_id}?lang=en"
        )


def test_report_api_json_and_csv(pipeline: Stack, web: TestClient) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    web.get(_path(link), headers={"User-Agent": BROWSER})
    with pipeline.session() as session:
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    auth = {"Authorization": f"Bearer {key}"}
    found = web.get(f"/api/items/{item_id}/report", headers=auth)
    assert found.status_code == 200
    body = found.json()
    assert body["sent"] == 1
    assert body["clicks"]["human"] == 1 and body["clicks"]["unique_human"] == 1
    assert body["clicks"]["machine"] == 0
    assert [row["human"] for row in body["clicks"]["by_link"]] == [1, 0, 0]
    csv = web.get(f"/api/items/{item_id}/report.csv", headers=auth)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "clicks,unique,1," in csv.text
    assert web.get("/api/items/999999/report", headers=auth).status_code == 404
    assert web.get(f"/api/items/{item_id}/report").status_code == 401


@pytest.mark.parametrize("mode", ["aggregate", "individual", "off"])
def test_subscribe_and_privacy_pages_say_how_links_are_counted(pipeline: Stack, mode: str) -> None:
    settings = pipeline.app.runtime.settings
    before = settings.track_clicks
    settings.track_clicks = mode
    try:
        # The pages are built with the setting they start with, as a web process is.
        with TestClient(create_app(pipeline.app), base_url=pipeline.settings.base_url) as web:
            english = web.get("/privacy").text
            spanish = web.get("/privacy?lang=es").text
            subscribe = web.get("/subscribe?lang=es").text
    finally:
        settings.track_clicks = before
    if mode == "individual":
        assert "We record which links you open" in english
        assert "Registramos qué enlaces abre" in spanish
        assert "se cuentan por persona" in subscribe
    elif mode == "aggregate":
        assert "Nothing records who clicked" in english
        assert "Nada registra quién hizo clic" in spanish
        assert "solo se cuentan en totales" in subscribe
    else:
        assert "we do not count clicks" in english
        assert 'id="click-notice"' not in subscribe
    assert "no tracking image" in english


def test_opens_are_counted_only_when_asked_and_labelled_unreliable(
    pipeline: Stack, web: TestClient
) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    delivery = int(_path(link).split(".")[3])
    image = f"/o/{ClickSigner(SECRET).token(item_id, 'en', 0, delivery)}"
    settings = pipeline.app.runtime.settings
    before = settings.track_opens
    try:
        response = web.get(image)  # off (the default): an image, nothing counted
        assert response.status_code == 200 and response.content.startswith(b"GIF89a")
        assert "opens" not in _report(pipeline, item_id)
        settings.track_opens = "on"
        for _ in range(3):
            assert web.get(image).status_code == 200
        assert web.get("/o/1.en.0.1.forged").status_code == 200  # still an image
        with pipeline.session() as session:
            item = session.get(Item, item_id)
            assert item is not None
            opens = item_report(session, item, opens_tracked=True)["opens"]
    finally:
        settings.track_opens = before
    assert opens["opened"] == 1 and opens["reliable"] is False
    # A link token is no image token.
    assert web.get(f"/o/{_path(link)[3:]}").status_code == 200


def test_clicks_are_counted_in_metrics_by_kind(pipeline: Stack, web: TestClient) -> None:
    """The counter behind ``alerts_clicks_total{kind}``, read in this (the web) process:
    it serves both set-ups, and its samples land in the first one's metrics folder."""
    counter = metrics._metrics.clicks if metrics._metrics is not None else None
    assert counter is not None

    def value(kind: str) -> float:
        return float(counter.labels(kind)._value.get())

    _, mails = _send(pipeline, ("ana@news.example", "Diario"), ("ben@wire.example", "Wire"))
    before = {kind: value(kind) for kind in ("human", "machine")}
    web.get(_path(_click_links(mails["ana@news.example"])[0]), headers={"User-Agent": BROWSER})
    web.head(_path(_click_links(mails["ben@wire.example"])[0]))
    web.head(_path(_click_links(mails["ben@wire.example"])[0]))  # the same again: not counted
    assert value("human") - before["human"] == 1
    assert value("machine") - before["machine"] == 1


def test_click_records_follow_retention(pipeline: Stack, web: TestClient) -> None:
    from alerts.delivery.retention import delete_old_clicks

    pipeline.app.runtime.settings.track_clicks = "individual"
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    web.get(_path(link), headers={"User-Agent": BROWSER})
    sessions = pipeline.app.runtime.sessions
    assert delete_old_clicks(sessions, utcnow() - timedelta(days=1)) == 0
    with sessions() as session, session.begin():
        old = utcnow() - timedelta(days=400)
        session.execute(update(ClickSeen).values(created_at=old))
        session.execute(update(ClickEvent).values(created_at=old))
    assert delete_old_clicks(sessions, utcnow() - timedelta(days=365)) == 3  # 2 marks, 1 event
    with sessions() as session:
        assert session.scalars(select(ClickSeen)).all() == []
        assert session.scalars(select(ClickEvent)).all() == []
    # The totals hold nobody and stay with the item.
    assert _report(pipeline, item_id)["clicks"]["human"] == 1  # type: ignore[index]


def test_links_in_a_test_copy_land_on_their_targets(pipeline: Stack, web: TestClient) -> None:
    from alerts.items.drafts import ItemDraft, create_item
    from tests.factories import TAXONOMY

    with pipeline.session() as session:
        draft = ItemDraft.model_validate(
            {"title": "Draft", "summary": "S.", "url": ITEM_URL, "body": BODY}
        )
        created = create_item(session, TAXONOMY, draft)
        session.flush()
        item_id = created.id
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()
    sent = web.post(
        f"/api/items/{item_id}/test-send",
        json={"email": "desk@ngo.example"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert sent.status_code == 202, sent.text
    [copy] = wait_for_mail(pipeline, "desk@ngo.example")
    links = _click_links(copy)
    assert links
    landed = {web.get(_path(link)).headers.get("location") for link in links}
    assert {"https://data.ngo.example/2026?x=1&y=2", ITEM_URL} <= landed
    with pipeline.session() as session:
        assert session.scalars(select(ClickSeen)).all() == []  # a test copy counts nothing
