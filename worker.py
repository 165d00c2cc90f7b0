"""``celery -A worker worker``: the Celery app, built from ALERTS_* settings at start-up."""

from alerts.core.settings import load_settings
from alerts.worker.app import create_celery

app = create_celery(load_settings())
