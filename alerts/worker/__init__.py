"""The Celery app (queues, routes, beat) and its tasks."""
