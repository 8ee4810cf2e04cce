"""Engine and session factory; one engine per process, built from settings."""

import asyncio

import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

# A call waits at most this long for a connection (opening one, or one free in the pool), so
# an unreachable database fails calls quickly instead of holding them to their deadline.
CONNECT_TIMEOUT_SECONDS = 5.0
POOL_TIMEOUT_SECONDS = 5.0
# Longest any one statement may run; a call's gRPC deadline usually cancels it sooner.
COMMAND_TIMEOUT_SECONDS = 30.0

# SQLSTATEs of a server that is gone, going or not ready, whatever the statement was:
# class 08 (connection exception), 57P01-57P03 (shutting down, crash shutdown, starting up)
# and 53300 (too many connections).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def make_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine.

    Connections are not pinged on checkout: that cost a round trip on every call. A connection
    that died with a Postgres restart fails its first statement instead; SQLAlchemy then
    invalidates the whole pool, and callers retry once (the server) or later (the worker).
    """
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        # Parameters are users' messages and facts: errors and their log lines never show them.
        hide_parameters=True,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": COMMAND_TIMEOUT_SECONDS,
            "server_settings": {
                "jit": "off",
                # A filtered HNSW scan (one user's vectors) goes on until it has enough rows
                # instead of stopping after ef_search of everyone's (pgvector 0.8).
                "hnsw.iterative_scan": "relaxed_order",
            },
        },
    )


def make_probe_engine(database_url: str, timeout: float) -> AsyncEngine:
    """An engine for health probes: a fresh connection each time, every wait cut at ``timeout``.

    Unpooled, so a probe sees what a new connection would (a restarted server, a full
    ``max_connections``) and never waits behind the calls' pool.
    """
    return create_async_engine(
        database_url,
        poolclass=NullPool,
        connect_args={"timeout": timeout, "command_timeout": timeout},
    )


async def database_answers(engine: AsyncEngine, within: float) -> bool:
    """Whether Postgres answers ``SELECT 1`` within ``within`` seconds."""
    try:
        async with asyncio.timeout(within), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # refused, reset, frozen, shutting down: all mean it cannot serve now
        return False
    return True


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, as handlers read them to build replies."""
    return async_sessionmaker(engine, expire_on_commit=False)


def make_reader_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for calls that only read: each statement runs alone, with no BEGIN or COMMIT."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def storage_unavailable(error: BaseException) -> bool:
    """Whether a failure means Postgres cannot serve right now (down, restarting, out of
    connections or too slow to connect), so the same work may succeed if tried again later.

    A statement Postgres rejected (a constraint, bad SQL) is not one: retrying cannot help.
    """
    if isinstance(
        error,
        OSError  # refused, reset, no socket; TimeoutError (connect, command) is one too
        | sqlalchemy.exc.TimeoutError  # no pooled connection came free in time
        | sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.InterfaceError,
    ):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    original = error.orig if isinstance(error, sqlalchemy.exc.DBAPIError) else error
    state = getattr(original, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_UNREACHABLE_STATES)
