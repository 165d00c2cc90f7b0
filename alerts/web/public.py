"""Public pages for journalists: subscribe, confirm, unsubscribe (preferences: `web.preferences`).

Every link carries a signed token scoped to one purpose; a bad token gets a
plain 4xx page that says nothing about anybody. Pages that change anything do
so on POST only: mail scanners follow the links in emails with GET.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from alerts.audience import membership
from alerts.audience.membership import Notice, SignUp
from alerts.audience.subscriptions import InvalidAddress, normalise_email, parse_spec
from alerts.core.i18n import LANGUAGES, N_, negotiate
from alerts.core.models import (
    DIGEST_CADENCES,
    Cadence,
    Journalist,
    UnsubscribeMethod,
    utcnow,
)
from alerts.core.taxonomy import TaxonomyError
from alerts.core.tokens import InvalidToken, Purpose
from alerts.digests import runs as digests
from alerts.digests.schedule import InvalidSchedule, check_zone
from alerts.web.csrf import COOKIE, FIELD
from alerts.web.recent_view import recent_views
from alerts.web.state import celery as _celery
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime
from alerts.web.subscribe_prefill import prefill

router = APIRouter(include_in_schema=False)


class PageError(Exception):
    def __init__(self, status: int, title: str, *paragraphs: str, **extra: Any) -> None:
        self.status, self.title, self.paragraphs = status, title, list(paragraphs)
        self.extra = extra  # more for the page: a form_action and form_button, say


def _language(request: Request, preferred: str | None = None) -> str:
    asked = request.query_params.get("lang")
    return negotiate(request.headers.get("accept-language"), asked or preferred)


def _message(
    request: Request, language: str, status: int, title: str, *paragraphs: str, **extra: Any
) -> HTMLResponse:
    return _pages(request).render(
        request,
        "message.html",
        language,
        status=status,
        title=title,
        paragraphs=list(paragraphs),
        **extra,
    )


def _read_token(request: Request, purpose: Purpose, token: str) -> int:
    return _read_token_with_request(request, purpose, token)[0]


def _read_token_with_request(
    request: Request, purpose: Purpose, token: str
) -> tuple[int, dict[str, Any] | None]:
    try:
        journalist_id, carried, _ = _runtime(request).signer.read_with_request(purpose, token)
        return journalist_id, carried
    except InvalidToken as exc:
        expired = "expired" in str(exc)
        if expired and purpose is Purpose.PREFERENCES:
            raise _expired_preferences(request, token) from exc
        raise PageError(
            410 if expired else 400,
            N_("This link has expired") if expired else N_("This link is not valid"),
            N_(
                "Links in our emails must be used exactly as they were sent. "
                "If you copied this one by hand, check that it is complete."
            ),
        ) from exc


def _expired_preferences(request: Request, token: str) -> PageError:
    """Preference links expire; the page offers to mail a fresh one (see fresh_link)."""
    return PageError(
        410,
        N_("This link has expired"),
        N_("Links to your preferences work for a limited time. We can email a new one to you."),
        form_action=f"{_pages(request).root}/preferences/{token}/fresh-link",
        form_button=N_("Email me a new link"),
    )


def _check_csrf(request: Request, form_token: str | None) -> None:
    if not _pages(request).csrf.valid(request.cookies.get(COOKIE), form_token):
        raise PageError(
            403,
            N_("This form has expired"),
            N_("Go back, reload the page and submit the form again."),
        )


def _journalist(session: Session, journalist_id: int) -> Journalist:
    journalist = session.get(Journalist, journalist_id)
    if journalist is None or journalist.email is None:
        raise PageError(
            404, N_("No subscription found"), N_("We hold no subscription for this link any more.")
        )
    return journalist


def page_errors(handler: Any) -> Any:
    """Turn :class:`PageError` into its page, in the language the browser asked for."""
    import functools

    @functools.wraps(handler)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            response: Response = handler(request, *args, **kwargs)
        except PageError as error:
            return _message(
                request,
                _language(request),
                error.status,
                error.title,
                *error.paragraphs,
                **error.extra,
            )
        return response

    return wrapper


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("subscribe", status_code=303)


@router.get("/subscribe", response_class=HTMLResponse)
@page_errors
def subscribe_form(request: Request) -> Response:
    language = _language(request)
    blank = {
        "email": "",
        "name": "",
        "outlet": "",
        "language": language,
        "countries": [],
        "topics": [],
        "cadence": "immediate",
        "timezone": "",
    } | prefill(request.query_params, _runtime(request).taxonomy)
    recent = recent_views(request, blank["countries"], blank["topics"], language)
    return _pages(request).render(
        request, "subscribe.html", language, form=blank, errors=[], recent=recent
    )


@router.post("/subscribe", response_class=HTMLResponse)
@page_errors
def subscribe(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    outlet: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form()] = "en",
    countries: Annotated[list[str] | None, Form()] = None,
    topics: Annotated[list[str] | None, Form()] = None,
    cadence: Annotated[str, Form()] = "immediate",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> Response:
    # The page's labels: the chosen language's catalogue, else the browser's (a reader
    # of Persian gets English labels; their language still picks the items' words).
    page_language = language if language in LANGUAGES else _language(request)
    _check_csrf(request, csrf_token)
    runtime = _runtime(request)
    limits = request.app.state.limits
    client = request.client.host if request.client else "unknown"
    if not limits.client_allowed(client):
        raise PageError(
            429, N_("Too many requests"), N_("Please wait a while before trying again.")
        )
    form = {
        "email": email,
        "name": name,
        "outlet": outlet,
        "language": language,
        "countries": countries or [],
        "topics": topics or [],
        "cadence": cadence,
        "timezone": timezone,
    }
    errors: list[str] = []
    address = ""
    spec = None
    try:
        address = normalise_email(email)
    except InvalidAddress:
        errors.append(N_("Enter a valid email address, like name@example.com."))
    try:
        spec = parse_spec(runtime.taxonomy, countries or [], topics or [], cadence)
    except (TaxonomyError, ValueError):
        errors.append(N_("Choose countries, topics and how often from the lists."))
    if language not in runtime.settings.reader_language_list:
        errors.append(N_("Choose a language from the list."))
    try:
        zone = check_zone(timezone)
    except InvalidSchedule:
        errors.append(N_("Choose a time zone from the list."))
    if errors or spec is None:
        return _pages(request).render(
            request, "subscribe.html", page_language, status=422, form=form, errors=errors
        )
    notice, journalist_id = Notice.NONE, None
    # The per-address limit is silent: the answer must not tell whether an
    # address is known, nor how often it was tried.
    if limits.address_allowed(address):
        sign_up = SignUp(address, name.strip(), outlet.strip(), language, spec, zone)
        with runtime.sessions() as session:
            notice, journalist_id = membership.request_sign_up(session, sign_up, utcnow())
            session.commit()
        if notice is not Notice.NONE and journalist_id is not None:
            # The choices ride in the signed confirmation link: applied only on confirm.
            payload = sign_up.payload() if notice is Notice.CONFIRM else None
            _celery(request).enqueue_notice(journalist_id, notice.value, payload)
    return _message(
        request,
        page_language,
        200,
        N_("Check your inbox"),
        N_(
            "If the address can receive our alerts, we have sent it an email. "
            "Click the link in it to confirm your subscription; nothing is sent before that."
        ),
        N_("The link works for 7 days."),
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
@page_errors
def confirm_page(request: Request, token: str) -> Response:
    journalist_id = _read_token(request, Purpose.CONFIRM, token)
    with _runtime(request).sessions() as session:
        journalist = _journalist(session, journalist_id)
        language = journalist.language
    return _pages(request).render(
        request,
        "confirm.html",
        _language(request, language),
        action=f"{_pages(request).root}/confirm/{token}",
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
@page_errors
def confirm(
    request: Request, token: str, csrf_token: Annotated[str | None, Form(alias=FIELD)] = None
) -> Response:
    journalist_id = _read_token(request, Purpose.CONFIRM, token)
    _check_csrf(request, csrf_token)
    runtime = _runtime(request)
    _, sign_up, signed_at = runtime.signer.read_with_request(Purpose.CONFIRM, token)
    with runtime.sessions() as session:
        _journalist(session, journalist_id)
        try:
            active = membership.confirm(
                session,
                journalist_id,
                utcnow(),
                sign_up,
                signed_at,
                runtime.taxonomy,
                runtime.address_hasher,
                runtime.settings.reader_language_list,
            )
        except (TaxonomyError, ValueError):
            active = False  # the vocabulary changed since the link was sent
        language = _journalist(session, journalist_id).language
        session.commit()
    language = _language(request, language)
    if not active:
        raise PageError(
            409,
            N_("This link can no longer be used"),
            N_(
                "This address was unsubscribed after the link was sent. "
                "Subscribe again to receive alerts."
            ),
        )
    return _message(
        request,
        language,
        200,
        N_("You are subscribed"),
        N_(
            "You will receive our press alerts at this address. Every email has a link to "
            "change your preferences or unsubscribe."
        ),
        link=runtime.link(Purpose.PREFERENCES, journalist_id),
        link_text=N_("Your preferences"),
    )


@router.get("/u/{token}", response_class=HTMLResponse)
@page_errors
def unsubscribe_page(request: Request, token: str) -> Response:
    journalist_id, carried = _read_token_with_request(request, Purpose.UNSUBSCRIBE, token)
    with _runtime(request).sessions() as session:
        journalist = session.get(Journalist, journalist_id)
        language = journalist.language if journalist else None
    return _pages(request).render(
        request,
        "unsubscribe.html",
        _language(request, language),
        action=f"{_pages(request).root}/u/{token}",
        digest=_digest_of(carried),
    )


def _digest_of(carried: dict[str, Any] | None) -> str | None:
    """The cadence a digest email's unsubscribe link ends (None: everything)."""
    cadence = (carried or {}).get("digest")
    return cadence if cadence in DIGEST_CADENCES else None


