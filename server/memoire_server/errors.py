"""One table from core exceptions to gRPC status codes, with rich error details."""

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, NoReturn, TypeVar

import grpc
import sqlalchemy.exc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from memoire_core.db.engine import storage_unavailable
from memoire_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MemoireError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

DOMAIN = "memoire.dev"

CODES: dict[type[MemoireError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# Failures of the database connection, for ``except`` clauses; ``storage_unavailable`` also
# knows the SQLSTATEs of a server shutting down or starting up.
TRANSIENT: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
    OSError,
)


def status_for(error: MemoireError) -> status_pb2.Status:
    """The google.rpc.Status of an expected failure: code, message, ErrorInfo, BadRequest."""
    code = CODES.get(type(error)) or next(
        (c for cls, c in CODES.items() if isinstance(error, cls)), grpc.StatusCode.UNKNOWN
    )
    details = [error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)]
    if isinstance(error, InvalidArgument):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, ResourceExhausted | Unavailable):
        wait = duration_pb2.Duration()
        wait.FromMilliseconds(max(1, round(error.retry_after * 1000)))
        details.append(error_details_pb2.RetryInfo(retry_delay=wait))
    packed: list[any_pb2.Any] = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code.value[0], message=error.message, details=packed)


async def abort(context: grpc.aio.ServicerContext[Any, Any], status: status_pb2.Status) -> NoReturn:
    """End the call with a rich status (details travel in grpc-status-details-bin)."""
    converted = rpc_status.to_status(status)
    retry_after = _retry_after(status)
    if retry_after:
        # As a header too: Envoy turns response headers, not trailers, into HTTP headers.
        with contextlib.suppress(Exception):
            await context.send_initial_metadata(retry_after)
    metadata = tuple(converted.trailing_metadata) + retry_after
    await context.abort(converted.code, converted.details, metadata)
    raise AssertionError("unreachable: abort raises")


def _retry_after(status: status_pb2.Status) -> tuple[tuple[str, str], ...]:
    """A ``retry-after`` header (whole seconds) for a status with RetryInfo; HTTP clients of
    Envoy read it beside the 429 or 503."""
    for holder in status.details:
        if holder.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            holder.Unpack(info)
            seconds = math.ceil(info.retry_delay.ToMilliseconds() / 1000)
            return (("retry-after", str(max(1, seconds))),)
    return ()


def _internal() -> status_pb2.Status:
    holder = any_pb2.Any()
    holder.Pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; it has been logged", details=[holder]
    )


def _unavailable() -> status_pb2.Status:
    return status_for(Unavailable("storage is unreachable; retry with backoff"))


def unexpected_status(method: str, error: Exception) -> status_pb2.Status:
    """UNAVAILABLE (with a retry hint) when the database is down or restarting, else INTERNAL."""
    if storage_unavailable(error):
        summary = str(error).partition("\n")[0]  # no SQL, no background link
        log.warning("storage unavailable during %s: %s: %s", method, type(error).__name__, summary)
        return _unavailable()
    log.error("unexpected failure in %s", method, exc_info=error)
    return _internal()


R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]


@asynccontextmanager
async def as_status(
    context: grpc.aio.ServicerContext[Any, Any], method: str
) -> AsyncIterator[None]:
    """End the call with a proper status for any failure inside; never a stack trace."""
    try:
        yield
    except MemoireError as error:
        await abort(context, status_for(error))
    except grpc.aio.AbortError:
        raise
    except Exception as error:
        await abort(context, unexpected_status(method, error))


def mapped(method: Handler[R]) -> Handler[R]:
    """Wrap a unary handler so every failure leaves as a proper status."""

    @wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        async with as_status(context, method.__name__):
            return await method(self, request, context)
        raise AssertionError("unreachable: as_status returns or aborts")

    return wrapper


StreamHandler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[R]]


def mapped_stream(method: StreamHandler[R]) -> StreamHandler[R]:
    """``mapped`` for server-streaming handlers: a failure mid-stream ends it with a status."""

    @wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[R]:
        async with as_status(context, method.__name__):
            async for item in method(self, request, context):
                yield item

    return wrapper
