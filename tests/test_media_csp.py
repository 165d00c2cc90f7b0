"""Photos served from another host (``ALERTS_MEDIA_BASE_URL``: a CDN) are allowed by the
pages' Content-Security-Policy, by their origin only; a media URL that could smuggle
anything else into the header is refused at start-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.core.migrate import upgrade
from alerts.core.settings import SettingsError, load_settings
from alerts.media.store import add_media
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from alerts.worker.app import create_celery
from tests.conftest import SECRET
from tests.factories import published_item
from tests.test_media_files import gps_jpeg

CDN = "https://cdn.example.org"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [v or "" for k, v in attrs if k == "src"]


def img_src(policy: str) -> list[str]:
    [directive] = [d.split()[1:] for d in policy.split(";") if d.split()[:1] == ["img-src"]]
    return directive


def allowed(url: str, sources: list[str], own: str) -> bool:
    origin = re.match(r"^https?://[^/]+", url)
    if origin is None:  # a relative URL: the page's own origin
        return "'self'" in sources
    return (origin.group(0) == own and "'self'" in sources) or origin.group(0) in sources


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, int, str]]:
    settings = load_settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        base_url="http://127.0.0.1:8000",
        media_base_url=f"{CDN}/newsroom-media/",
    )
    upgrade(settings.database_url)
    celery = create_celery(settings)
    runtime = celery.runtime
    assert settings.media_dir is not None
    with runtime.sessions() as session:
        media = add_media(session, settings.media_dir, "p.jpg", gps_jpeg(800, 600), 5_000_000)
        image = {"media_id": media.id, "alt": "Families at the border", "credit": "NGO"}
        item_id = published_item(session, title="Border crossings", image=image)
        session.commit()
    app = create_app(celery, SignUpLimits("memory://", "100/hour", "1000/hour"))
    with TestClient(app, base_url=settings.base_url) as browser:
        yield browser, item_id, media.id
    runtime.dispose()


def test_the_release_pages_photo_on_the_cdn_is_allowed_by_its_policy(
    client: tuple[TestClient, int, str],
) -> None:
    browser, item_id, media_id = client
    page = browser.get(f"/news/{item_id}", follow_redirects=True)
    assert page.status_code == 200, page.text
    images = _Images()
    images.feed(page.text)
    photos = [src for src in images.sources if media_id in src]
    assert photos and all(src.startswith(f"{CDN}/newsroom-media/") for src in photos)
    policy = page.headers["content-security-policy"]
    sources = img_src(policy)
    assert sources == ["'self'", CDN]  # the origin alone, not the path
    assert all(allowed(src, sources, "http://127.0.0.1:8000") for src in images.sources)
    assert "script-src" not in policy and policy.startswith("default-src 'self';")


@pytest.mark.parametrize("path", ["/news", "/subscribe", "/staff/login", "/privacy"])
def test_public_and_staff_pages_allow_images_from_the_media_host(
    client: tuple[TestClient, int, str], path: str
) -> None:
    browser, _, _ = client
    page = browser.get(path)
    assert page.status_code == 200, (path, page.status_code)
    assert img_src(page.headers["content-security-policy"]) == ["'self'", CDN]


def test_media_on_the_apps_own_host_adds_nothing(tmp_path: Path) -> None:
    from alerts.web.csp import app_policy

    own = load_settings(data_dir=tmp_path, secret_key=SECRET, base_url="http://127.0.0.1:8000")
    assert img_src(app_policy(own)) == ["'self'"]
    port = load_settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        base_url="https://news.example",
        media_base_url="https://Media.Example:8443/files",
    )
    assert img_src(app_policy(port)) == ["'self'", "https://media.example:8443"]


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.org; script-src *",
        "https://cdn.example.org/'unsafe-inline'",
        "javascript:alert(1)",
        "ftp://cdn.example.org/media",
        "https://user:pass@cdn.example.org/media",
        "https:///media",
        "https://cdn.example.org:99999/media",
        "https://cdn_example!.org/media",
        "https://cdn.example.org/media?x=1",
        "https://cdn.example.org/me dia",
    ],
)
def test_a_media_url_that_is_not_a_plain_origin_and_path_is_refused(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(SettingsError, match="media base URL"):
        load_settings(data_dir=tmp_path, secret_key=SECRET, media_base_url=url)
