"""Who is calling and which user they mean: key verification and user resolution."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from memoire_core import keys
from memoire_core.config import Limits
from memoire_core.db.repos import accounts
from memoire_core.db.repos.clauses import Owner
from memoire_core.domain import Principal, Scope, UserRef
from memoire_core.errors import PermissionDenied, Unauthenticated, Violations
from memoire_core.validation import check_id


async def authenticate(
    db: AsyncSession, server_secret: bytes, presented: str, named_user: str = ""
) -> Principal:
    """The principal a presented key stands for; any doubt is UNAUTHENTICATED.

    ``named_user``, the user id the call names, is looked up in the same round trip, so a
    read resolves its user without another (see ``user_for_read``).
    """
    key_id = keys.key_id_of(presented)
    if key_id is None:
        raise Unauthenticated("missing or malformed API key")
    found = await accounts.find_key(db, key_id, named_user)
    if found is None or not keys.matches(server_secret, presented, found.key.secret_hash):
        raise Unauthenticated("API key not recognised")
    key = found.key.view
    now = datetime.now(UTC)
    if key.revoked_at is not None and key.revoked_at <= now:
        raise Unauthenticated("API key was revoked", reason="API_KEY_REVOKED")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated("API key has expired", reason="API_KEY_EXPIRED")
    return Principal(
        key_id=key_id,
        app_id=found.key.app_id,
        scope=key.scope,
        user_id=found.key.user_id,
        user_external_id=key.user_external_id or None,
        named=(named_user, found.named_user_id) if named_user else None,
        valid_until=min(
            (t for t in (key.revoked_at, key.expires_at) if t is not None), default=None
        ),
    )


def lookup_name(named_user: str, limits: Limits) -> str:
    """The user id to look up with the key: itself when it is a valid id, else "" (the call's
    own validation then says what is wrong with it, after the key is checked)."""
    v = Violations()
    check_id(v, "user_id", named_user, limits, required=False)
    return "" if v.items else named_user


def owner_of(principal: Principal) -> Owner:
    """The rows a principal may see."""
    return Owner(principal.app_id, principal.user_id)


def _checked_external_id(principal: Principal, external_id: str, limits: Limits) -> str:
    """The user id a request means, after checking it against the key's scope."""
    if principal.scope is Scope.USER:
        assert principal.user_external_id is not None
        if external_id and external_id != principal.user_external_id:
            raise PermissionDenied(
                "this key is scoped to another user", reason="USER_SCOPE_MISMATCH"
            )
        return principal.user_external_id
    v = Violations()
    check_id(v, "user_id", external_id, limits, required=True)
    v.raise_if_any()
    return external_id


async def user_for_write(
    db: AsyncSession, principal: Principal, external_id: str, limits: Limits
) -> UserRef:
    """The user a write is for, created on first use."""
    wanted = _checked_external_id(principal, external_id, limits)
    if principal.scope is Scope.USER:
        assert principal.user_id is not None
        if not await accounts.lock_user(db, principal.user_id):
            # Forgotten since the key was checked: the key went with the user.
            raise Unauthenticated("API key not recognised")
        return UserRef(principal.user_id, wanted)
    return (await accounts.get_or_create_user(db, principal.app_id, wanted)).user


async def user_for_read(
    db: AsyncSession, principal: Principal, external_id: str, limits: Limits
) -> UserRef | None:
    """The user a read is for; None when the app has no such user yet (nothing to return)."""
    wanted = _checked_external_id(principal, external_id, limits)
    if principal.scope is Scope.USER:
        assert principal.user_id is not None
        return UserRef(principal.user_id, wanted)
    if principal.named is not None and principal.named[0] == wanted:
        found = principal.named[1]
        return UserRef(found, wanted) if found is not None else None
    return await accounts.find_user(db, principal.app_id, wanted)


def require_app_scope(principal: Principal, action: str) -> None:
    """Refuse user-scoped keys for app-level actions."""
    if principal.scope is not Scope.APP:
        raise PermissionDenied(f"{action} needs an app-scoped key", reason="APP_SCOPE_REQUIRED")
