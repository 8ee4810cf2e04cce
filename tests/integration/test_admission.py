"""Admission: rate limits per key in Redis, the failed-auth guard, and creating apps.

Each test runs a server of its own with the limits it needs turned on, over the session's
Postgres and Redis (or a Redis address nothing listens on, for the per-process fallback).
"""

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from memoire_proto.v1 import account_service_pb2 as apb
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api, Server, own_server
from tests.integration.helpers import failure, ingest, recalled

ADMIN_KEY = "admin-" + uuid.uuid4().hex


def _retry_delay(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToMilliseconds()) / 1000
    raise AssertionError("no RetryInfo detail")


def _trailer(error: Any, name: str) -> str:
    for item in error.trailing_metadata() or ():
        if item.key == name:
            return str(item.value)
    raise AssertionError(f"no {name} in the trailing metadata")


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def limited(loop_thread, embedder, database_url, redis_server) -> Iterator[Server]:
    """A write every two seconds with a burst of three; reads unlimited."""
    with own_server(
        loop_thread,
        embedder,
        database_url,
        redis_server.url,
        rate_limit_writes_per_second=0.5,
        rate_limit_writes_burst=3,
        rate_limit_reads_per_second=0,
    ) as server:
        yield server


def test_writes_over_the_burst_are_refused_with_how_long_to_wait(limited: Server):
    with grpc.insecure_channel(limited.target) as channel:
        api = Api(channel, limited.new_app_key())
        for i in range(3):
            ingest(api, "u1", f"message {i}")
        with pytest.raises(grpc.RpcError) as caught:
            ingest(api, "u1", "one too many")
        error = caught.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        wait = _retry_delay(error)
        assert 0 < wait <= 2.0
        assert int(_trailer(error, "retry-after")) >= 1
        assert failure(lambda: ingest(api, "u1", "again")).reason == "RATE_LIMITED"

        time.sleep(wait + 0.1)
        ingest(api, "u1", "after waiting")
        listed = api.memory.ListMemories(pb.ListMemoriesRequest(user_id="u1"))
        contents = {m.content for m in listed.memories}
        assert "one too many" not in contents
        assert {"message 0", "after waiting"} <= contents


def test_each_key_has_its_own_bucket_and_reads_draw_from_another(limited: Server):
    with grpc.insecure_channel(limited.target) as channel:
        first = Api(channel, limited.new_app_key())
        second = Api(channel, limited.new_app_key())
        for i in range(3):
            ingest(first, "u1", f"first {i}")
        assert failure(lambda: ingest(first, "u1", "over")).code == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        ingest(second, "u1", "the other key still writes")
        for _ in range(10):
            recalled(first, "u1", "first")


