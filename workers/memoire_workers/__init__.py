"""The Celery adapter: background work of the core, run by workers on Redis."""
