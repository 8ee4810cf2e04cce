"""SQL for apps, users, API keys and sessions."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core.db.tables import api_keys, apps, memories, messages, sessions, users
from memoire_core.domain import KeyView, Scope, UserRef
from memoire_core.ids import new_id


async def get_or_create_app(db: AsyncSession, name: str) -> uuid.UUID:
    """The app of that name, created when missing."""
    stmt = (
        insert(apps)
        .values(id=new_id(), name=name)
        .on_conflict_do_update(index_elements=[apps.c.name], set_={"name": name})
        .returning(apps.c.id)
    )
    app_id: uuid.UUID = (await db.execute(stmt)).scalar_one()
    return app_id


@dataclass(frozen=True, slots=True)
class App:
    """An app as stored."""

    id: uuid.UUID
    name: str
    created_at: datetime


async def insert_app(db: AsyncSession, name: str) -> App | None:
    """A new app of that name; None when the name is taken."""
    row = (
        await db.execute(
            insert(apps)
            .values(id=new_id(), name=name)
            .on_conflict_do_nothing(index_elements=[apps.c.name])
            .returning(apps.c.id, apps.c.name, apps.c.created_at)
        )
    ).first()
    return App(row.id, row.name, row.created_at) if row else None


async def find_user(db: AsyncSession, app_id: uuid.UUID, external_id: str) -> UserRef | None:
    """The user of an app with that external id, if any."""
    row = (
        await db.execute(
            select(users.c.id).where(users.c.app_id == app_id, users.c.external_id == external_id)
        )
    ).first()
    return UserRef(row.id, external_id) if row else None


_USER_FOR_WRITE = (
    select(users.c.id, users.c.created_at)
    .where(
        users.c.app_id == bindparam("app_id", type_=UUID(as_uuid=True)),
        users.c.external_id == bindparam("external_id"),
    )
    .with_for_update(key_share=True)
)


class FoundUser(NamedTuple):
    """A user looked up for a write, whether this call created it, and when it was."""

    user: UserRef
    created: bool
    created_at: datetime


async def get_or_create_user(
    db: AsyncSession, app_id: uuid.UUID, external_id: str, metadata: dict[str, str] | None = None
) -> FoundUser:
    """The user, created when missing; also whether it was created and when it was.

    An existing user's row is locked (FOR KEY SHARE) until the transaction ends, so a
    ForgetUser running meanwhile waits for this write and then erases it too. The user
    usually exists, so it is looked up first: one round trip instead of an insert that
    does nothing and then the lookup.
    """
    while True:
        row = (
            await db.execute(_USER_FOR_WRITE, {"app_id": app_id, "external_id": external_id})
        ).first()
        if row is not None:
            return FoundUser(UserRef(row.id, external_id), False, row.created_at)
        inserted = (
            await db.execute(
                insert(users)
                .values(
                    id=new_id(), app_id=app_id, external_id=external_id, metadata=metadata or {}
                )
                .on_conflict_do_nothing(index_elements=[users.c.app_id, users.c.external_id])
                .returning(users.c.id, users.c.created_at)
            )
        ).first()
        if inserted:
            return FoundUser(UserRef(inserted.id, external_id), True, inserted.created_at)
        # Created by a concurrent request between the lookup and the insert: look again.


async def lock_user(db: AsyncSession, user_id: uuid.UUID) -> bool:
    """Hold the user's row against deletion until the transaction ends; False if it is gone."""
    found = (
        await db.execute(
            select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
        )
    ).first()
    return found is not None


async def user_metadata(db: AsyncSession, user_id: uuid.UUID) -> dict[str, str]:
    """The metadata stored with a user."""
    value: dict[str, str] = (
        await db.execute(select(users.c.metadata).where(users.c.id == user_id))
    ).scalar_one()
    return value


class Erased(NamedTuple):
    """How many messages and memories erasing a user took with it."""

    messages: int
    memories: int


async def delete_user(db: AsyncSession, user_id: uuid.UUID) -> Erased:
    """Delete a user and, by cascade, everything stored about them."""
    n_messages = (
        await db.execute(select(func.count()).where(messages.c.user_id == user_id))
    ).scalar_one()
    n_memories = (
        await db.execute(select(func.count()).where(memories.c.user_id == user_id))
    ).scalar_one()
    await db.execute(delete(users).where(users.c.id == user_id))
    return Erased(n_messages, n_memories)


@dataclass(frozen=True, slots=True)
class Key:
    """An API key as stored: what callers see of it, and what only the server reads."""

    view: KeyView
    app_id: uuid.UUID
    user_id: uuid.UUID | None
    secret_hash: bytes


