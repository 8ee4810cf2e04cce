"""Apps, users, API keys and sessions."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core import keys
from memoire_core.config import Limits
from memoire_core.db.repos import accounts as repo
from memoire_core.domain import Principal, Scope, UserRef
from memoire_core.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from memoire_core.ids import new_id
from memoire_core.services.access import require_app_scope, user_for_write
from memoire_core.validation import check_id, check_metadata, check_text

MAX_OVERLAP = timedelta(days=30)
KEY_ID_CHARS = 12


@dataclass(frozen=True)
class KeyView:
    """A key as callers see it: never its secret or hash."""

    key_id: str
    scope: Scope
    user_external_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A key just issued, with the secret shown this once."""

    key: KeyView
    secret: str


def _view(row: dict[str, Any], user_external_id: str | None = None) -> KeyView:
    return KeyView(
        key_id=row["key_id"],
        scope=Scope(row["scope"]),
        user_external_id=user_external_id or row.get("user_external_id") or "",
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def issue_key(
    db: AsyncSession,
    server_secret: bytes,
    app_id: Any,
    scope: Scope,
    user: UserRef | None,
    name: str,
    expires_at: datetime | None,
) -> NewKey:
    """Draw a key and store its hash; the secret exists only in the returned value."""
    issued = keys.issue(server_secret)
    row = await repo.insert_key(
        db,
        key_id=issued.key_id,
        app_id=app_id,
        user_id=user.id if user else None,
        scope=scope.value,
        name=name,
        secret_hash=issued.secret_hash,
        expires_at=expires_at,
    )
    return NewKey(_view(row, user.external_id if user else ""), issued.secret)


async def create_app_with_key(
    db: AsyncSession, server_secret: bytes, app_name: str, key_name: str
) -> NewKey:
    """Administrative bootstrap: an app (created if new) and a fresh app-scoped key for it."""
    app_id = await repo.get_or_create_app(db, app_name)
    return await issue_key(db, server_secret, app_id, Scope.APP, None, key_name, None)


@dataclass(frozen=True)
class CreatedApp:
    """A new app and its first app-scoped key."""

    app_id: uuid.UUID
    name: str
    created_at: datetime
    key: NewKey


async def create_app(
    db: AsyncSession, server_secret: bytes, name: str, key_name: str
) -> CreatedApp:
    """Register an app under a name no other app has, with an app-scoped key for it."""
    v = Violations()
    check_text(v, "name", name, 128)
    check_text(v, "key_name", key_name, 128, required=False)
    v.raise_if_any()
    row = await repo.insert_app(db, name)
    if row is None:
        raise AlreadyExists(f"an app named {name!r} exists", reason="APP_EXISTS")
    key = await issue_key(db, server_secret, row["id"], Scope.APP, None, key_name, None)
    return CreatedApp(row["id"], row["name"], row["created_at"], key)


@dataclass(frozen=True)
class CreatedUser:
    """A user, whether it was new, and a user key when one was asked for."""

    user: UserRef
    created: bool
    created_at: datetime
    metadata: dict[str, str]
    key: NewKey | None


async def create_user(
    db: AsyncSession,
    principal: Principal,
    server_secret: bytes,
    external_id: str,
    metadata: dict[str, str],
    issue_api_key: bool,
    limits: Limits,
) -> CreatedUser:
    """Register a user of the caller's app; an existing id is returned as it is."""
    require_app_scope(principal, "creating users")
    v = Violations()
    check_id(v, "user_id", external_id, limits, required=True)
    check_metadata(v, "metadata", metadata, limits)
    v.raise_if_any()
    user, created, created_at = await repo.get_or_create_user(
        db, principal.app_id, external_id, metadata
    )
    stored = metadata if created else await repo.user_metadata(db, user.id)
    key = None
    if issue_api_key:
        key = await issue_key(db, server_secret, principal.app_id, Scope.USER, user, "", None)
    return CreatedUser(user, created, created_at, stored, key)


async def create_key(
    db: AsyncSession,
    principal: Principal,
    server_secret: bytes,
    scope: Scope | None,
    user_external_id: str,
    name: str,
    expires_at: datetime | None,
    limits: Limits,
) -> NewKey:
    """Issue an app key, or a user key for one user of the app."""
    require_app_scope(principal, "creating keys")
    v = Violations()
    if scope is None:
        v.add("scope", "must be API_KEY_SCOPE_APP or API_KEY_SCOPE_USER")
    if scope is Scope.USER:
        check_id(v, "user_id", user_external_id, limits, required=True)
    elif user_external_id:
        v.add("user_id", "must be empty for an app-scoped key")
    check_text(v, "name", name, 128, required=False)
    if expires_at is not None and expires_at <= datetime.now(UTC):
        v.add("expire_time", "must be in the future")
    v.raise_if_any()
    user = None
    if scope is Scope.USER:
        user = await user_for_write(db, principal, user_external_id, limits)
    assert scope is not None
    return await issue_key(db, server_secret, principal.app_id, scope, user, name, expires_at)


async def _own_key(db: AsyncSession, principal: Principal, key_id: str) -> dict[str, Any]:
    """A key the caller may manage: any key of its app, or a user key itself."""
    if not (len(key_id) == KEY_ID_CHARS and key_id.isascii() and key_id.isalnum()):
        # Not shaped like an id keys.issue draws: it names no key, and is not echoed back.
        raise NotFound("no key has that id", reason="API_KEY_NOT_FOUND")
    row = await repo.find_key(db, key_id)
    if row is None or row["app_id"] != principal.app_id:
        raise NotFound(f"key {key_id!r} not found", reason="API_KEY_NOT_FOUND")
    if principal.scope is Scope.USER and row["key_id"] != principal.key_id:
        raise NotFound(f"key {key_id!r} not found", reason="API_KEY_NOT_FOUND")
    return row


async def rotate_key(
    db: AsyncSession,
    principal: Principal,
    server_secret: bytes,
    key_id: str,
    overlap_seconds: int,
) -> tuple[NewKey, KeyView]:
    """Issue a replacement with the same scope; the old key keeps working for the overlap."""
    v = Violations()
    if not 0 <= overlap_seconds <= MAX_OVERLAP.total_seconds():
        v.add("overlap_seconds", f"must be between 0 and {int(MAX_OVERLAP.total_seconds())}")
    v.raise_if_any()
    overlap = timedelta(seconds=overlap_seconds)
    old = await _own_key(db, principal, key_id)
    if old["revoked_at"] is not None:
        raise NotFound(f"key {key_id!r} was revoked", reason="API_KEY_NOT_FOUND")
    if old["expires_at"] is not None and old["expires_at"] <= datetime.now(UTC):
        raise FailedPrecondition(
            f"key {key_id!r} has expired; create a new key instead", reason="API_KEY_EXPIRED"
        )
    user = UserRef(old["user_id"], old["user_external_id"]) if old["user_id"] else None
    new = await issue_key(
        db, server_secret, old["app_id"], Scope(old["scope"]), user, old["name"], old["expires_at"]
    )
    ends = datetime.now(UTC) + overlap
    if old["expires_at"] is not None:
        ends = min(ends, old["expires_at"])
    previous = await repo.set_key_times(db, key_id, expires_at=ends)
    return new, _view(previous)


async def revoke_key(db: AsyncSession, principal: Principal, key_id: str) -> KeyView:
    """Stop a key at once; revoking twice keeps the first revocation time."""
    await _own_key(db, principal, key_id)
    return _view(await repo.set_key_times(db, key_id, revoked_at=datetime.now(UTC)))


@dataclass(frozen=True)
class SessionView:
    """A session as callers see it."""

    external_id: str
    user_external_id: str
    created: bool
    created_at: datetime
    metadata: dict[str, str]


async def create_session(
    db: AsyncSession,
    principal: Principal,
    user_external_id: str,
    session_external_id: str,
    metadata: dict[str, str],
    limits: Limits,
) -> SessionView:
    """Open a session for a user; a known id is returned as it is."""
    v = Violations()
    check_id(v, "session_id", session_external_id, limits, required=False)
    check_metadata(v, "metadata", metadata, limits)
    v.raise_if_any()
    user = await user_for_write(db, principal, user_external_id, limits)
    external_id = session_external_id or str(new_id())
    _, created, created_at, stored = await repo.get_or_create_session(
        db, user.id, external_id, metadata
    )
    return SessionView(external_id, user.external_id, created, created_at, stored)
