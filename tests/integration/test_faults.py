"""Faults under load: a crashed or frozen Postgres, a restarted Redis and a misbehaving model
provider lose no acknowledged message, store no fact twice and leave every extraction in a
final state; calls fail fast or by their deadline, never later; health follows each outage.

The module runs a Mémoire of its own (Postgres, Redis, server, worker and scripted model), so
it can break any part of it without disturbing other tests.
"""

import contextlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pydantic import SecretStr

from memoire_cli import migrate
from memoire_core.config import Settings
from memoire_core.services.accounts import create_app_with_key
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server.app import Running, start
from memoire_stack import services as localstack
from tests.integration.conftest import Api, LoopThread, make_settings
from tests.integration.helpers import eventually, failure_of, listed, user_message
from tests.integration.pipeline import Worker, facts, finished, said
from tests.integration.scripted_llm import ScriptedLLM, scripted_llm

SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
FAILED = memory_pb2.EXTRACTION_STATE_FAILED
CREATED = memory_pb2.MEMORY_EVENT_TYPE_CREATED
EPISODE = memory_pb2.MEMORY_KIND_EPISODE
OK = grpc.StatusCode.OK
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

LLM_TIMEOUT = 3.0
RETRIES = 2
# How late past its deadline a call may be seen to return: thread scheduling on a busy
# machine, not server time (the client enforces the deadline itself).
SLACK = 1.0
# Off in other tests' servers; here as shipped, so that a Redis outage meets the rate limiter.
SHIPPED_LIMITS = (
    "auth_failures_per_minute",
    "rate_limit_reads_per_second",
    "rate_limit_writes_per_second",
    "rate_limit_streams_per_second",
)


@dataclass
class Stack:
    """The parts of this module's Mémoire, for tests to drive and break."""

    running: Running
    loop: LoopThread
    llm: ScriptedLLM
    postgres: localstack.LocalPostgres
    redis: localstack.LocalRedis
    worker: Worker
    channel: grpc.Channel

    def api(self) -> Api:
        """The API as a fresh app sees it."""
        return Api(self.channel, self._new_key())

    @contextlib.contextmanager
    def unmetered_api(self) -> Iterator[Api]:
        """The API of a second server on the same storage whose calls never touch Redis before
        they are answered: no rate limits."""
        off = dict.fromkeys(SHIPPED_LIMITS, 0)
        settings = self.running.app.settings.model_copy(update=off)
        running = self.loop.run(start(settings, self.running.app.embedder))
        try:
            with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                yield Api(channel, self._new_key())
        finally:
            self.loop.run(running.stop(1.0))

    def _new_key(self) -> str:
        async def make() -> str:
            async with self.running.app.sessions() as db, db.begin():
                new = await create_app_with_key(
                    db, self.running.app.server_secret, f"app-{uuid.uuid4()}", "faults"
                )
            return new.secret

        return self.loop.run(make())


def worker_env(
    stack_dir: Path, database_url: str, redis_url: str, secret: str, llm: str
) -> dict[str, str]:
    """A worker with a short model timeout, few retries and a quick sweeper."""
    return {
        **os.environ,
        "MEMOIRE_DATABASE_URL": database_url,
        "MEMOIRE_REDIS_URL": redis_url,
        "MEMOIRE_SECRET_KEY": secret,
        "MEMOIRE_DATA_DIR": str(stack_dir / "worker"),
        "MEMOIRE_VECTOR_INDEX": "none",
        "MEMOIRE_LLM_MODEL": "openai/scripted-extractor",
        "MEMOIRE_LLM_API_BASE": llm,
        "MEMOIRE_LLM_API_KEY": "test-key",
        "MEMOIRE_LLM_TIMEOUT_SECONDS": str(LLM_TIMEOUT),
        "MEMOIRE_EXTRACTION_MAX_RETRIES": str(RETRIES),
        "MEMOIRE_SWEEP_EVERY_SECONDS": "1",
        "MEMOIRE_SWEEP_AFTER_SECONDS": "3",
        "MEMOIRE_EMBED_IN_SERVER": "false",
    }


