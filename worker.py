"""``celery -A worker worker``: the Celery app, built from ALERTS_* settings at start-up."""

from alerts.celery_app import create_celery
from alerts.core.settings import load_settings

app = create_celery(load_settings())
