"""The click endpoint's rate limits: a flood on one token, or from one client, is a 429
with Retry-After; the first clicks, and a person opening a link a few times, never are.

A real alert through the pipeline; its links opened on the app (TestClient), with the
limits the settings give by default unless a test sets its own.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.web import create_app
from alerts.web.click_limits import ClickLimits
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import Stack
from tests.test_clicks import BROWSER, _click_links, _path, _report, _send

SIGN_UPS = SignUpLimits("memory://", "100/hour", "1000/hour")


def _client(pipeline: Stack, limits: ClickLimits, host: str = "203.0.113.7") -> TestClient:
    app = create_app(pipeline.app, SIGN_UPS, limits)
    return TestClient(
        app, base_url=pipeline.settings.base_url, follow_redirects=False, client=(host, 50000)
    )


@pytest.fixture
def web(pipeline: Stack) -> Iterator[TestClient]:
    """The app with the default limits, in memory (a Redis store is shared by test runs)."""
    settings = pipeline.settings
    limits = ClickLimits(
        "memory://", settings.click_limit_per_token, settings.click_limit_per_client
    )
    with _client(pipeline, limits) as client:
        yield client


def test_a_flood_on_one_token_is_counted_once_then_refused_with_retry_after(
    pipeline: Stack, web: TestClient
) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"))
    first, second, *_ = _click_links(mails["ana@news.example"])
    allowed = int(pipeline.settings.click_limit_per_token.split("/")[0])
    assert allowed >= 10  # "a few times" is far below it
    for _ in range(allowed):
        assert web.get(_path(first), headers={"User-Agent": BROWSER}).status_code == 302
    refused = web.get(_path(first), headers={"User-Agent": BROWSER, "Accept-Language": "es"})
    assert refused.status_code == 429
    assert "location" not in refused.headers
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Demasiadas solicitudes" in refused.text  # the page, in the reader's language
    assert web.head(_path(first)).status_code == 429
    clicks = _report(pipeline, item_id)["clicks"]
    assert isinstance(clicks, dict) and clicks["human"] == 1 and clicks["unique_human"] == 1
    # The same reader's other link is another token: it still goes through.
    assert web.get(_path(second), headers={"User-Agent": BROWSER}).status_code == 302


def test_a_person_clicking_a_few_times_never_sees_a_429(pipeline: Stack, web: TestClient) -> None:
    _, mails = _send(pipeline, ("ana@news.example", "Diario"))
    for link in _click_links(mails["ana@news.example"]):
        for _ in range(5):
            assert web.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302


def test_one_client_opening_too_many_links_is_refused_and_another_is_not(
    pipeline: Stack,
) -> None:
    _, mails = _send(pipeline, ("ana@news.example", "Diario"), ("ben@wire.example", "Wire"))
    links = _click_links(mails["ana@news.example"]) + _click_links(mails["ben@wire.example"])
    assert len(links) == 6
    limits = ClickLimits("memory://", "20/minute", "5/minute")
    with _client(pipeline, limits) as crawler, _client(pipeline, limits, "198.51.100.2") as other:
        for link in links[:5]:
            assert crawler.get(_path(link)).status_code == 302
        refused = crawler.get(_path(links[5]))
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert other.get(_path(links[5])).status_code == 302


def test_clicks_still_redirect_when_the_limits_store_is_down(pipeline: Stack) -> None:
    _, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    down = ClickLimits("redis://127.0.0.1:1/0", "1/minute", "1/minute")  # nothing listens
    with _client(pipeline, down) as client:
        for _ in range(3):
            assert client.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302


def test_a_limits_store_that_never_answers_does_not_hold_the_redirect(pipeline: Stack) -> None:
    """A Redis that takes the connection and says nothing (a hung server, a full network):
    the click goes through once the store's short timeout passes."""
    _, mails = _send(pipeline, ("ana@news.example", "Diario"))
    [link, *_] = _click_links(mails["ana@news.example"])
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepted by the kernel, never read nor answered
    port = silent.getsockname()[1]
    answers: list[int] = []
    try:
        hung = ClickLimits(f"redis://127.0.0.1:{port}/0", "1/minute", "1/minute")
        with _client(pipeline, hung) as client:
            asking = threading.Thread(
                target=lambda: answers.append(client.get(_path(link)).status_code), daemon=True
            )
            asking.start()
            asking.join(timeout=60)  # no speed asserted: only that it does not wait forever
    finally:
        silent.close()
    assert answers == [302]
