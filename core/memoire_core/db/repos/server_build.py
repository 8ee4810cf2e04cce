"""What the connected Postgres says about its own build and CPU, where its role may read it.

Both reads need a superuser (or pg_read_server_files and pg_config access); a managed or
locked-down server refuses them, and callers get None: unknown, not an error.
"""

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession


async def _optional_text(db: AsyncSession, sql: str) -> str | None:
    """One text value, or None when the server refuses or lacks it (under a savepoint, so a
    refusal leaves the caller's transaction usable)."""
    try:
        async with db.begin_nested():
            value = (await db.execute(text(sql))).scalar()
    except DBAPIError:
        return None
    return None if value is None else str(value)


async def configure_options(db: AsyncSession) -> str | None:
    """The ``./configure`` line the server was built with (``pg_config``'s CONFIGURE)."""
    return await _optional_text(db, "SELECT setting FROM pg_config WHERE name = 'CONFIGURE'")


async def cpu_flags(db: AsyncSession) -> frozenset[str] | None:
    """The CPU feature flags of the machine Postgres runs on (Linux), as the server reads them."""
    info = await _optional_text(db, "SELECT pg_read_file('/proc/cpuinfo')")
    if info is None:
        return None
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


async def hnsw_indexes(db: AsyncSession) -> list[str]:
    """The HNSW indexes on memory vectors: writing a vector updates each of them."""
    rows = await db.execute(
        text(
            "SELECT indexname FROM pg_indexes "
            "WHERE tablename = 'memory_embeddings' AND indexdef ILIKE '% USING hnsw %' "
            "ORDER BY indexname"
        )
    )
    return [str(r[0]) for r in rows]