def _key(row: Any, user_external_id: str | None) -> Key:
    view = KeyView(
        key_id=row.key_id,
        scope=Scope(row.scope),
        user_external_id=user_external_id or "",
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
    return Key(view, row.app_id, row.user_id, row.secret_hash)


async def insert_key(
    db: AsyncSession,
    *,
    key_id: str,
    app_id: uuid.UUID,
    user: UserRef | None,
    scope: Scope,
    name: str,
    secret_hash: bytes,
    expires_at: datetime | None,
) -> Key:
    """Store a new key's hash; returns the stored key."""
    row = (
        await db.execute(
            insert(api_keys)
            .values(
                id=new_id(),
                key_id=key_id,
                app_id=app_id,
                user_id=user.id if user else None,
                scope=scope.value,
                name=name,
                secret_hash=secret_hash,
                expires_at=expires_at,
            )
            .returning(*api_keys.c)
        )
    ).one()
    return _key(row, user.external_id if user else "")


_named = users.alias("named")
_KEY_WITH_USER = (
    select(
        *api_keys.c,
        users.c.external_id.label("user_external_id"),
        select(_named.c.id)
        .where(_named.c.app_id == api_keys.c.app_id, _named.c.external_id == bindparam("named"))
        .scalar_subquery()
        .label("named_user_id"),
    )
    .outerjoin(users, users.c.id == api_keys.c.user_id)
    .where(api_keys.c.key_id == bindparam("key_id"))
)


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """A key found by its public id, and the id of the app's user a call names (None when
    the app has no such user, or the call names none)."""

    key: Key
    named_user_id: uuid.UUID | None


async def find_key(db: AsyncSession, key_id: str, named: str = "") -> PresentedKey | None:
    """A key by its public id, with its user's external id and, in the same round trip, the
    id of the app's user called ``named``."""
    row = (await db.execute(_KEY_WITH_USER, {"key_id": key_id, "named": named})).first()
    return PresentedKey(_key(row, row.user_external_id), row.named_user_id) if row else None


async def set_key_times(
    db: AsyncSession,
    key_id: str,
    *,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> Key:
    """Set a key's expiry or revocation time; returns the updated key."""
    values: dict[str, Any] = {}
    if expires_at is not None:
        values["expires_at"] = expires_at
    if revoked_at is not None:
        values["revoked_at"] = func.coalesce(api_keys.c.revoked_at, revoked_at)
    await db.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(**values))
    found = await find_key(db, key_id)
    assert found is not None
    return found.key


_SESSION = select(sessions.c.id, sessions.c.created_at, sessions.c.metadata).where(
    sessions.c.user_id == bindparam("user_id", type_=UUID(as_uuid=True)),
    sessions.c.external_id == bindparam("external_id"),
)


@dataclass(frozen=True, slots=True)
class Session:
    """A session looked up for a write, whether this call created it, and what it holds."""

    id: uuid.UUID
    created: bool
    created_at: datetime
    metadata: dict[str, str]


async def get_or_create_session(
    db: AsyncSession, user_id: uuid.UUID, external_id: str, metadata: dict[str, str] | None = None
) -> Session:
    """The user's session with that id, created when missing (looked up first: it usually
    exists, and a conversation's every Ingest names it)."""
    params = {"user_id": user_id, "external_id": external_id}
    row = (await db.execute(_SESSION, params)).first()
    if row is not None:
        return Session(row.id, False, row.created_at, dict(row.metadata))
    inserted = (
        await db.execute(
            insert(sessions)
            .values(id=new_id(), user_id=user_id, external_id=external_id, metadata=metadata or {})
            .on_conflict_do_nothing(index_elements=[sessions.c.user_id, sessions.c.external_id])
            .returning(sessions.c.id, sessions.c.created_at, sessions.c.metadata)
        )
    ).first()
    if inserted:
        return Session(inserted.id, True, inserted.created_at, dict(inserted.metadata))
    row = (await db.execute(_SESSION, params)).one()  # created meanwhile by a concurrent call
    return Session(row.id, False, row.created_at, dict(row.metadata))


async def find_session(db: AsyncSession, user_id: uuid.UUID, external_id: str) -> uuid.UUID | None:
    """The id of the user's session with that external id, if any."""
    return (
        await db.execute(
            select(sessions.c.id).where(
                sessions.c.user_id == user_id, sessions.c.external_id == external_id
            )
        )
    ).scalar_one_or_none()
