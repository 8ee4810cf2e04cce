"""Fixtures for the intelligence pipeline: a server with an LLM configured, a real Celery
worker process, its own Redis, and a scripted OpenAI-compatible provider."""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import SecretStr

from memoire_core.services.accounts import create_app_with_key
from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from memoire_server.app import Running, start
from memoire_stack import services as localstack
from tests.integration.conftest import Api, LoopThread, make_settings
from tests.integration.helpers import BIN, timestamp
from tests.integration.scripted_llm import ScriptedLLM, scripted_llm

FINAL = {
    memory_pb2.EXTRACTION_STATE_SUCCEEDED,
    memory_pb2.EXTRACTION_STATE_FAILED,
    memory_pb2.EXTRACTION_STATE_SKIPPED,
}
MAX_RETRIES = 2


class Worker:
    """A ``memoire worker --beat`` process that tests may kill and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "memoire"), "worker", "--beat"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                # A group of its own: the embedded beat is a child process, and a killed
                # worker must take it along, as a crashed container would.
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process is not None:
            # Whatever of the group outlived the worker (a beat child) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Pipeline:
    """The pipeline's parts, for tests to drive."""

    running: Running
    loop: LoopThread
    llm: ScriptedLLM
    redis: localstack.LocalRedis
    worker: Worker
    channel: grpc.Channel

    def api(self) -> Api:
        async def make() -> str:
            async with self.running.app.sessions() as db, db.begin():
                new = await create_app_with_key(
                    db, self.running.app.server_secret, f"app-{uuid.uuid4()}", "pipeline"
                )
            return new.secret

        return Api(self.channel, self.loop.run(make()))


@pytest.fixture(scope="module")
def pipeline(
    database_url: str, embedder: Any, loop_thread: LoopThread, scratch: Path
) -> Iterator[Pipeline]:
    redis = localstack.LocalRedis(scratch / f"redis-{uuid.uuid4().hex[:6]}")
    redis.start()
    with scripted_llm() as llm:
        settings = make_settings(
            database_url,
            redis.url,
            llm_model="openai/scripted-extractor",
            llm_api_base=llm.url,
            llm_api_key=SecretStr("test-key"),
        )
        running = loop_thread.run(start(settings, embedder))
        env = {
            **os.environ,
            "MEMOIRE_DATABASE_URL": database_url,
            "MEMOIRE_REDIS_URL": redis.url,
            "MEMOIRE_SECRET_KEY": settings.secret_key.get_secret_value(),
            "MEMOIRE_DATA_DIR": str(scratch / "pipeline-worker"),
            "MEMOIRE_VECTOR_INDEX": settings.vector_index,
            "MEMOIRE_LLM_MODEL": settings.llm_model,
            "MEMOIRE_LLM_API_BASE": llm.url,
            "MEMOIRE_LLM_API_KEY": "test-key",
            "MEMOIRE_EXTRACTION_MAX_RETRIES": str(MAX_RETRIES),
            "MEMOIRE_SWEEP_EVERY_SECONDS": "1",
            "MEMOIRE_SWEEP_AFTER_SECONDS": "2",
            "MEMOIRE_EMBED_IN_SERVER": "false",
        }
        worker = Worker(env, scratch / f"worker-{uuid.uuid4().hex[:6]}.log")
        worker.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield Pipeline(running, loop_thread, llm, redis, worker, channel)
        finally:
            channel.close()
            worker.stop()
            loop_thread.run(running.stop(1.0))
            redis.stop()


def said(api: Api, user: str, text: str, when: datetime | None = None, session: str = "") -> Any:
    """Ingest one user message (said at ``when``) and return the reply."""
    message = pb.MessageInput(role=memory_pb2.ROLE_USER, content=text)
    if when is not None:
        message.create_time.CopyFrom(timestamp(when))
    return api.memory.Ingest(pb.IngestRequest(user_id=user, session_id=session, messages=[message]))


def finished(api: Api, extraction_id: str, timeout: float = 60.0) -> Any:
    """Wait until an extraction reaches a final state and return it."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.memory.GetExtraction(pb.GetExtractionRequest(extraction_id=extraction_id))
        if job.extraction.state in FINAL:
            return job.extraction
        assert time.monotonic() < deadline, f"extraction still {job.extraction.state}"
        time.sleep(0.05)


def facts(api: Api, user: str, slot: str = "", current_only: bool = False) -> list[Any]:
    """The user's facts, oldest first."""
    found = api.memory.ListMemories(
        pb.ListMemoriesRequest(
            user_id=user,
            kind=memory_pb2.MEMORY_KIND_FACT,
            slot=slot,
            current_view_only=current_only,
            page_size=500,
        )
    ).memories
    return list(reversed(found))
