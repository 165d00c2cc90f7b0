"""Typed access to what create_app() puts on the application's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from alerts.core.runtime import Runtime
from alerts.worker.app import AlertsCelery

if TYPE_CHECKING:
    from alerts.web.newsroom_cache import PageCache
    from alerts.web.pages import Pages
    from alerts.web.staff_session import StaffSessions


def pages(request: Request) -> Pages:
    value: Pages = request.app.state.pages
    return value


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


def celery(request: Request) -> AlertsCelery:
    value: AlertsCelery = request.app.state.celery
    return value


def staff_sessions(request: Request) -> StaffSessions:
    value: StaffSessions = request.app.state.staff_sessions
    return value


def newsroom_cache(request: Request) -> PageCache:
    value: PageCache = request.app.state.newsroom_cache
    return value
