"""AccountService: users, API keys (create, rotate, revoke, expire) and sessions."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from memoire_proto.v1 import account_pb2
from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.helpers import (
    add,
    eventually,
    fact,
    failure,
    ingest,
    key_id_of,
    listed,
    recalled,
    timestamp,
)

APP = account_pb2.API_KEY_SCOPE_APP
USER = account_pb2.API_KEY_SCOPE_USER


def works(api, user: str = "") -> bool:
    """True when the key behind ``api`` is accepted (a cheap authenticated read)."""
    api.memory.ListMemories(pb.ListMemoriesRequest(user_id=user, page_size=1))
    return True


def refusal(api, user: str = ""):
    """The failure of a cheap authenticated read, or None while the key still works."""
    try:
        works(api, user)
    except grpc.RpcError:
        return failure(lambda: works(api, user))
    return None


def new_key(api, scope=APP, user: str = "", **kwargs):
    return api.accounts.CreateApiKey(apb.CreateApiKeyRequest(scope=scope, user_id=user, **kwargs))


def user_api(api, api_for, user: str):
    return api_for(new_key(api, USER, user).secret)


# --- CreateUser ---------------------------------------------------------------------------


def test_creating_a_user_says_it_was_created_and_keeps_its_metadata(api):
    reply = api.accounts.CreateUser(
        apb.CreateUserRequest(user_id="user-123", metadata={"plan": "pro"})
    )

    assert reply.created is True
    assert reply.user.id == "user-123"
    assert dict(reply.user.metadata) == {"plan": "pro"}
    assert reply.user.HasField("create_time")
    assert not reply.HasField("api_key")
    assert reply.api_key_secret == ""


def test_creating_an_existing_user_returns_it_unchanged(api):
    first = api.accounts.CreateUser(
        apb.CreateUserRequest(user_id="user-123", metadata={"plan": "pro"})
    )
    again = api.accounts.CreateUser(
        apb.CreateUserRequest(user_id="user-123", metadata={"plan": "free", "extra": "x"})
    )

    assert again.created is False
    assert again.user == first.user


def test_a_user_ingested_for_before_counts_as_existing(api):
    ingest(api, "u1", "hello")

    reply = api.accounts.CreateUser(apb.CreateUserRequest(user_id="u1"))

    assert reply.created is False


def test_a_user_key_issued_with_the_user_acts_for_that_user_only(api, api_for):
    reply = api.accounts.CreateUser(apb.CreateUserRequest(user_id="alice", issue_api_key=True))
    alice = api_for(reply.api_key_secret)

    assert reply.api_key.scope == USER
    assert reply.api_key.user_id == "alice"
    assert reply.api_key_secret.startswith(f"mem_{reply.api_key.id}_")
    alice.memory.AddMemories(pb.AddMemoriesRequest(facts=[fact("Likes tea")]))
    assert [m.content for m in listed(api, "alice")] == ["Likes tea"]
    assert [m.user_id for m in listed(alice)] == ["alice"]


def test_a_key_secret_appears_only_in_the_reply_that_issued_it(api):
    made = api.accounts.CreateUser(apb.CreateUserRequest(user_id="alice", issue_api_key=True))
    secret = made.api_key_secret
    secret_part = secret.split("_", 2)[2]

    later = [
        made.api_key,
        api.accounts.CreateUser(apb.CreateUserRequest(user_id="alice")),
        api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=made.api_key.id)).previous,
        api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=made.api_key.id)),
    ]

    for reply in later:
        assert secret_part not in str(reply)
        assert secret_part.encode() not in reply.SerializeToString()


def test_create_user_rejects_a_bad_id_naming_the_field(api):
    for bad in ("", " padded ", "x" * 129):
        err = failure(lambda b=bad: api.accounts.CreateUser(apb.CreateUserRequest(user_id=b)))  # type: ignore[misc]
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT
        assert err.fields == ["user_id"]


def test_create_user_rejects_too_much_metadata_and_creates_nothing(api):
    metadata = {f"k{i}": "v" for i in range(33)}
    err = failure(
        lambda: api.accounts.CreateUser(apb.CreateUserRequest(user_id="u1", metadata=metadata))
    )

    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["metadata"]
    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="u1")).created is True


def test_users_of_one_app_are_unknown_to_another(api, server, api_for):
    api.accounts.CreateUser(apb.CreateUserRequest(user_id="user-123", metadata={"a": "1"}))
    other = api_for(server.new_app_key())

    reply = other.accounts.CreateUser(apb.CreateUserRequest(user_id="user-123"))

    assert reply.created is True
    assert dict(reply.user.metadata) == {}


# --- CreateApiKey -------------------------------------------------------------------------


def test_an_app_key_can_issue_another_app_key_that_works(api, api_for):
    reply = new_key(api, APP, name="ci")
    second = api_for(reply.secret)

    assert reply.api_key.scope == APP
    assert reply.api_key.name == "ci"
    assert reply.api_key.user_id == ""
    assert not reply.api_key.HasField("expire_time")
    assert not reply.api_key.HasField("revoke_time")
    assert reply.secret.startswith(f"mem_{reply.api_key.id}_")
    ingest(second, "u1", "written with the second key")
    assert [m.content for m in listed(api, "u1")] == ["written with the second key"]


def test_a_user_key_may_omit_its_user_id_but_not_name_another_user(api, api_for):
    alice = user_api(api, api_for, "alice")

    alice.memory.AddMemories(pb.AddMemoriesRequest(facts=[fact("Likes tea")]))
    err = failure(
        lambda: alice.memory.AddMemories(
            pb.AddMemoriesRequest(user_id="bob", facts=[fact("Likes coffee")])
        )
    )

    assert err.code == grpc.StatusCode.PERMISSION_DENIED
    assert [m.content for m in listed(api, "alice")] == ["Likes tea"]
    assert listed(api, "bob") == []
    assert [m.content for m in listed(alice, "alice")] == ["Likes tea"]


def test_a_user_key_for_an_unknown_user_creates_the_user(api):
    new_key(api, USER, "newcomer")

    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="newcomer")).created is False


def test_create_api_key_rejects_a_missing_scope(api):
    err = failure(lambda: new_key(api, account_pb2.API_KEY_SCOPE_UNSPECIFIED))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["scope"]


def test_create_api_key_rejects_an_unknown_scope(api):
    err = failure(lambda: new_key(api, 7))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["scope"]


def test_a_user_key_needs_a_user_id_and_an_app_key_must_not_have_one(api):
    missing = failure(lambda: new_key(api, USER, ""))
    extra = failure(lambda: new_key(api, APP, "alice"))

    assert missing.code == extra.code == grpc.StatusCode.INVALID_ARGUMENT
    assert missing.fields == extra.fields == ["user_id"]
    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="alice")).created is True


def test_a_key_that_would_expire_in_the_past_is_refused_and_its_user_not_created(api):
    past = timestamp(datetime.now(UTC) - timedelta(minutes=1))
    err = failure(lambda: new_key(api, USER, "alice", expire_time=past))

    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["expire_time"]
    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="alice")).created is True


def test_create_api_key_names_every_bad_field_at_once(api):
    past = timestamp(datetime.now(UTC) - timedelta(minutes=1))
    err = failure(lambda: new_key(api, USER, "", name="n" * 200, expire_time=past))

    assert set(err.fields) == {"user_id", "name", "expire_time"}


def test_a_user_key_cannot_create_keys_or_users(api, api_for):
    alice = user_api(api, api_for, "alice")

    for call in (
        lambda: new_key(alice, APP),
        lambda: new_key(alice, USER, "alice"),
        lambda: alice.accounts.CreateUser(apb.CreateUserRequest(user_id="mallory")),
        lambda: alice.accounts.CreateUser(apb.CreateUserRequest(user_id="alice")),
    ):
        err = failure(call)
        assert err.code == grpc.StatusCode.PERMISSION_DENIED
        assert err.reason == "APP_SCOPE_REQUIRED"
    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="mallory")).created is True


# --- RotateApiKey -------------------------------------------------------------------------


def test_a_rotated_key_keeps_working_during_the_overlap_beside_its_replacement(api, api_for):
    old = new_key(api, APP, name="worker")

    reply = api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=old.api_key.id))

    assert reply.api_key.id != old.api_key.id
    assert reply.api_key.scope == APP
    assert reply.api_key.name == "worker"
    assert reply.previous.id == old.api_key.id
    assert reply.previous.HasField("expire_time")
    assert works(api_for(reply.secret), "u1")
    assert works(api_for(old.secret), "u1")


def test_a_rotated_user_key_stays_scoped_to_its_user(api, api_for):
    old = new_key(api, USER, "alice")

    reply = api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=old.api_key.id))
    new = api_for(reply.secret)

    assert reply.api_key.scope == USER
    assert reply.api_key.user_id == "alice"
    assert works(new)
    err = failure(lambda: works(new, "bob"))
    assert err.code == grpc.StatusCode.PERMISSION_DENIED


def test_a_user_key_may_rotate_itself(api, api_for):
    old = new_key(api, USER, "alice")
    alice = api_for(old.secret)

    reply = alice.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=old.api_key.id))

    assert works(api_for(reply.secret))


def test_with_a_one_second_overlap_the_old_key_stops_working(api, api_for):
    old = new_key(api, APP)

    reply = api.accounts.RotateApiKey(
        apb.RotateApiKeyRequest(key_id=old.api_key.id, overlap_seconds=1)
    )

    err = eventually(lambda: refusal(api_for(old.secret), "u1"), timeout=10)
    assert err.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.reason == "API_KEY_EXPIRED"
    assert works(api_for(reply.secret), "u1")


def test_rotating_with_a_bad_overlap_is_refused_and_the_key_is_unchanged(api, api_for):
    old = new_key(api, APP)

    for overlap in (-1, 31 * 86_400):
        err = failure(
            lambda o=overlap: api.accounts.RotateApiKey(  # type: ignore[misc]
                apb.RotateApiKeyRequest(key_id=old.api_key.id, overlap_seconds=o)
            )
        )
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT
        assert err.fields == ["overlap_seconds"]
    revoked = api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=old.api_key.id))
    assert not revoked.api_key.HasField("expire_time")


def test_rotating_another_apps_key_is_not_found_and_leaves_it_working(api, server, api_for):
    theirs = server.new_app_key()

    err = failure(
        lambda: api.accounts.RotateApiKey(
            apb.RotateApiKeyRequest(key_id=key_id_of(theirs), overlap_seconds=1)
        )
    )

    assert err.code == grpc.StatusCode.NOT_FOUND
    assert err.reason == "API_KEY_NOT_FOUND"
    assert works(api_for(theirs), "u1")


def test_rotating_an_unknown_or_revoked_key_is_not_found(api):
    old = new_key(api, APP)
    api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=old.api_key.id))

    for key_id in ("", "AAAAAAAAAAAA", old.api_key.id):
        err = failure(
            lambda k=key_id: api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=k))  # type: ignore[misc]
        )
        assert err.code == grpc.StatusCode.NOT_FOUND


def test_a_user_key_cannot_rotate_or_revoke_other_keys(api, api_for):
    alice = user_api(api, api_for, "alice")
    bob_key = new_key(api, USER, "bob")
    app_key = new_key(api, APP)

    for key_id in (bob_key.api_key.id, app_key.api_key.id):
        for call in (
            lambda k=key_id: alice.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=k)),
            lambda k=key_id: alice.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=k)),
        ):
            assert failure(call).code == grpc.StatusCode.NOT_FOUND
    assert works(api_for(bob_key.secret))
    assert works(api_for(app_key.secret), "u1")


# --- RevokeApiKey -------------------------------------------------------------------------


def test_a_revoked_key_is_refused_on_the_very_next_request(api, api_for):
    key = new_key(api, APP)
    victim = api_for(key.secret)
    assert works(victim, "u1")

    reply = api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))

    assert reply.api_key.id == key.api_key.id
    assert reply.api_key.HasField("revoke_time")
    err = failure(lambda: works(victim, "u1"))
    assert err.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.reason == "API_KEY_REVOKED"


def test_revoking_twice_is_fine_and_keeps_the_first_revocation(api):
    key = new_key(api, APP)

    first = api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))
    again = api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))

    assert again.api_key.revoke_time == first.api_key.revoke_time


def test_a_user_key_may_revoke_itself(api, api_for):
    key = new_key(api, USER, "alice")
    alice = api_for(key.secret)

    alice.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))

    assert failure(lambda: works(alice)).reason == "API_KEY_REVOKED"


def test_revoking_another_apps_key_is_not_found_and_leaves_it_working(api, server, api_for):
    theirs = server.new_app_key()

    err = failure(
        lambda: api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key_id_of(theirs)))
    )

    assert err.code == grpc.StatusCode.NOT_FOUND
    assert works(api_for(theirs), "u1")


def test_a_revoked_app_key_can_no_longer_manage_keys(api, api_for):
    key = new_key(api, APP)
    revoked = api_for(key.secret)
    api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))

    err = failure(lambda: new_key(revoked, APP))

    assert err.code == grpc.StatusCode.UNAUTHENTICATED


# --- expiry -------------------------------------------------------------------------------


def test_a_key_stops_working_once_it_expires(api, api_for):
    soon = timestamp(datetime.now(UTC) + timedelta(seconds=1))
    key = new_key(api, APP, expire_time=soon)
    assert key.api_key.expire_time == soon

    err = eventually(lambda: refusal(api_for(key.secret), "u1"), timeout=10)

    assert err.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.reason == "API_KEY_EXPIRED"


# --- CreateSession ------------------------------------------------------------------------


def test_a_session_without_an_id_gets_one_assigned(api):
    reply = api.accounts.CreateSession(
        apb.CreateSessionRequest(user_id="u1", metadata={"channel": "web"})
    )

    assert reply.created is True
    assert uuid.UUID(reply.session.id)
    assert reply.session.user_id == "u1"
    assert dict(reply.session.metadata) == {"channel": "web"}
    assert reply.session.HasField("create_time")


def test_opening_an_existing_session_returns_it_unchanged(api):
    first = api.accounts.CreateSession(
        apb.CreateSessionRequest(user_id="u1", session_id="s-1", metadata={"v": "1"})
    )
    again = api.accounts.CreateSession(
        apb.CreateSessionRequest(user_id="u1", session_id="s-1", metadata={"v": "2"})
    )

    assert first.created is True
    assert again.created is False
    assert again.session == first.session


def test_the_same_session_id_belongs_to_each_user_separately(api):
    api.accounts.CreateSession(apb.CreateSessionRequest(user_id="u1", session_id="s-1"))

    reply = api.accounts.CreateSession(apb.CreateSessionRequest(user_id="u2", session_id="s-1"))

    assert reply.created is True
    assert reply.session.user_id == "u2"


def test_messages_ingested_into_a_session_are_recalled_by_it(api):
    session = api.accounts.CreateSession(apb.CreateSessionRequest(user_id="u1")).session
    ingest(api, "u1", "Booked the ferry to Naxos", session=session.id)
    ingest(api, "u1", "The ferry strike is over")

    found = recalled(api, "u1", "ferry", session_id=session.id)

    assert [m.content for m in found] == ["Booked the ferry to Naxos"]
    assert found[0].session_id == session.id


def test_a_user_key_opens_sessions_for_its_own_user_only(api, api_for):
    alice = user_api(api, api_for, "alice")

    mine = alice.accounts.CreateSession(apb.CreateSessionRequest(session_id="s-1"))
    err = failure(
        lambda: alice.accounts.CreateSession(
            apb.CreateSessionRequest(user_id="bob", session_id="s-2")
        )
    )

    assert mine.session.user_id == "alice"
    assert err.code == grpc.StatusCode.PERMISSION_DENIED
    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="bob")).created is True


def test_create_session_rejects_bad_ids_and_opens_nothing(api):
    err = failure(
        lambda: api.accounts.CreateSession(
            apb.CreateSessionRequest(user_id="u1", session_id="s" * 129)
        )
    )
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["session_id"]

    err = failure(lambda: api.accounts.CreateSession(apb.CreateSessionRequest(session_id="s-1")))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.fields == ["user_id"]

    assert api.accounts.CreateUser(apb.CreateUserRequest(user_id="u1")).created is True


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("CreateUser", apb.CreateUserRequest(user_id="u1")),
        ("CreateApiKey", apb.CreateApiKeyRequest(scope=APP)),
        ("RotateApiKey", apb.RotateApiKeyRequest(key_id="AAAAAAAAAAAA")),
        ("RevokeApiKey", apb.RevokeApiKeyRequest(key_id="AAAAAAAAAAAA")),
        ("CreateSession", apb.CreateSessionRequest(user_id="u1")),
    ],
)
def test_every_account_call_needs_a_valid_key(api_for, method, request_):
    for key in (None, "nonsense", "mem_AAAAAAAAAAAA_notthesecret"):
        call = getattr(api_for(key).accounts, method)
        err = failure(lambda c=call: c(request_))  # type: ignore[misc]
        assert err.code == grpc.StatusCode.UNAUTHENTICATED


def test_an_expired_key_cannot_be_rotated(api):
    soon = datetime.now(UTC) + timedelta(seconds=1)
    made = api.accounts.CreateApiKey(
        apb.CreateApiKeyRequest(scope=account_pb2.API_KEY_SCOPE_APP, expire_time=timestamp(soon))
    )
    key_id = made.api_key.id

    def expired():
        try:
            api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=key_id))
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.FAILED_PRECONDITION
        return False

    assert eventually(expired)


# --- Keys remembered for cached Conscious answers ------------------------------------------


def conscious(api, user: str = ""):
    return api.memory.Conscious(pb.ConsciousRequest(user_id=user))


@pytest.mark.parametrize("scope", [APP, USER])
def test_a_revoked_key_is_refused_even_where_conscious_was_served_from_the_cache(
    api, api_for, scope
):
    key = new_key(api, scope, "alice" if scope == USER else "")
    victim = api_for(key.secret)
    add(api, "alice", fact("Is called Alice", "identity.name", value="Alice", essential=True))
    named = "alice" if scope == APP else ""
    first, cached = conscious(victim, named), conscious(victim, named)  # the second: no SQL
    assert [m.content for m in first.memories] == [m.content for m in cached.memories]

    api.accounts.RevokeApiKey(apb.RevokeApiKeyRequest(key_id=key.api_key.id))

    err = failure(lambda: conscious(victim, named))
    assert err.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.reason == "API_KEY_REVOKED"


def test_a_forgotten_users_key_is_refused_where_conscious_was_served_from_the_cache(api, api_for):
    key = new_key(api, USER, "bob")
    bob = api_for(key.secret)
    add(api, "bob", fact("Is called Bob", "identity.name", value="Bob", essential=True))
    assert [m.content for m in conscious(bob).memories] == ["Is called Bob"]
    assert [m.content for m in conscious(bob).memories] == ["Is called Bob"]

    api.memory.ForgetUser(pb.ForgetUserRequest(user_id="bob"))

    assert failure(lambda: conscious(bob)).code == grpc.StatusCode.UNAUTHENTICATED


def test_a_rotated_key_stops_at_the_end_of_its_overlap_where_conscious_was_cached(api, api_for):
    key = new_key(api, APP)
    old = api_for(key.secret)
    add(api, "carol", fact("Is called Carol", "identity.name", value="Carol", essential=True))
    assert conscious(old, "carol").memories and conscious(old, "carol").memories

    api.accounts.RotateApiKey(apb.RotateApiKeyRequest(key_id=key.api_key.id, overlap_seconds=1))
    assert conscious(old, "carol").memories  # within the overlap

    def refused() -> Any:
        try:
            conscious(old, "carol")
        except grpc.RpcError as error:
            return error
        return None

    err = eventually(refused, timeout=30)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
