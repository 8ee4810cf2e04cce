"""Apps, users, API keys and sessions."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core import keys
from memoire_core.config import Limits
from memoire_core.db.repos import accounts as repo
from memoire_core.domain import KeyView, Principal, Scope, SessionView, UserRef
from memoire_core.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from memoire_core.ids import new_id
from memoire_core.services.access import require_app_scope, user_for_write
from memoire_core.unit_of_work import KeysChanged, record
from memoire_core.validation import check_id, check_metadata, check_text


@dataclass(frozen=True)
class NewKey:
    """A key just issued, with the secret shown this once."""

    key: KeyView
    secret: str


async def issue_key(
    db: AsyncSession,
    server_secret: bytes,
    app_id: uuid.UUID,
    scope: Scope,
    user: UserRef | None,
    name: str,
    expires_at: datetime | None,
) -> NewKey:
    """Draw a key and store its hash; the secret exists only in the returned value."""
    issued = keys.issue(server_secret)
    stored = await repo.insert_key(
        db,
        key_id=issued.key_id,
        app_id=app_id,
        user=user,
        scope=scope,
        name=name,
        secret_hash=issued.secret_hash,
        expires_at=expires_at,
    )
    return NewKey(stored.view, issued.secret)


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
    db: AsyncSession, server_secret: bytes, name: str, key_name: str, limits: Limits
) -> CreatedApp:
    """Register an app under a name no other app has, with an app-scoped key for it."""
    v = Violations()
    check_text(v, "name", name, limits.name_bytes)
    check_text(v, "key_name", key_name, limits.name_bytes, required=False)
    v.raise_if_any()
    app = await repo.insert_app(db, name)
    if app is None:
        raise AlreadyExists(f"an app named {name!r} exists", reason="APP_EXISTS")
    key = await issue_key(db, server_secret, app.id, Scope.APP, None, key_name, None)
    return CreatedApp(app.id, app.name, app.created_at, key)


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
    found = await repo.get_or_create_user(db, principal.app_id, external_id, metadata)
    stored = metadata if found.created else await repo.user_metadata(db, found.user.id)
    key = None
    if issue_api_key:
        key = await issue_key(db, server_secret, principal.app_id, Scope.USER, found.user, "", None)
    return CreatedUser(found.user, found.created, found.created_at, stored, key)


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
    check_text(v, "name", name, limits.name_bytes, required=False)
    if expires_at is not None and expires_at <= datetime.now(UTC):
        v.add("expire_time", "must be in the future")
    v.raise_if_any()
    user = None
    if scope is Scope.USER:
        user = await user_for_write(db, principal, user_external_id, limits)
    assert scope is not None
    return await issue_key(db, server_secret, principal.app_id, scope, user, name, expires_at)


async def _own_key(db: AsyncSession, principal: Principal, key_id: str) -> repo.Key:
    """A key the caller may manage: any key of its app, or a user key itself."""
    if not (len(key_id) == keys.KEY_ID_CHARS and key_id.isascii() and key_id.isalnum()):
        # Not shaped like an id keys.issue draws: it names no key, and is not echoed back.
        raise NotFound("no key has that id", reason="API_KEY_NOT_FOUND")
    found = await repo.find_key(db, key_id)
    if found is None or found.key.app_id != principal.app_id:
        raise NotFound(f"key {key_id!r} not found", reason="API_KEY_NOT_FOUND")
    if principal.scope is Scope.USER and found.key.view.key_id != principal.key_id:
        raise NotFound(f"key {key_id!r} not found", reason="API_KEY_NOT_FOUND")
    return found.key


async def rotate_key(
    db: AsyncSession,
    principal: Principal,
    server_secret: bytes,
    key_id: str,
    overlap_seconds: int,
    limits: Limits,
) -> tuple[NewKey, KeyView]:
    """Issue a replacement with the same scope; the old key keeps working for the overlap."""
    v = Violations()
    longest = limits.rotation_overlap_seconds
    if not 0 <= overlap_seconds <= longest:
        v.add("overlap_seconds", f"must be between 0 and {longest}")
    v.raise_if_any()
    overlap = timedelta(seconds=overlap_seconds)
    old = await _own_key(db, principal, key_id)
    if old.view.revoked_at is not None:
        raise NotFound(f"key {key_id!r} was revoked", reason="API_KEY_NOT_FOUND")
    expires_at = old.view.expires_at
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise FailedPrecondition(
            f"key {key_id!r} has expired; create a new key instead", reason="API_KEY_EXPIRED"
        )
    user = UserRef(old.user_id, old.view.user_external_id) if old.user_id else None
    new = await issue_key(
        db, server_secret, old.app_id, old.view.scope, user, old.view.name, expires_at
    )
    ends = datetime.now(UTC) + overlap
    if expires_at is not None:
        ends = min(ends, expires_at)
    previous = await repo.set_key_times(db, key_id, expires_at=ends)
    record(db, KeysChanged())
    return new, previous.view


async def revoke_key(db: AsyncSession, principal: Principal, key_id: str) -> KeyView:
    """Stop a key at once; revoking twice keeps the first revocation time."""
    await _own_key(db, principal, key_id)
    record(db, KeysChanged())
    return (await repo.set_key_times(db, key_id, revoked_at=datetime.now(UTC))).view


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
    session = await repo.get_or_create_session(db, user.id, external_id, metadata)
    return SessionView(
        external_id, user.external_id, session.created, session.created_at, session.metadata
    )
