"""Which methods are reads, safe to send again, is written down in several places that must
agree: the server's admission classes (``_READS`` in ``memoire_server.limits``), the proto's
``idempotency_level``, Envoy's retry routes (the compose config and the one ``memoire up``
renders from it), and the SDK's retry flags (``memoire.calls``).

A read named in one place and not the others fails here, whichever place it was added to.
"""

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor_pb2 import MethodOptions
from memoire import calls

from memoire_proto.v1 import account_service_pb2, memory_service_pb2
from memoire_server.limits import METHOD_CLASSES
from memoire_server.ratelimit import MethodClass
from memoire_stack import envoy

SERVICES = (
    memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
)
# Envoy routes the export stream on its own (no timeout) and never sends it again: once rows
# have gone to the client a repeat would send them twice. Clients restart an export themselves.
EXPORT = "/memoire.v1.MemoryService/ExportUser"
# Writes the SDK's plainest call sends again because a repeat changes nothing: the proto marks
# the first three IDEMPOTENT; CreateUser without a key to issue returns an existing id unchanged.
REPEATABLE_WRITES = {
    "/memoire.v1.MemoryService/DeleteMemory",
    "/memoire.v1.MemoryService/ForgetUser",
    "/memoire.v1.AccountService/RevokeApiKey",
    "/memoire.v1.AccountService/CreateUser",
}
# Retry conditions that fire only before a request reached a server; any other one
# (reset, unavailable, 5xx, ...) sends again a request a server may have acted on.
BEFORE_SENDING = {"connect-failure", "refused-stream", "reset-before-request"}


def server_reads() -> set[str]:
    return {path for path, kind in METHOD_CLASSES.items() if kind is MethodClass.READ}


def every_method() -> set[str]:
    return {
        f"/{service.full_name}/{method.name}" for service in SERVICES for method in service.methods
    }


def marked_without_side_effects() -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in SERVICES
        for method in service.methods
        if method.GetOptions().idempotency_level == MethodOptions.NO_SIDE_EFFECTS
    }


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    (chain,) = envoy.listener(config)["filter_chains"]
    (manager,) = chain["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    found: list[dict[str, Any]] = host["routes"]
    return found


def matches(match: dict[str, Any], path: str) -> bool:
    if "path" in match:
        return bool(path == match["path"])
    if "prefix" in match:
        return path.startswith(match["prefix"])
    if "safe_regex" in match:
        return re.fullmatch(match["safe_regex"]["regex"], path) is not None
    raise AssertionError(f"a route match this test does not know: {match}")


def retried_once_sent(config: dict[str, Any]) -> set[str]:
    """The methods whose route (the first that matches, as in Envoy) retries a request that
    may have reached a server."""
    retried = set()
    for path in every_method():
        route = next(r for r in routes(config) if matches(r["match"], path))
        policy = route.get("route", {}).get("retry_policy", {})
        conditions = set(policy.get("retry_on", "").split(",")) - {""}
        if conditions - BEFORE_SENDING:
            retried.add(path)
    return retried


def sdk_retries() -> dict[str, bool]:
    """Each method of the SDK's call table and whether its plainest call may be sent again."""
    plain_arguments = {"messages": [{"content": "hi"}], "facts": ["hi"]}
    flags = {}
    for function in vars(calls).values():
        if not inspect.isfunction(function) or function.__module__ != calls.__name__:
            continue
        signature = inspect.signature(function)
        if not str(signature.return_annotation).startswith("Call["):
            continue
        required = {
            name: plain_arguments.get(name, "x")
            for name, parameter in signature.parameters.items()
            if parameter.default is inspect.Parameter.empty
        }
        call = function(**required)
        flags[call.method] = call.retry
    return flags


@pytest.fixture(
    params=["compose", "local"],
    ids=["envoy/envoy.yaml", "memoire up"],
)
def envoy_config(request) -> dict[str, Any]:
    if request.param == "compose":
        return envoy.load()
    return envoy.render(grpc_sockets=[Path("/run/memoire/grpc-1.sock")], inspector_port=8081)


def test_the_proto_marks_the_server_reads_as_without_side_effects():
    assert marked_without_side_effects() == server_reads()


def test_envoy_retries_the_server_reads_and_no_write_once_sent(envoy_config):
    assert retried_once_sent(envoy_config) == server_reads() - {EXPORT}


def test_the_sdk_has_a_call_for_every_method_but_the_chat_stream():
    assert set(sdk_retries()) == every_method() - {calls.OBSERVE_CHAT}


def test_the_sdk_sends_again_the_server_reads_and_only_writes_a_repeat_leaves_unchanged():
    retried = {method for method, retry in sdk_retries().items() if retry}

    assert retried == server_reads() | REPEATABLE_WRITES


def test_the_sdk_sends_a_write_again_only_when_the_repeat_names_what_the_first_made():
    assert calls.create_session("ada", "chat-1").retry
    assert not calls.create_session("ada").retry  # a second session would be opened
    assert calls.create_user("ada").retry
    assert not calls.create_user("ada", issue_api_key=True).retry  # a second key
