"""Staff page sessions end when staff say so: sign-out, key revocation, expiry.

Driven as a browser would drive the real app: sign in with a key, keep the
cookies, follow the forms; an old cookie is replayed from a second client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.models import Item, StaffSession, utcnow
from alerts.delivery import retention
from alerts.staff.keys import create_key, revoke_key
from alerts.staff.sessions import session_id
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from alerts.web.staff_session import COOKIE
from tests.conftest import Stack
from tests.webclient import csrf, subscribe

ITEM_FORM = {"title": "Forged?", "summary": "s", "countries": ["MX"], "topics": ["asylum"]}


@pytest.fixture
def app(pipeline: Stack) -> FastAPI:
    return create_app(pipeline.app, SignUpLimits("memory://", "100/hour", "1000/hour"))


def _client(pipeline: Stack, app: FastAPI, **cookies: str) -> TestClient:
    return TestClient(app, base_url=pipeline.settings.base_url, cookies=cookies)


@pytest.fixture
def browser(pipeline: Stack, app: FastAPI) -> Iterator[TestClient]:
    with _client(pipeline, app) as client:
        yield client


def _key(pipeline: Stack, name: str = "desk", role: str = "publisher") -> tuple[int, str]:
    with pipeline.session() as session:
        row, key = create_key(session, name, role, utcnow())
        session.commit()
        return row.id, key


def _sign_in(client: TestClient, key: str) -> str:
    """Signs in through the login form; returns the staff cookie the browser now holds."""
    form = client.get("/staff/login")
    done = client.post(
        "/staff/login",
        data={"key": key, "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    cookie = client.cookies.get(COOKIE)
    assert isinstance(cookie, str) and cookie
    return cookie


def _signed_in(client: TestClient) -> bool:
    page = client.get("/staff", follow_redirects=False)
    if page.status_code == 303:
        assert page.headers["location"].endswith("/staff/login")
        return False
    assert page.status_code == 200 and "Sign out" in page.text
    return True


def _sessions(pipeline: Stack) -> int:
    with pipeline.session() as session:
        return int(session.scalar(select(func.count()).select_from(StaffSession)) or 0)


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(
    pipeline: Stack, app: FastAPI, browser: TestClient
) -> None:
    _, key = _key(pipeline)
    cookie = _sign_in(browser, key)
    assert _signed_in(browser)
    # Only the token's hash is stored; the cookie names no key.
    token = URLSafeTimedSerializer(
        pipeline.settings.secret, salt="newsroom-alerts.staff-session"
    ).loads(cookie)
    with pipeline.session() as session:
        assert session.scalars(select(StaffSession.id)).all() == [session_id(token)]

    page = browser.get("/staff")
    out = browser.post(
        "/staff/logout", data={"csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"].endswith("/staff/login")
    assert not _signed_in(browser)
    assert _sessions(pipeline) == 0

    # A copy of the cookie (another tab, a shared machine, a stolen copy) is dead too.
    with _client(pipeline, app, **{COOKIE: cookie}) as replay:
        assert not _signed_in(replay)
        assert replay.get("/api/items").status_code == 401


def test_sign_out_needs_the_sessions_csrf_token(
    pipeline: Stack, app: FastAPI, browser: TestClient
) -> None:
    _, key = _key(pipeline)
    _sign_in(browser, key)
    login_token = csrf(browser.get("/staff/login").text)  # valid for public forms only
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": login_token}):
        refused = browser.post("/staff/logout", data=data, follow_redirects=False)
        assert refused.status_code == 403, data
        assert "expired" in refused.text
        assert browser.cookies.get(COOKIE)
        assert _signed_in(browser)
    assert _sessions(pipeline) == 1


def test_an_attackers_own_csrf_pair_does_not_pass_with_the_victims_session(
    pipeline: Stack, app: FastAPI, browser: TestClient
) -> None:
    _, victim_key = _key(pipeline, "victim")
    _, attacker_key = _key(pipeline, "attacker")
    victim_cookie = _sign_in(browser, victim_key)

    with _client(pipeline, app) as attacker:
        # A pair anybody can get from the login page...
        login_page = attacker.get("/staff/login")
        public_pair = (attacker.cookies["alerts_csrf"], csrf(login_page.text))
        # ...and a token from the attacker's own signed-in session.
        _sign_in(attacker, attacker_key)
        own_token = csrf(attacker.get("/staff/items/new").text)
        own_csrf_cookie = attacker.cookies["alerts_csrf"]

    # The victim's browser, with the attacker's CSRF cookie planted (cookie tossing).
    for csrf_cookie, token in (public_pair, (own_csrf_cookie, own_token)):
        cookies = {COOKIE: victim_cookie, "alerts_csrf": csrf_cookie}
        with _client(pipeline, app, **cookies) as forged:
            refused = forged.post(
                "/staff/items", data=ITEM_FORM | {"csrf_token": token}, follow_redirects=False
            )
            assert refused.status_code == 403
            gone = forged.post("/staff/logout", data={"csrf_token": token}, follow_redirects=False)
            assert gone.status_code == 403
    with pipeline.session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0

    # The victim's own form still works.
    page = browser.get("/staff/items/new")
    saved = browser.post(
        "/staff/items", data=ITEM_FORM | {"csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert saved.status_code == 303 and "note=saved" in saved.headers["location"]


def test_revoking_the_key_through_the_api_ends_its_sessions_at_once(
    pipeline: Stack, app: FastAPI, browser: TestClient
) -> None:
    key_id, key = _key(pipeline)
    _, other_key = _key(pipeline, "night desk")
    _, admin = _key(pipeline, "boss", "admin")
    _sign_in(browser, key)
    with _client(pipeline, app) as colleague:
        _sign_in(colleague, other_key)
        revoked = colleague.delete(
            f"/api/keys/{key_id}", headers={"Authorization": f"Bearer {admin}"}
        )
        assert revoked.status_code == 204
        assert not _signed_in(browser)
        assert browser.get("/api/items").status_code == 401
        assert _signed_in(colleague)  # another key's session is untouched


def test_revoking_the_key_on_the_command_line_ends_its_sessions_at_once(
    pipeline: Stack, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = _key(pipeline)
    _sign_in(browser, key)
    assert _signed_in(browser)
    for name, value in pipeline.env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["staff", "revoke-key", key[:12]])
    assert result.exit_code == 0, result.output
    assert not _signed_in(browser)


def test_the_ops_retry_form_works_for_a_signed_in_operator(
    pipeline: Stack, browser: TestClient
) -> None:
    """/ops forms are pages too: the session (and its CSRF token) is good there."""
    _, key = _key(pipeline, "night shift", "operator")
    _sign_in(browser, key)
    token = csrf(browser.get("/ops").text)
    refused = browser.post("/ops/items/1/retry", data={"csrf_token": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    done = browser.post("/ops/items/1/retry", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"].endswith("/ops/items/1?note=0+queued+again")
    # The JSON API still takes no state change on the strength of a cookie.
    assert browser.post("/api/items/1/retry-failed").status_code == 401


def test_sessions_expire_when_idle_and_after_twelve_hours(
    pipeline: Stack, browser: TestClient
) -> None:
    _, key = _key(pipeline)
    _sign_in(browser, key)
    assert _signed_in(browser)
    with pipeline.session() as session:
        session.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(hours=3)))
        session.commit()
    assert not _signed_in(browser)

    _sign_in(browser, key)  # a fresh session, and the idle one named by the cookie goes
    assert _sessions(pipeline) == 1
    assert _signed_in(browser)
    with pipeline.session() as session:
        session.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert not _signed_in(browser)


def test_retention_deletes_sessions_that_can_no_longer_be_used(
    pipeline: Stack, app: FastAPI, browser: TestClient
) -> None:
    _, key = _key(pipeline)
    revoked_id, revoked_key = _key(pipeline, "old desk")
    for _ in range(3):
        with _client(pipeline, app) as client:
            _sign_in(client, key)
    _sign_in(browser, revoked_key)
    now = utcnow()
    with pipeline.session() as session:
        ids = session.scalars(select(StaffSession.id).where(StaffSession.api_key_id != revoked_id))
        expired, idle, live = list(ids)
        session.execute(
            update(StaffSession).where(StaffSession.id == expired).values(expires_at=now)
        )
        session.execute(
            update(StaffSession)
            .where(StaffSession.id == idle)
            .values(last_seen_at=now - timedelta(hours=2))
        )
        session.commit()
    with pipeline.session() as session:
        revoke_key(session, str(revoked_id), now)
        session.commit()
    deleted = retention.delete_dead_staff_sessions(pipeline.app.runtime.sessions, now)
    assert deleted == 3
    with pipeline.session() as session:
        assert session.scalars(select(StaffSession.id)).all() == [live]


def test_public_forms_keep_their_csrf_scheme(pipeline: Stack, browser: TestClient) -> None:
    subscribe(browser, "new@example.net")  # the sign-up form's own token: 200
    refused = browser.post("/subscribe", data={"email": "x@example.net"})
    assert refused.status_code == 403
    # A staff form's token is bound to a session: it opens no public form.
    _, key = _key(pipeline)
    _sign_in(browser, key)
    staff_token = csrf(browser.get("/staff/items/new").text)
    refused = browser.post("/subscribe", data={"email": "y@example.net", "csrf_token": staff_token})
    assert refused.status_code == 403
