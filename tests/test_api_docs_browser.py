"""/api/docs renders in headless Chromium under the site's CSP, with no outside request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from alerts.core.migrate import upgrade
from alerts.core.settings import load_settings
from alerts.dev.sink import free_port
from alerts.web import create_app
from alerts.worker.app import create_celery
from tests.conftest import SECRET
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("docs"), secret_key=SECRET, base_url=base
    )
    upgrade(settings.database_url)
    celery = create_celery(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(celery), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "web server did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        celery.runtime.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def test_api_docs_show_the_operations(site: str, browser: Browser) -> None:
    page = browser.new_page()
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    page.goto(f"{site}/api/docs")
    operation = page.locator(".opblock-summary-path", has_text="/api/items").first
    operation.wait_for(state="visible", timeout=20_000)
    assert page.locator(".opblock").count() > 10
    assert "newsroom-alerts" in page.locator(".info .title").inner_text()
    # An operation opens and shows its parameters: the UI works, not only its first paint.
    operation.click()
    page.locator(".opblock-body").first.wait_for(state="visible", timeout=10_000)
    Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
    assert problems == []
    assert outside == []
    page.close()
