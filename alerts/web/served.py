"""The app as ``alerts serve --workers N`` builds it in each of its processes.

uvicorn starts its worker processes afresh and imports the app by name, so an app
object built in the parent cannot be handed down: each process reads the same
``ALERTS_*`` environment and builds its own (its own database pool, broker
connection and caches), which is what a process of its own needs anyway.
"""

from __future__ import annotations

from fastapi import FastAPI

from alerts.core.settings import load_settings
from alerts.web.app import create_app
from alerts.worker.app import create_celery

# What uvicorn is given with factory=True.
FACTORY = "alerts.web.served:app_from_environment"


def app_from_environment() -> FastAPI:
    return create_app(create_celery(load_settings()))
