"""Mémoire's domain core: storage, ingest, recall, accounts; free of gRPC and Celery."""
