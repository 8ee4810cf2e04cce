"""Log lines as JSON objects (or plain text), each carrying the request id it was written for.

The gRPC server binds the request id of every call (the caller's ``x-request-id``, or a new
one); the id travels with the extraction task to the worker, which binds it again while the
task runs, so one id follows an ingest from the RPC to the facts it produced.
"""

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from memoire_adapters import tracing
from memoire_core.config import Settings

REQUEST_ID_HEADER = "x-request-id"
# An id from outside is kept only when it is short and plain; anything else gets a new one.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

request_id: ContextVar[str] = ContextVar("memoire_request_id", default="")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "request",
}


def new_request_id() -> str:
    """A fresh request id for a call that came without one."""
    return uuid.uuid4().hex


def accept_request_id(presented: str | None) -> str:
    """The caller's request id when it is acceptable, else a fresh one."""
    if presented and _ACCEPTABLE_ID.fullmatch(presented):
        return presented
    return new_request_id()


@contextmanager
def bound_request_id(value: str) -> Iterator[str]:
    """Make ``value`` the request id of every log line written inside the block."""
    token = request_id.set(value)
    try:
        yield value
    finally:
        request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id (and trace, if any) of the context that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        ids = tracing.current_ids()
        if ids is not None and not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = ids
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "") or request_id.get()
        if rid:
            line["request_id"] = rid
        line.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id]: message``, for a console read by people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request = getattr(record, "request_id", "") or request_id.get() or "-"
        return super().format(record)


def make_handler(
    log_format: Literal["json", "text"], stream: Any = None
) -> logging.StreamHandler[Any]:
    """A handler writing records in ``log_format`` to ``stream`` (stderr by default)."""
    handler: logging.StreamHandler[Any] = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    return handler


def configure(settings: Settings) -> None:
    """Send every log record of the process to stderr in one format; safe to call again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(settings.log_format))
    root.setLevel(settings.log_level)


def write_through_root(*names: str) -> None:
    """Drop the handlers a library gave its loggers, so its lines come out once, in our format."""
    for name in names:
        logging.getLogger(name).handlers.clear()
