"""Preferences pages, reached by a signed link: profile, schedule, subscriptions, export, erase."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from alerts.audience import membership
from alerts.audience.subscriptions import parse_spec
from alerts.core.i18n import N_
from alerts.core.models import (
    Journalist,
    JournalistStatus,
    UnsubscribeMethod,
    utcnow,
)
from alerts.core.taxonomy import TaxonomyError
from alerts.core.tokens import Purpose
from alerts.digests.schedule import format_minute
from alerts.web.csrf import FIELD
from alerts.web.public import (
    _check_csrf,
    _journalist,
    _language,
    _message,
    _read_token,
    page_errors,
)
from alerts.web.recent_view import recent_views
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)


def _preferences(
    request: Request,
    token: str,
    saved: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    journalist_id = _read_token(request, Purpose.PREFERENCES, token)
    with _runtime(request).sessions() as session:
        journalist = _journalist(session, journalist_id)
        chosen = [(s.id, s.countries, s.topics, s.cadence) for s in journalist.subscriptions]
        page_language = _language(request, journalist.language)
        person = {
            "email": journalist.email,
            "name": journalist.name,
            "outlet": journalist.outlet,
            "language": journalist.language,
            "status": journalist.status,
            "timezone": journalist.timezone,
            "digest_time": format_minute(journalist.digest_minute),
            "digest_weekday": journalist.digest_weekday,
        }
    subscriptions = [
        {
            "id": sub_id,
            "countries": places,
            "topics": topics,
            "cadence": cadence,
            # What it would have sent lately, beside its form (shown without JS too).
            "recent": recent_views(request, places, topics, page_language),
        }
        for sub_id, places, topics, cadence in chosen
    ]
    return _pages(request).render(
        request,
        "preferences.html",
        page_language,
        status=status,
        person=person,
        subscriptions=subscriptions,
        saved=saved,
        errors=errors or [],
        action=f"{_pages(request).root}/preferences/{token}",
        active=person["status"] == JournalistStatus.ACTIVE,
    )


@router.get("/preferences/{token}", response_class=HTMLResponse)
@page_errors
def preferences(request: Request, token: str, saved: str | None = None) -> Response:
    return _preferences(request, token, saved)


def _change(
    request: Request, token: str, csrf_token: str | None, what: str, change: Any
) -> Response:
    """Apply ``change(session, journalist)`` under CSRF check, then back to the page."""
    journalist_id = _read_token(request, Purpose.PREFERENCES, token)
    _check_csrf(request, csrf_token)
    with _runtime(request).sessions() as session:
        journalist = _journalist(session, journalist_id)
        try:
            change(session, journalist)
        except (ValueError, LookupError, TaxonomyError):
            session.rollback()
            return _preferences(
                request,
                token,
                errors=[N_("That change could not be saved: choose values from the lists.")],
                status=422,
            )
        session.commit()
    return RedirectResponse(
        f"{_pages(request).root}/preferences/{token}?saved={what}", status_code=303
    )


@router.post("/preferences/{token}/profile", response_class=HTMLResponse)
@page_errors
def update_profile(
    request: Request,
    token: str,
    name: Annotated[str, Form(max_length=200)] = "",
    outlet: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form()] = "en",
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    return _change(
        request,
        token,
        csrf_token,
        "profile",
        lambda s, j: membership.update_profile(
            j, name, outlet, language, _runtime(request).settings.reader_language_list
        ),
    )


@router.post("/preferences/{token}/schedule", response_class=HTMLResponse)
@page_errors
def update_schedule(
    request: Request,
    token: str,
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    digest_time: Annotated[str, Form(max_length=8)] = "08:00",
    digest_weekday: Annotated[int, Form()] = 0,
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    return _change(
        request,
        token,
        csrf_token,
        "schedule",
        lambda s, j: membership.set_digest_schedule(j, timezone, digest_time, digest_weekday),
    )


@router.post("/preferences/{token}/subscriptions", response_class=HTMLResponse)
@page_errors
def save_subscription(
    request: Request,
    token: str,
    subscription_id: Annotated[int | None, Form()] = None,
    countries: Annotated[list[str] | None, Form()] = None,
    topics: Annotated[list[str] | None, Form()] = None,
    cadence: Annotated[str, Form()] = "immediate",
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    taxonomy = _runtime(request).taxonomy

    def change(session: Session, journalist: Journalist) -> None:
        spec = parse_spec(taxonomy, countries or [], topics or [], cadence)
        membership.set_subscription(journalist, subscription_id, spec)

    return _change(request, token, csrf_token, "subscriptions", change)


@router.post(
    "/preferences/{token}/subscriptions/{subscription_id}/delete", response_class=HTMLResponse
)
@page_errors
def delete_subscription(
    request: Request,
    token: str,
    subscription_id: int,
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    return _change(
        request,
        token,
        csrf_token,
        "subscriptions",
        lambda s, j: membership.remove_subscription(j, subscription_id),
    )


@router.post("/preferences/{token}/unsubscribe", response_class=HTMLResponse)
@page_errors
def unsubscribe_everything(
    request: Request, token: str, csrf_token: Annotated[str | None, Form(alias=FIELD)] = None
) -> Response:
    return _change(
        request,
        token,
        csrf_token,
        "unsubscribed",
        lambda s, j: membership.unsubscribe_all(s, j.id, UnsubscribeMethod.PREFERENCES, utcnow()),
    )


@router.post("/preferences/{token}/resubscribe", response_class=HTMLResponse)
@page_errors
def resubscribe(
    request: Request, token: str, csrf_token: Annotated[str | None, Form(alias=FIELD)] = None
) -> Response:
    return _change(
        request,
        token,
        csrf_token,
        "resubscribed",
        lambda s, j: membership.resubscribe(s, j.id, utcnow()),
    )


@router.get("/preferences/{token}/export")
@page_errors
def export(request: Request, token: str) -> Response:
    journalist_id = _read_token(request, Purpose.PREFERENCES, token)
    with _runtime(request).sessions() as session:
        data = membership.export(session, _journalist(session, journalist_id))
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-press-alerts-data.json"'},
    )


@router.post("/preferences/{token}/erase", response_class=HTMLResponse)
@page_errors
def erase(
    request: Request,
    token: str,
    confirm_erase: Annotated[str | None, Form(alias="confirm")] = None,
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    journalist_id = _read_token(request, Purpose.PREFERENCES, token)
    _check_csrf(request, csrf_token)
    if confirm_erase != "yes":
        return _preferences(
            request,
            token,
            errors=[N_("Tick the box to confirm that we should erase your data.")],
            status=422,
        )
    with _runtime(request).sessions() as session:
        language = _journalist(session, journalist_id).language
        membership.erase(session, journalist_id, utcnow(), _runtime(request).address_hasher)
        session.commit()
    return _message(
        request,
        _language(request, language),
        200,
        N_("Your data is erased"),
        N_(
            "We removed your address, name and subscriptions. We keep only an "
            "anonymous record of the emails we sent."
        ),
    )
