"""The staff report in headless Chromium: the numbers, the server-drawn chart, the CSV link,
and the comparison on the items list; a screenshot of the chart is kept."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect

from alerts.core.models import utcnow
from alerts.staff.keys import create_key
from tests.conftest import Stack
from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.test_clicks import BROWSER, _click_links, _path, _send


def test_staff_report_shows_clicks_and_the_chart(
    pipeline: Stack,
    live_server: str,
    browser: Browser,  # noqa: F811
) -> None:
    item_id, mails = _send(pipeline, ("ana@news.example", "Diario"), ("ben@wire.example", "Wire"))
    [link, *_] = _click_links(mails["ana@news.example"])
    with httpx.Client(base_url=live_server, follow_redirects=False) as client:
        assert client.get(_path(link), headers={"User-Agent": BROWSER}).status_code == 302
        for other in _click_links(mails["ben@wire.example"]):
            assert client.head(_path(other)).status_code == 302
    with pipeline.session() as session:
        key = create_key(session, "desk", "publisher", utcnow())[1]
        session.commit()

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/staff")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items")
    expect(page.locator("#compare tbody tr").first).to_contain_text("50.0 % (1)")

    page.goto(f"{live_server}/staff/items/{item_id}")
    page.locator("#report-link").click()
    expect(page.locator("#unique-human")).to_have_text("1")
    expect(page.locator("#ctr")).to_have_text("50.0 %")
    expect(page.locator("#by-link tbody tr")).to_have_count(3)
    chart = page.locator("#chart svg")
    expect(chart).to_be_visible()
    # Two deliveries in the first hour: one bar; one human click: one dot.
    expect(chart.locator("rect.deliveries")).to_have_count(1)
    expect(chart.locator("circle")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    out = ARTIFACTS / f"clicks-{pipeline.name}"
    out.mkdir(parents=True, exist_ok=True)
    chart.screenshot(path=str(out / "report-chart.png"))
    page.screenshot(path=str(out / "report-page.png"), full_page=True)
    page.emulate_media(media="print")
    expect(chart).to_be_visible()
    page.screenshot(path=str(out / "report-print.png"), full_page=True)
    context.close()
    assert (out / "report-chart.png").stat().st_size > 1000
