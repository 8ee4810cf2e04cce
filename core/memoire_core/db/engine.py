"""Engine and session factory; one engine per process, built from settings."""

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine; connections are checked on checkout so a Postgres restart heals."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"command_timeout": 30, "server_settings": {"jit": "off"}},
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, as handlers read them to build replies."""
    return async_sessionmaker(engine, expire_on_commit=False)
