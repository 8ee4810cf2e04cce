"""`memoire up --servers 2 --workers 2`: two servers and two workers behind one Envoy, and a
server and a worker killed mid-traffic lose no acknowledged write and do no job twice."""

import asyncio
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api
from tests.integration.helpers import eventually
from tests.integration.pipeline import finished
from tests.integration.scripted_llm import ScriptedLLM, scripted_llm
from tests.integration.test_local_stack import (
    Stack,
    children,
    running,
    start_stack,
    stop_stack,
)

USERS = ("ana", "ben", "chloe")
SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
RETRY_PAUSE_SECONDS = 0.1


@dataclass
class Traffic:
    """Ingests and Recalls through Envoy on threads of their own, until told to stop."""

    api: Api
    llm: ScriptedLLM
    acknowledged: dict[str, str] = field(default_factory=dict)  # message id -> extraction id
    recalls: list[grpc.StatusCode] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def write_forever(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            self.acknowledged.update(self._ingest_until_stored(number))

    def _ingest_until_stored(self, number: int) -> dict[str, str]:
        """One message, sent again with the same id until a server says it is stored."""
        text = f"My locker number at the gym is {number}."
        self.llm.say(text, {"content": f"Gym locker number is {number}", "category": "fact"})
        message_id = f"m-{number}"
        request = pb.IngestRequest(
            user_id=USERS[number % len(USERS)],
            messages=[
                pb.MessageInput(
                    role=memory_pb2.ROLE_USER, content=text, client_message_id=message_id
                )
            ],
        )
        while True:
            try:
                reply = self.api.memory.Ingest(request, timeout=10)
            except grpc.RpcError:
                # A call fails at once while a server is down: pause rather than spin.
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            return {message_id: reply.extraction_id}

    def read_forever(self) -> None:
        while not self.stop.is_set():
            request = pb.RecallRequest(user_id=USERS[0], query="gym locker number")
            try:
                self.api.memory.Recall(request, timeout=10)
                self.recalls.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                self.recalls.append(error.code())


@pytest.fixture
def scaled(scratch: Path) -> Iterator[tuple[Stack, ScriptedLLM]]:
    with scripted_llm() as llm:
        env = {
            "MEMOIRE_LLM_MODEL": "openai/scripted-extractor",
            "MEMOIRE_LLM_API_BASE": llm.url,
            "MEMOIRE_LLM_API_KEY": "test-key",
            "MEMOIRE_SWEEP_EVERY_SECONDS": "2",
            "MEMOIRE_SWEEP_AFTER_SECONDS": "5",
        }
        stack = start_stack(
            scratch / f"scaled-{uuid.uuid4().hex[:6]}", "--servers", "2", "--workers", "2", env=env
        )
        try:
            yield stack, llm
        finally:
            stop_stack(stack)


def child_pid(stack: Stack, marker: str) -> int | None:
    found = [pid for pid, line in children(stack.proc.pid).items() if marker in line]
    return found[0] if len(found) == 1 and running(found[0]) else None


def replaced(stack: Stack, marker: str, before: int) -> Callable[[], int | None]:
    def probe() -> int | None:
        now = child_pid(stack, marker)
        return now if now not in (None, before) else None

    return probe


@pytest.mark.timeout(900)
def test_killing_a_server_and_a_worker_loses_no_acknowledged_write_and_does_no_job_twice(scaled):
    stack, llm = scaled
    through_envoy = grpc.insecure_channel(stack.http.removeprefix("http://"))
    traffic = Traffic(Api(through_envoy, stack.key), llm)
    threads = [
        threading.Thread(target=traffic.write_forever, daemon=True),
        threading.Thread(target=traffic.read_forever, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(traffic.acknowledged) >= 10 or None, timeout=120)
        server = child_pid(stack, "memoire_cli.main serve")
        worker = child_pid(stack, "memoire_cli.main worker --beat")
        assert server is not None and worker is not None
        os.kill(server, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        recalls_at_kill = len(traffic.recalls)

        eventually(replaced(stack, "memoire_cli.main serve", server), timeout=180)
        eventually(replaced(stack, "memoire_cli.main worker --beat", worker), timeout=180)
        written = len(traffic.acknowledged)
        eventually(lambda: len(traffic.acknowledged) >= written + 10 or None, timeout=120)
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(30)

    api = Api(through_envoy, stack.key)
    jobs = {finished(api, job, timeout=180).state for job in traffic.acknowledged.values() if job}
    assert jobs == {SUCCEEDED}
    assert len(traffic.recalls) > recalls_at_kill
    assert set(traffic.recalls) == {grpc.StatusCode.OK}
    stored = asyncio.run(what_was_stored(stack, list(traffic.acknowledged)))
    assert stored.messages == dict.fromkeys(traffic.acknowledged, 1)
    # One fact per message, from one run of its job: a second run would have added a fact or
    # an event (restated, merged) under the same extraction.
    assert stored.facts == {f"Gym locker number is {m[2:]}": 1 for m in traffic.acknowledged}
    assert set(stored.events_per_job.values()) == {1}
    through_envoy.close()


@dataclass
class Stored:
    messages: dict[str, int]
    facts: dict[str, int]
    events_per_job: dict[str, int]


async def what_was_stored(stack: Stack, message_ids: list[str]) -> Stored:
    engine = create_async_engine(stack_database_url(stack))
    try:
        async with engine.connect() as db:
            messages = await db.execute(
                text(
                    "SELECT client_message_id, count(*) FROM messages "
                    "WHERE client_message_id = ANY(:ids) GROUP BY 1"
                ),
                {"ids": message_ids},
            )
            facts = await db.execute(
                text("SELECT content, count(*) FROM memories WHERE kind = 'fact' GROUP BY 1")
            )
            events = await db.execute(
                text(
                    "SELECT e.extraction_id, count(*) FROM memory_events e "
                    "JOIN messages m ON m.extraction_id = e.extraction_id "
                    "WHERE m.client_message_id = ANY(:ids) GROUP BY 1"
                ),
                {"ids": message_ids},
            )
            return Stored(
                {r[0]: r[1] for r in messages},
                {r[0]: r[1] for r in facts},
                {str(r[0]): r[1] for r in events},
            )
    finally:
        await engine.dispose()


def stack_database_url(stack: Stack) -> str:
    """The Postgres URL `memoire up` announced."""
    found = re.search(r"Postgres:\s+(\S+)", stack.banner)
    assert found, stack.banner
    return found.group(1)
