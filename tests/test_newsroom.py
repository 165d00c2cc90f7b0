"""The public newsroom through HTTP, on SQLite and on PostgreSQL: lists, filters, search,
release pages, redirects, the Atom feed and the link from every alert."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

import feedparser
import pytest
from fastapi.testclient import TestClient

from alerts.core.models import Item, utcnow
from alerts.items.corrections import correct
from alerts.items.lifecycle import withdraw
from alerts.newsroom.listing import PAGE_SIZE
from tests.conftest import Stack
from tests.factories import journalist
from tests.newsroom_helpers import client_of, json_ld, meta, release, titles
from tests.webclient import path, text_of, wait_for_mail


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    with client_of(pipeline) as client:
        yield client


@pytest.fixture
def three(pipeline: Stack) -> dict[str, int]:
    """Three releases, oldest first: Mexico asylum, Chile torture (a report), Guatemala (es)."""
    with pipeline.session() as session:
        ids = {
            "mexico": release(
                session,
                0,
                title="Mexico: asylum seekers held at the border",
                summary="Families wait for months.",
                body="Officials **detained** hundreds of people.\n\nA second paragraph.",
                countries=["MX"],
                topics=["asylum"],
            ),
            "chile": release(
                session,
                1,
                title="Chile: torture in police stations",
                summary="A report on police custody.",
                body="Witnesses describe beatings.",
                kind="report",
                countries=["CL"],
                topics=["torture"],
            ),
            "guatemala": release(
                session,
                2,
                title="Guatemala: periodistas amenazados",
                summary="Defensores en riesgo.",
                body="Las autoridades deben proteger a la prensa.",
                language="es",
                countries=["GT"],
                topics=["journalists", "human-rights-defenders"],
            ),
        }
        session.commit()
    return ids


MEXICO = "Mexico: asylum seekers held at the border"
CHILE = "Chile: torture in police stations"
GUATEMALA = "Guatemala: periodistas amenazados"


def test_list_is_newest_first(web: TestClient, three: dict[str, int]) -> None:
    page = web.get("/news")
    assert page.status_code == 200
    assert titles(page.text) == [GUATEMALA, CHILE, MEXICO]
    assert "3 releases" in page.text
    # No filter chosen: nothing to subscribe to yet.
    assert "Get these by email" not in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("country=MX&topic=asylum", [MEXICO]),
        ("country=mx", [MEXICO]),
        ("country=MX&topic=torture", []),
        ("country=MX&country=CL", [CHILE, MEXICO]),
        ("region=americas", [GUATEMALA, CHILE, MEXICO]),
        ("region=europe", []),
        ("topic=journalists", [GUATEMALA]),
        ("kind=report", [CHILE]),
        ("language=es", [GUATEMALA]),
        ("language=en&region=americas", [CHILE, MEXICO]),
    ],
)
def test_filters(web: TestClient, three: dict[str, int], query: str, expected: list[str]) -> None:
    page = web.get(f"/news?{query}")
    assert page.status_code == 200
    assert titles(page.text) == expected
    if not expected:
        assert "No releases match." in page.text


def test_a_filtered_list_offers_its_choices_by_email(
    web: TestClient, three: dict[str, int]
) -> None:
    page = web.get("/news?country=MX&region=americas&topic=asylum")
    links = re.findall(r'<a class="button" href="([^"]+)">Get these by email</a>', page.text)
    assert [html.unescape(link) for link in links] == [
        "/subscribe?countries=MX&countries=americas&topics=asylum"
    ]
    form = web.get(html.unescape(links[0])).text
    assert re.search(r'<option value="MX" selected>', form)
    assert re.search(r'<option value="americas" selected>', form)
    assert re.search(r'value="asylum" checked', form)
    assert not re.search(r'value="torture" checked', form)


def test_the_subscribe_form_ignores_unknown_prefills(web: TestClient) -> None:
    form = web.get("/subscribe?countries=ZZ&countries=MX&topics=nope&topics='%22")
    assert form.status_code == 200
    assert re.search(r'<option value="MX" selected>', form.text)
    assert " checked" not in form.text.split('name="topics"', 1)[1].split("</fieldset>")[0]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("country=XX", "There is no country with the code “XX”."),
        ("region=atlantis", "There is no region called “atlantis”."),
        ("topic=gardening", "There is no topic called “gardening”."),
        ("kind=poem", "There is no kind of release called “poem”."),
        ("language=klingon", "There is no language with the code “klingon”."),
        ("page=0", "The page number must be a whole number from 1."),
        ("page=-1", "The page number must be a whole number from 1."),
        ("page=two", "The page number must be a whole number from 1."),
        ("q=a&q=b", "Search for one thing at a time."),
    ],
)
def test_unknown_filter_values_are_a_clear_400(
    web: TestClient, three: dict[str, int], query: str, message: str
) -> None:
    for url in (f"/news?{query}", f"/news/feed.atom?{query}"):
        page = web.get(url)
        assert page.status_code == 400, url
        assert html.escape(message, quote=False) in page.text, page.text


def test_a_10_kb_query_string_is_refused_without_echoing_it(web: TestClient) -> None:
    huge = "x" * 10_000
    for query in (f"q={huge}", f"country={huge}", f"topic={huge}&q=asylum"):
        page = web.get(f"/news?{query}")
        assert page.status_code == 400
        assert huge[:100] not in page.text  # the message quotes a few characters at most


def test_paging_over_visible_items(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        for day in range(PAGE_SIZE + 3):
            release(session, day, title=f"Release number {day:02d}", countries=["MX"])
        session.commit()
    first = web.get("/news")
    assert titles(first.text) == [f"Release number {d:02d}" for d in range(22, 2, -1)]
    assert f"{PAGE_SIZE + 3} releases" in first.text
    older = re.search(r'<a rel="next" href="([^"]+)">', first.text)
    assert older and 'rel="prev"' not in first.text
    second = web.get(html.unescape(older.group(1)))
    assert titles(second.text) == ["Release number 02", "Release number 01", "Release number 00"]
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    past = web.get("/news?page=3")
    assert past.status_code == 404
    assert "There is no such page" in past.text and "This list has 2 pages." in past.text
    assert web.get("/news?page=99999999999999999999").status_code == 404
    # Filters ride along in the paging links.
    filtered = web.get("/news?country=MX")
    assert "country=MX&amp;page=2" in filtered.text


def test_search_title_summary_and_body(web: TestClient, three: dict[str, int]) -> None:
    assert titles(web.get("/news?q=asylum").text) == [MEXICO]  # title
    assert titles(web.get("/news?q=custody").text) == [CHILE]  # summary
    assert titles(web.get("/news?q=detained").text) == [MEXICO]  # body, Markdown and all
    assert titles(web.get("/news?q=Witnesses+BEATINGS").text) == [CHILE]  # every word
    assert titles(web.get("/news?q=witnesses+asylum").text) == []
    assert titles(web.get("/news?q=prensa&language=es").text) == [GUATEMALA]
    assert titles(web.get("/news?q=prensa&country=MX").text) == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"asylum',
        "asylum*",
        "*",
        "NEAR(asylum torture)",
        "asylum OR torture",
        "-asylum",
        "asylum -torture",
        "'",
        "O'Brien",
        "'; DROP TABLE items; --",
        'asylum" OR 1=1 --',
        "title:asylum",
        "^asylum",
        "asylum & | ! <-> :*",
        "%",
        "\\",
        "\x00",
        "😀",
    ],
)
def test_hostile_searches_are_only_words(
    web: TestClient, three: dict[str, int], query: str
) -> None:
    page = web.get("/news", params={"q": query})
    assert page.status_code == 200, page.text
    found = titles(page.text)
    # Operators are punctuation or plain words: never "everything", never an error.
    assert found in ([], [MEXICO]), found
    assert web.get("/news/feed.atom", params={"q": query}).status_code == 200


def test_release_page(web: TestClient, pipeline: Stack, three: dict[str, int]) -> None:
    item_id = three["mexico"]
    slug = "mexico-asylum-seekers-held-at-the-border"
    page = web.get(f"/news/{item_id}-{slug}")
    assert page.status_code == 200
    body = page.text
    assert f"<h1>{MEXICO}</h1>" in body
    assert "Officials <strong>detained</strong> hundreds of people." in body
    assert "<p>A second paragraph.</p>" in body
    assert "Mexico" in body and "Asylum" in body and "Press release" in body
    assert "January 5, 2026, 09:00 UTC" in body  # as the emails write it
    canonical = f"{pipeline.settings.base_url}/news/{item_id}-{slug}"
    assert f'<link rel="canonical" href="{canonical}">' in body
    assert meta(body, "og:title") == MEXICO
    assert meta(body, "og:type") == "article"
    assert meta(body, "og:description") == "Families wait for months."
    assert meta(body, "og:url") == canonical
    data = json_ld(body)
    assert data["@type"] == "NewsArticle" and data["@context"] == "https://schema.org"
    assert data["headline"] == MEXICO
    assert data["url"] == canonical
    assert str(data["datePublished"]).startswith("2026-01-05T09:00:00")
    assert "noindex" not in body
    # "Get releases like this by email" picks its countries and topics.
    assert 'href="/subscribe?countries=MX&amp;topics=asylum"' in body


def test_a_wrong_or_missing_slug_redirects(web: TestClient, three: dict[str, int]) -> None:
    item_id = three["chile"]
    right = f"/news/{item_id}-chile-torture-in-police-stations"
    for wrong in (f"/news/{item_id}", f"/news/{item_id}-", f"/news/{item_id}-old-title"):
        answer = web.get(wrong, follow_redirects=False)
        assert answer.status_code in (301, 308), wrong
        assert answer.headers["location"] == right
    kept = web.get(f"/news/{item_id}?lang=es", follow_redirects=False)
    assert kept.headers["location"] == f"{right}?lang=es"
    assert web.get(right, follow_redirects=False).status_code == 200


def test_unknown_releases_are_404(web: TestClient, three: dict[str, int]) -> None:
    unknown = web.get("/news/999999")
    assert unknown.status_code == 404
    for ref in ("0", "-1", "abc", "1e3", "99999999999", "4294967296-x", "١٢", "%00"):
        answer = web.get(f"/news/{ref}", follow_redirects=False)
        assert answer.status_code == 404, ref
        assert answer.text == unknown.text


def test_correction_banners_link_both_ways(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        original_id = release(session, 0, title="Original statement", countries=["MX"])
        original = session.get(Item, original_id)
        assert original is not None
        fixed = correct(session, original, None, "Fixed numbers.", "The right figure.", utcnow())
        session.commit()
        fixed_id = fixed.id
    original_page = web.get(f"/news/{original_id}", follow_redirects=True).text
    correction_page = web.get(f"/news/{fixed_id}", follow_redirects=True).text
    assert "This release was corrected on" in original_page
    assert f'href="/news/{fixed_id}-correction-original-statement"' in original_page
    assert "This is a correction of:" in correction_page
    assert f'href="/news/{original_id}-original-statement"' in correction_page
    assert titles(web.get("/news").text) == ["Correction: Original statement", "Original statement"]


def test_a_withdrawn_release_says_so(pipeline: Stack, web: TestClient) -> None:
    with pipeline.session() as session:
        item_id = release(session, 0, title="Retracted claim", body="Wrong facts here.")
        item = session.get(Item, item_id)
        assert item is not None
        withdraw(session, item, utcnow())
        session.commit()
    page = web.get(f"/news/{item_id}-retracted-claim")
    assert page.status_code == 200
    assert "This release was withdrawn on" in page.text
    assert "Wrong facts here." not in page.text
    assert "application/ld+json" not in page.text and "noindex" in page.text
    assert titles(web.get("/news").text) == []
    assert feedparser.parse(web.get("/news/feed.atom").content).entries == []


def test_pages_in_spanish(web: TestClient, three: dict[str, int]) -> None:
    page = web.get("/news?country=MX", headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert "<h1>Sala de prensa</h1>" in page.text and 'lang="es"' in page.text
    assert "Recíbalos por correo electrónico" in page.text
    assert "<h1>Sala de prensa</h1>" in web.get("/news?lang=es").text
    bad = web.get("/news?topic=nope", headers={"Accept-Language": "es"})
    assert bad.status_code == 400 and "No existe ningún tema llamado «nope»." in bad.text
    item = web.get(f"/news/{three['chile']}?lang=es", follow_redirects=True).text
    assert "Informe" in item and "Tortura" in item
    assert "6 de enero de 2026, 09:00 UTC" in item
    # The filter form keeps the chosen language of the pages.
    assert '<input type="hidden" name="lang" value="es">' in web.get("/news?lang=es").text


@pytest.mark.parametrize(
    "header",
    ["", "*", ";;;,,,", "xx-YY-zz;q=abc", "es;q=2,en;q=-1", "é" * 300, "en-" + "a" * 5000, "\t"],
    ids=[f"header-{n}" for n in range(8)],
)
def test_accept_language_garbage(web: TestClient, three: dict[str, int], header: str) -> None:
    for url in ("/news", "/news/feed.atom", f"/news/{three['mexico']}", "/news/424242"):
        answer = web.get(url, headers={"Accept-Language": header.encode()}, follow_redirects=True)
        assert answer.status_code in (200, 404), (url, answer.status_code)


def test_atom_feed(pipeline: Stack, web: TestClient, three: dict[str, int]) -> None:
    answer = web.get("/news/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert [entry.title for entry in feed.entries] == [GUATEMALA, CHILE, MEXICO]
    mexico = feed.entries[2]
    base = pipeline.settings.base_url
    assert mexico.id == f"{base}/news/{three['mexico']}"
    assert mexico.link == f"{base}/news/{three['mexico']}-mexico-asylum-seekers-held-at-the-border"
    assert mexico.summary == "Families wait for months."
    assert "<strong>detained</strong>" in mexico.content[0].value
    assert {tag.term for tag in mexico.tags} == {"asylum", "MX"}
    assert mexico.published_parsed[:5] == (2026, 1, 5, 9, 0)
    assert feed.feed.links[0].href.endswith("/news/feed.atom")
    # The same filters as the page.
    filtered = feedparser.parse(web.get("/news/feed.atom?country=MX&topic=asylum").content)
    assert [entry.title for entry in filtered.entries] == [MEXICO]
    assert filtered.feed.id.endswith("/news/feed.atom?country=MX&topic=asylum")
    searched = feedparser.parse(web.get("/news/feed.atom?q=beatings").content)
    assert [entry.title for entry in searched.entries] == [CHILE]


def test_feed_validators(pipeline: Stack, web: TestClient, three: dict[str, int]) -> None:
    first = web.get("/news/feed.atom")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    assert web.get("/news/feed.atom", headers={"If-None-Match": etag}).status_code == 304
    assert web.get("/news/feed.atom", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert web.get("/news/feed.atom", headers={"If-Modified-Since": modified}).status_code == 304
    assert web.get("/news/feed.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110).
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert web.get("/news/feed.atom", headers=both).status_code == 200
    for garbage in ("yesterday", "", "Mon, 99 Foo 2026 99:99:99 GMT"):
        headers = {"If-Modified-Since": garbage}
        assert web.get("/news/feed.atom", headers=headers).status_code == 200
    older = format_datetime(utcnow() - timedelta(days=3650), usegmt=True)
    assert web.get("/news/feed.atom", headers={"If-Modified-Since": older}).status_code == 200
    # A filter is a feed of its own, with its own tag.
    assert web.get("/news/feed.atom?country=CL").headers["etag"] != etag
    with pipeline.session() as session:
        new = session.get(Item, release(session, 30, title="Something new"))
        assert new is not None
        # Stored a few seconds after the first answer (HTTP dates count whole seconds).
        new.updated_at = utcnow() + timedelta(seconds=5)
        session.commit()
    fresh = web.get("/news/feed.atom", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert web.get("/news/feed.atom", headers={"If-Modified-Since": modified}).status_code == 200


def test_every_alert_links_to_its_page_in_the_readers_language(
    pipeline: Stack, web: TestClient
) -> None:
    with pipeline.session() as session:
        journalist(session, "ana@diario.example", (["MX"], []), language="es")
        journalist(session, "bo@wire.example", (["MX"], []))
        item_id = release(session, 0, title="Mexico: a web version", countries=["MX"])
        session.commit()
    pipeline.wait_for_item(item_id)
    [spanish] = wait_for_mail(pipeline, "ana@diario.example")
    [english] = wait_for_mail(pipeline, "bo@wire.example")
    for message, wording, lang in (
        (spanish, "Lea este comunicado en la web", "es"),
        (english, "Read this release on the web", "en"),
    ):
        url = f"{pipeline.settings.base_url}/news/{item_id}?lang={lang}"
        text = text_of(message).replace("\r\n", "\n")
        # The link goes through the click-through redirect (on by default) to the page.
        found = re.search(rf"{re.escape(wording)}:\n(\S+)", text)
        assert found, text
        landed = web.get(path(found.group(1)), follow_redirects=False)
        assert landed.status_code == 302 and landed.headers["location"] == url
        part = message.get_body(("html",))
        assert part is not None
        assert f'href="{html.escape(found.group(1))}"' in str(part.get_content())
        page = web.get(path(url), follow_redirects=True)
        assert page.status_code == 200
        assert "<h1>Mexico: a web version</h1>" in page.text and f'lang="{lang}"' in page.text


def test_a_release_written_by_another_application_is_shown_safely(
    pipeline: Stack, web: TestClient
) -> None:
    """A CMS writing straight into the table is not checked by the drafts code."""
    with pipeline.session() as session:
        item_id = release(session, 0, title="Plain title", body="<script>alert(1)</script>")
        item = session.get(Item, item_id)
        assert item is not None
        item.url = "javascript:alert(1)"
        item.title = 'Quote " and </script> <b>tag</b>'
        session.commit()
    page = web.get(f"/news/{item_id}", follow_redirects=True)
    assert page.status_code == 200
    assert "javascript:" not in page.text
    assert "<script>alert(1)</script>" not in page.text and "<b>tag</b>" not in page.text
    assert json_ld(page.text)["headline"] == 'Quote " and </script> <b>tag</b>'
    og_title = meta(page.text, "og:title")
    assert og_title is not None and html.unescape(og_title) == 'Quote " and </script> <b>tag</b>'
    assert "<" not in og_title and '"' not in og_title
