"""The web side: public journalist pages (and later the staff API and ops pages)."""

from alerts.web.app import create_app

__all__ = ["create_app"]