def test_a_bad_key_cannot_drain_a_good_keys_bucket(limited: Server):
    with grpc.insecure_channel(limited.target) as channel:
        good_key = limited.new_app_key()
        # Same public key id, wrong secret.
        forged = Api(channel, good_key[: good_key.rindex("_") + 1] + "x" * 43)
        for _ in range(5):
            code = failure(lambda: ingest(forged, "u1", "forged")).code
            assert code in {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
        ingest(Api(channel, good_key), "u1", "the owner is unaffected")


def test_repeated_failed_sign_ins_from_one_address_are_throttled(
    loop_thread, embedder, database_url, redis_server
):
    with (
        own_server(
            loop_thread, embedder, database_url, redis_server.url, auth_failures_per_minute=3
        ) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        good = Api(channel, server.new_app_key())
        ingest(good, "u1", "signed in")
        guesser = Api(channel, "mem_AAAAAAAAAAAA_guess")
        for _ in range(3):
            assert failure(lambda: ingest(guesser, "u1", "x")).code == (
                grpc.StatusCode.UNAUTHENTICATED
            )
        throttled = failure(lambda: ingest(guesser, "u1", "x"))
        assert throttled.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert throttled.reason == "AUTH_THROTTLED"
        # The guard is per address: the key's owner calling from it waits too.
        assert failure(lambda: ingest(good, "u1", "x")).code == (grpc.StatusCode.RESOURCE_EXHAUSTED)
        # The address counts nothing more while throttled, so the block ends with its window.
        ttl = redis.Redis.from_url(redis_server.url).ttl("memoire:authfail:127.0.0.1")
        assert 0 < ttl <= 60


def test_without_redis_the_server_meters_calls_itself_and_writes_are_stored(
    loop_thread, embedder, database_url, caplog
):
    caplog.set_level(logging.WARNING, logger="memoire_server.ratelimit")
    unreachable = f"redis://127.0.0.1:{_unused_port()}/0"
    with (
        own_server(
            loop_thread,
            embedder,
            database_url,
            unreachable,
            rate_limit_reads_per_second=5,
            rate_limit_writes_per_second=0.5,
            rate_limit_writes_burst=3,
        ) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        api = Api(channel, server.new_app_key())
        for i in range(3):
            ingest(api, "u1", f"stored without Redis {i}")
        over = failure(lambda: ingest(api, "u1", "one too many"))
        assert over.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert over.reason == "RATE_LIMITED"
        listed = api.memory.ListMemories(pb.ListMemoriesRequest(user_id="u1"))
        assert sorted(m.content for m in listed.memories) == [
            f"stored without Redis {i}" for i in range(3)
        ]
        # Another key has a bucket of its own.
        ingest(Api(channel, server.new_app_key()), "u1", "another key writes")
        assert REGISTRY.get_sample_value("memoire_rate_limit_local") == 1
        assert REGISTRY.get_sample_value(
            "memoire_rate_limit_local_calls_total",
            {"method_class": "write", "result": "limited"},
        )
    warnings = [r.getMessage() for r in caplog.records if "cannot reach Redis" in r.getMessage()]
    assert len(warnings) == 1  # once for the outage, not once per call


# --- creating apps ---------------------------------------------------------------------------


@pytest.fixture
def admin_server(loop_thread, embedder, database_url, redis_server) -> Iterator[Server]:
    with own_server(
        loop_thread, embedder, database_url, redis_server.url, admin_key=ADMIN_KEY
    ) as server:
        yield server


def test_the_admin_key_creates_an_app_whose_key_works_and_sees_only_its_own(
    admin_server: Server,
):
    with grpc.insecure_channel(admin_server.target) as channel:
        name = f"app-{uuid.uuid4()}"
        made = Api(channel, ADMIN_KEY).accounts.CreateApp(
            apb.CreateAppRequest(name=name, key_name="backend")
        )
        assert made.app.name == name
        assert made.api_key.name == "backend"
        assert made.api_key_secret.startswith("mem_")
        new_app = Api(channel, made.api_key_secret)
        other = Api(channel, admin_server.new_app_key())
        ingest(other, "shared-id", "belongs to the other app")
        assert recalled(new_app, "shared-id", "belongs to the other app") == []
        ingest(new_app, "shared-id", "belongs to the new app")
        assert [m.content for m in recalled(new_app, "shared-id", "new app")] == [
            "belongs to the new app"
        ]


def test_creating_an_app_needs_the_admin_key(admin_server: Server):
    with grpc.insecure_channel(admin_server.target) as channel:
        request = apb.CreateAppRequest(name=f"app-{uuid.uuid4()}")
        no_key = failure(lambda: Api(channel, None).accounts.CreateApp(request))
        assert no_key.code == grpc.StatusCode.UNAUTHENTICATED
        app_key = failure(
            lambda: Api(channel, admin_server.new_app_key()).accounts.CreateApp(request)
        )
        assert app_key.code == grpc.StatusCode.UNAUTHENTICATED
        assert app_key.reason == "ADMIN_KEY_INVALID"


def test_an_app_name_is_taken_once_and_a_bad_one_is_named(admin_server: Server):
    with grpc.insecure_channel(admin_server.target) as channel:
        admin = Api(channel, ADMIN_KEY)
        name = f"app-{uuid.uuid4()}"
        admin.accounts.CreateApp(apb.CreateAppRequest(name=name))
        taken = failure(lambda: admin.accounts.CreateApp(apb.CreateAppRequest(name=name)))
        assert taken.code == grpc.StatusCode.ALREADY_EXISTS
        bad = failure(lambda: admin.accounts.CreateApp(apb.CreateAppRequest(name=" ")))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
        assert bad.fields == ["name"]


def test_without_an_admin_key_apps_cannot_be_created_over_the_api(server: Server, api: Api):
    refused = failure(lambda: api.accounts.CreateApp(apb.CreateAppRequest(name="nope")))
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.reason == "ADMIN_KEY_NOT_SET"


def test_open_sign_up_creates_apps_without_any_key(
    loop_thread, embedder, database_url, redis_server
):
    with (
        own_server(loop_thread, embedder, database_url, redis_server.url, open_signup=True) as s,
        grpc.insecure_channel(s.target) as channel,
    ):
        made = Api(channel, None).accounts.CreateApp(apb.CreateAppRequest(name=str(uuid.uuid4())))
        ingest(Api(channel, made.api_key_secret), "u1", "hello")


def test_behind_a_trusted_proxy_the_guard_counts_per_forwarded_address(
    loop_thread, embedder, database_url, redis_server
):
    with (
        own_server(
            loop_thread,
            embedder,
            database_url,
            redis_server.url,
            auth_failures_per_minute=2,
            trusted_proxies="127.0.0.1/32",
        ) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        api = Api(channel, None)

        def guess(address: str) -> grpc.StatusCode:
            request = pb.RecallRequest(user_id="u1", query="x")
            metadata = [("x-api-key", "mem_AAAAAAAAAAAA_guess"), ("x-forwarded-for", address)]
            return failure(lambda: api.memory.Recall(request, metadata=metadata)).code

        assert [guess("203.0.113.7") for _ in range(3)] == [
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ]
        assert guess("203.0.113.8") == grpc.StatusCode.UNAUTHENTICATED