@router.post("/u/{token}", response_class=HTMLResponse)
@page_errors
def unsubscribe(
    request: Request,
    token: str,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
    via: Annotated[str | None, Form()] = None,
) -> Response:
    """The page's button and a mail provider's one-click POST both land here.

    RFC 8058: no cookie, no CSRF token, any 2xx answer; the signed token in the
    URL is the only credential, and unsubscribing twice changes nothing.
    """
    journalist_id, carried = _read_token_with_request(request, Purpose.UNSUBSCRIBE, token)
    method = UnsubscribeMethod.PAGE if via == "page" else UnsubscribeMethod.ONE_CLICK
    runtime = _runtime(request)
    digest = _digest_of(carried)
    with runtime.sessions() as session:
        journalist = session.get(Journalist, journalist_id)
        language = journalist.language if journalist else None
        if digest is not None:
            digests.end_digest(session, journalist_id, digest)
        else:
            membership.unsubscribe_all(session, journalist_id, method, utcnow())
        session.commit()
    if digest is not None:
        return _message(
            request,
            _language(request, language),
            200,
            N_("Your daily digest is stopped")
            if digest == Cadence.DAILY
            else N_("Your weekly digest is stopped"),
            N_("We will not send you this digest any more. Other alerts you chose keep coming."),
        )
    return _message(
        request,
        _language(request, language),
        200,
        N_("You are unsubscribed"),
        N_(
            "We will not send you any more press alerts. Emails already on their way "
            "have been stopped."
        ),
    )
