"""A fresh preferences link, asked for from an expired one.

The expired token is still authentic (signed by us, for this journalist), so
it can name the mailbox to send a new link to; the new link goes only to the
address we hold, never to one given in the request, and the sign-up limits
apply, so the button cannot be used to flood anybody.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from alerts.audience.membership import Notice
from alerts.core.i18n import N_
from alerts.core.models import Journalist, JournalistStatus
from alerts.core.tokens import InvalidToken, Purpose
from alerts.web.csrf import FIELD
from alerts.web.public import PageError, _check_csrf, _language, _message, page_errors
from alerts.web.state import celery as _celery
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)

# Journalists whose preferences page still does something for them.
MAILED = (JournalistStatus.ACTIVE, JournalistStatus.UNSUBSCRIBED)


@router.post("/preferences/{token}/fresh-link", response_class=HTMLResponse)
@page_errors
def fresh_link(
    request: Request, token: str, csrf_token: Annotated[str | None, Form(alias=FIELD)] = None
) -> Response:
    runtime = _runtime(request)
    try:
        journalist_id = runtime.signer.read_expired(Purpose.PREFERENCES, token)
    except InvalidToken as exc:
        raise PageError(
            400,
            N_("This link is not valid"),
            N_(
                "Links in our emails must be used exactly as they were sent. "
                "If you copied this one by hand, check that it is complete."
            ),
        ) from exc
    _check_csrf(request, csrf_token)
    limits = request.app.state.limits
    if not limits.client_allowed(request.client.host if request.client else "unknown"):
        raise PageError(
            429, N_("Too many requests"), N_("Please wait a while before trying again.")
        )
    with runtime.sessions() as session:
        journalist = session.get(Journalist, journalist_id)
        email = journalist.email if journalist else None
        language = journalist.language if journalist else None
        wanted = journalist is not None and journalist.status in MAILED
    # Like sign-up, the answer is the same whether or not anything was sent.
    if email is not None and wanted and limits.address_allowed(email):
        _celery(request).enqueue_notice(journalist_id, Notice.PREFERENCES.value)
    return _message(
        request,
        _language(request, language),
        200,
        N_("Check your inbox"),
        N_("If we still hold this subscription, we have emailed a new link to its address."),
    )