@pytest.fixture(scope="module")
def stack(scratch: Path, embedder: Any, loop_thread: LoopThread) -> Iterator[Stack]:
    home = scratch / f"faults-{uuid.uuid4().hex[:6]}"
    postgres = localstack.LocalPostgres(home / "pg", database="memoire_faults")
    redis = localstack.LocalRedis(home / "redis")
    with contextlib.ExitStack() as cleanup:
        url = postgres.start()
        cleanup.callback(postgres.stop)
        redis.start()
        cleanup.callback(redis.stop)
        llm = cleanup.enter_context(scripted_llm())
        settings = make_settings(
            url,
            redis.url,
            vector_index="none",
            llm_model="openai/scripted-extractor",
            llm_api_base=llm.url,
            llm_api_key=SecretStr("test-key"),
            health_probe_seconds=0.5,
            **{name: Settings.model_fields[name].default for name in SHIPPED_LIMITS},
        )
        secret = settings.secret_key.get_secret_value()
        worker = Worker(worker_env(home, url, redis.url, secret, llm.url), home / "worker.log")
        worker.start()  # it boots while the schema is made
        cleanup.callback(worker.stop)
        migrate.upgrade(url)
        running = loop_thread.run(start(settings, embedder))
        cleanup.callback(lambda: loop_thread.run(running.stop(1.0)))
        channel = cleanup.enter_context(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
        stack = Stack(running, loop_thread, llm, postgres, redis, worker, channel)
        # The worker loads LiteLLM on its first extraction, which takes seconds: do it now, so
        # that faults meet a worker in its stride.
        api = stack.api()
        assert (
            finished(api, said(api, "u1", "Hello.").extraction_id, timeout=120).state == SUCCEEDED
        )
        yield stack


def postmaster_pid(postgres: localstack.LocalPostgres) -> int:
    return int((postgres.data_dir / "postmaster.pid").read_text().split()[0])


def crash(postgres: localstack.LocalPostgres) -> None:
    """Stop Postgres as a crash would: SIGQUIT is an immediate shutdown (no checkpoint, so the
    next start replays the log), and every open connection drops at once."""
    os.kill(postmaster_pid(postgres), signal.SIGQUIT)
    deadline = time.monotonic() + 30
    while (postgres.data_dir / "postmaster.pid").exists():
        assert time.monotonic() < deadline, "Postgres did not stop"
        time.sleep(0.05)
    postgres.stop()  # forget the dead server; start() runs a new one on the same data


@contextlib.contextmanager
def frozen(postgres: localstack.LocalPostgres) -> Iterator[None]:
    """Stop every Postgres process in its tracks (SIGSTOP), as a stalled disk or a network
    partition would: connections stay open and nothing answers."""
    postmaster = postmaster_pid(postgres)
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@dataclass
class Call:
    """One Ingest attempt as the client saw it."""

    text: str
    client_id: str
    seconds: float
    code: grpc.StatusCode
    reason: str = ""
    retry_delay: float | None = None
    reply: Any = None


class IngestLoad:
    """Ingests numbered messages one after another on a thread of its own, as a careful client
    does: a message that failed is sent again, with the same client message id, until it is
    acknowledged. Each message has a scripted fact."""

    def __init__(self, llm: ScriptedLLM, api: Api, user: str, deadline: float) -> None:
        self.llm = llm
        self.api = api
        self.user = user
        self.deadline = deadline
        self.calls: list[Call] = []
        self.fact_of: dict[str, str] = {}
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "IngestLoad":
        self._thread.start()
        return self

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        """Stop once the message in hand is acknowledged (at once if the test failed)."""
        (self._abandon if error else self._stop).set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the last message was never acknowledged"

    @property
    def acked(self) -> list[Call]:
        return [c for c in self.calls if c.code == OK]

    @property
    def failed(self) -> list[Call]:
        return [c for c in self.calls if c.code != OK]

    def wait(self, *, acked: int = 0, failed: int = 0, calls: int = 0, timeout: float = 30) -> None:
        """Until, in all, at least this many calls were acknowledged, failed and made."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < acked or len(self.failed) < failed or len(self.calls) < calls:
            assert self._thread.is_alive(), "the load stopped"
            assert time.monotonic() < deadline, (
                f"{len(self.acked)} acknowledged and {len(self.failed)} failed in {timeout}s"
            )
            time.sleep(0.05)

    def _run(self) -> None:
        n = 0
        while not self._abandon.is_set():
            text = f"Note {n}: remember the number {n * 7}."
            self.fact_of[text] = f"Remembers the number {n * 7}"
            self.llm.say(text, {"content": self.fact_of[text]})
            call = self._send(text, f"note-{n}")
            self.calls.append(call)
            if call.code == OK:
                n += 1
                if self._stop.is_set():
                    return
            time.sleep(0.05)

    def _send(self, text: str, client_id: str) -> Call:
        request = pb.IngestRequest(user_id=self.user, messages=[user_message(text, client_id)])
        began = time.monotonic()
        try:
            reply = self.api.memory.Ingest(request, timeout=self.deadline)
        except grpc.RpcError as error:
            seconds = time.monotonic() - began
            failure = failure_of(error)
            return Call(text, client_id, seconds, failure.code, failure.reason, retry_delay(error))
        return Call(text, client_id, time.monotonic() - began, OK, reply=reply)


def retry_delay(error: Any) -> float | None:
    """The wait a failed call's RetryInfo asks for, in seconds, if it has one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return None


def assert_stored_once(api: Api, user: str, load: IngestLoad) -> None:
    """Every acknowledged message is stored exactly once, and sending it again changes nothing."""
    assert Counter(m.content for m in listed(api, user, kind=EPISODE)) == Counter(
        c.text for c in load.acked
    )
    for call in load.acked:
        message = user_message(call.text, call.client_id)
        again = api.memory.Ingest(pb.IngestRequest(user_id=user, messages=[message]))
        assert again.duplicate_count == 1
        assert list(again.message_ids) == list(call.reply.message_ids)


def assert_extracted_once(api: Api, user: str, load: IngestLoad) -> None:
    """Every job reaches SUCCEEDED and each message's fact is stored once, and created once."""
    jobs = {c.reply.extraction_id for c in load.acked}
    assert [finished(api, job).state for job in jobs] == [SUCCEEDED] * len(jobs)
    stored = facts(api, user)
    assert Counter(f.content for f in stored) == Counter(load.fact_of[c.text] for c in load.acked)
    for fact in stored:
        history = api.memory.GetMemoryHistory(pb.GetMemoryHistoryRequest(memory_id=fact.id))
        assert [e.type for e in history.events] == [CREATED]


def failures(load: IngestLoad) -> Counter[tuple[str, str]]:
    return Counter((c.code.name, c.reason) for c in load.failed)


# Each fault once, then the scripted answer. Prose or cut-off JSON counts as transient too:
# another attempt usually gives JSON.
TRANSIENT: dict[str, dict[str, Any]] = {
    "rate limited (429)": {"status": 429},
    "server error (500)": {"status": 500},
    "timeout": {"stall": LLM_TIMEOUT + 2},
    "cut-off JSON": {"content": '{"facts": [{"content": "Has a dog'},
}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("fault", TRANSIENT)
def test_a_transient_provider_fault_is_retried_and_the_facts_are_stored_once(stack, fault):
    api = stack.api()
    text = f"My dog is called Rex ({fault})."
    stack.llm.say(text, {"content": "Has a dog named Rex", "slot": "pet", "value": "Rex"})
    stack.llm.trouble(text, times=1, **TRANSIENT[fault])

    job = finished(api, said(api, "u1", text).extraction_id)

    assert job.state == SUCCEEDED
    assert job.attempts == 2
    [fact] = facts(api, "u1")
    assert fact.content == "Has a dog named Rex"
    assert [f.id for f in job.facts] == [fact.id]


@pytest.mark.timeout(150)
def test_a_model_that_never_answers_json_fails_the_job_with_the_reason_and_stores_nothing(stack):
    api = stack.api()
    text = "I play the cello in an orchestra."
    stack.llm.say(text, {"content": "Plays the cello", "slot": "skill", "value": "cello"})
    cut_off = '{"facts": [{"content": "Plays the cello", "slot": "skill"'
    stack.llm.trouble(text, times=RETRIES + 1, content=cut_off)

    job = finished(api, said(api, "u1", text).extraction_id)

    assert job.state == FAILED
    assert "did not answer with JSON" in job.reason
    assert job.attempts == RETRIES + 1
    assert list(job.facts) == []
    assert facts(api, "u1") == []


class HealthWatch:
    """The statuses one health name streams over ``Watch``, gathered on a thread of its own."""

    def __init__(self, channel: grpc.Channel, service: str) -> None:
        request = health_pb2.HealthCheckRequest(service=service)
        self._call: Any = health_pb2_grpc.HealthStub(channel).Watch(request, timeout=120)
        self.seen: list[int] = []
        self._thread = threading.Thread(target=self._gather, daemon=True)
        self._thread.start()

    def _gather(self) -> None:
        with contextlib.suppress(grpc.RpcError):  # cancelled when the test is done
            for reply in self._call:
                self.seen.append(reply.status)

    def wait_for(self, status: int) -> None:
        """Until the stream has told ``status`` since it was opened."""
        eventually(lambda: status in self.seen, timeout=30)

    def wait_for_last(self, status: int) -> None:
        """Until ``status`` is the last the stream has told."""
        eventually(lambda: self.seen[-1:] == [status], timeout=30)

    def close(self) -> list[int]:
        """Stop watching; every status the stream told, in order."""
        self._call.cancel()
        self._thread.join(10)
        return self.seen


def health(channel: grpc.Channel, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status)


WRITERS = 4


@pytest.mark.timeout(200)
@pytest.mark.parametrize("metered", [True, False], ids=["writes metered in Redis", "unmetered"])
def test_concurrent_ingest_flows_through_a_redis_outage_and_every_job_finishes_once(stack, metered):
    """With Redis gone, the rate limits fall back to each process's own buckets, messages are
    stored and acknowledged as usual, and their extraction waits in Postgres for the sweeper.
    Health tells the outage apart: the services stay SERVING, memoire.redis does not."""
    deadline = 5.0
    with contextlib.ExitStack() as servers:
        if metered:  # a key each, so a bucket each
            apis = [stack.api() for _ in range(WRITERS)]
        else:
            apis = [servers.enter_context(stack.unmetered_api())] * WRITERS
        redis_health = HealthWatch(stack.channel, "memoire.redis")
        with contextlib.ExitStack() as running:
            loads = [
                running.enter_context(IngestLoad(stack.llm, api, f"u{i}", deadline))
                for i, api in enumerate(apis)
            ]
            for load in loads:
                load.wait(acked=5)
            stack.redis.stop()
            try:
                redis_health.wait_for(NOT_SERVING)
                assert health(stack.channel, "") == SERVING
                assert health(stack.channel, "memoire.v1.MemoryService") == SERVING
                for load in loads:
                    load.wait(acked=len(load.acked) + 3)
            finally:
                stack.redis.start()
            for load in loads:
                load.wait(acked=len(load.acked) + 2)
        # Every load has stopped, its last message acknowledged.
        redis_health.wait_for_last(SERVING)
        assert redis_health.close() == [SERVING, NOT_SERVING, SERVING]

        for i, (api, load) in enumerate(zip(apis, loads, strict=True)):
            assert failures(load) == Counter()
            assert max(c.seconds for c in load.calls) < deadline + SLACK
            assert_stored_once(api, f"u{i}", load)
            assert_extracted_once(api, f"u{i}", load)


@pytest.mark.timeout(150)
def test_health_follows_a_postgres_crash_and_recovers_without_a_restart(stack):
    api = stack.api()
    watches = {name: HealthWatch(stack.channel, name) for name in ("", "memoire.v1.MemoryService")}
    for watch in watches.values():
        watch.wait_for(SERVING)

    crash(stack.postgres)
    try:
        for watch in watches.values():
            watch.wait_for(NOT_SERVING)
        assert health(stack.channel, "memoire.postgres") == NOT_SERVING
        recall = pb.RecallRequest(user_id="u1", query="anything")
        assert failure_of_call(lambda: api.memory.Recall(recall, timeout=5)) == "UNAVAILABLE"
    finally:
        stack.postgres.start()

    for name, watch in watches.items():
        watch.wait_for_last(SERVING)
        assert watch.close() == [SERVING, NOT_SERVING, SERVING], name
    api.memory.Recall(pb.RecallRequest(user_id="u1", query="anything"), timeout=5)


def failure_of_call(call: Any) -> str:
    """The status code name of a call that must fail."""
    try:
        call()
    except grpc.RpcError as error:
        return str(failure_of(error).code.name)
    raise AssertionError("the call succeeded")


@pytest.mark.timeout(150)
def test_a_frozen_postgres_holds_no_call_past_its_deadline_and_the_server_heals(stack):
    api = stack.api()
    deadline = 2.0
    with IngestLoad(stack.llm, api, "u1", deadline) as load:
        load.wait(acked=5)
        with frozen(stack.postgres):
            load.wait(failed=2)
        load.wait(acked=len(load.acked) + 5)

    assert set(failures(load)) <= {("DEADLINE_EXCEEDED", ""), ("UNAVAILABLE", "UNAVAILABLE")}
    assert max(c.seconds for c in load.calls) < deadline + SLACK
    assert_stored_once(api, "u1", load)
    assert_extracted_once(api, "u1", load)


@pytest.mark.timeout(150)
def test_a_postgres_crash_fails_calls_fast_and_the_same_server_serves_again(stack):
    api = stack.api()
    deadline = 2.0
    with IngestLoad(stack.llm, api, "u1", deadline) as load:
        load.wait(acked=5)
        crash(stack.postgres)
        load.wait(failed=3)
        stack.postgres.start()
        load.wait(acked=len(load.acked) + 5)

    # UNAVAILABLE comes from the server, so before the deadline: nothing waited it out.
    assert set(failures(load)) == {("UNAVAILABLE", "UNAVAILABLE")}, failures(load)
    assert {c.retry_delay for c in load.failed} == {1.0}
    assert max(c.seconds for c in load.calls) < deadline + SLACK
    assert_stored_once(api, "u1", load)
    assert_extracted_once(api, "u1", load)
