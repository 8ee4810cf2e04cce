"""The local stack as one: what the `memoire` commands start when the settings leave the
database or Redis empty, and what `memoire up` runs beside the server.

A :class:`Stack` holds its services in the order they started and stops them in reverse;
with a watchdog, each is handed to it the moment it runs. It holds any number of children
of a kind (a second worker is one more :func:`~memoire_stack.services.worker`), each named.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import SecretStr

from memoire_core.config import Settings
from memoire_stack.children import Service
from memoire_stack.services import (
    LocalPostgres,
    LocalRedis,
    bundled_pgvector_can_index,
    free_port,
    local_secret,
)
from memoire_stack.supervise import Watchdog

S = TypeVar("S", bound=Service)


@dataclass
class Stack:
    """The running services, first started first."""

    watchdog: Watchdog | None = None
    services: list[Service] = field(default_factory=list)

    def add(self, service: S) -> S:
        """Keep a service that runs now, so that it is guarded and stopped with the stack."""
        self.services.append(service)
        if self.watchdog is not None:
            self.watchdog.guard_service(service)
        return service

    def stop(self) -> None:
        """Stop every service, the last started first."""
        while self.services:
            self.services.pop().stop()

    def complete(self, settings: Settings) -> Settings:
        """Fill in whatever the settings leave empty from the embedded stack, starting it."""
        data = settings.data_dir
        updates: dict[str, Any] = {}
        if not settings.database_url:
            postgres = LocalPostgres(data / "postgres")
            updates["database_url"] = postgres.start()
            self.add(postgres)
            if not bundled_pgvector_can_index():
                updates["vector_index"] = "none"
        if not settings.redis_url:
            port_file = data / "redis.port"
            port = int(port_file.read_text()) if port_file.exists() else free_port()
            redis = LocalRedis(data / "redis", port)
            updates["redis_url"] = redis.start()
            port_file.write_text(str(redis.port))
            self.add(redis)
        if not settings.secret_key.get_secret_value():
            updates["secret_key"] = SecretStr(local_secret(data))
        return settings.model_copy(update=updates)


@contextmanager
def completed(settings: Settings) -> Iterator[Settings]:
    """The settings filled in from the embedded stack, which runs until the block ends."""
    stack = Stack()
    try:
        yield stack.complete(settings)
    finally:
        stack.stop()


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a `memoire` child of the stack: this one, and where the stack is."""
    return {
        **os.environ,
        "MEMOIRE_DATABASE_URL": settings.database_url,
        "MEMOIRE_REDIS_URL": settings.redis_url,
        "MEMOIRE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MEMOIRE_VECTOR_INDEX": settings.vector_index,
        "MEMOIRE_LOG_FORMAT": settings.log_format,
    }
