"""An LLM that cannot work as configured is said so when the worker starts, and its jobs fail
at once with that reason instead of being retried as if the provider were down; a local
OpenAI-compatible server (Ollama, vLLM) needs no key at all.

Each test runs a real worker process with the configuration under test, beside a server and a
Redis of its own and the session's Postgres; the model is a scripted OpenAI-protocol server.
"""

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from memoire_proto.v1 import memory_pb2
from memoire_stack import services as localstack
from tests.integration.conftest import Api, LoopThread, own_server
from tests.integration.pipeline import Worker, facts, finished, said
from tests.integration.scripted_llm import scripted_llm

SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
FAILED = memory_pb2.EXTRACTION_STATE_FAILED
PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY")
LISBON = "I live in Lisbon."

Memoire = Callable[..., AbstractContextManager[tuple[Api, Path]]]


@contextmanager
def memoire_with(
    scratch: Path, loop_thread: LoopThread, embedder, database_url: str, **llm: str
) -> Iterator[tuple[Api, Path]]:
    """A server and a worker whose LLM settings are ``llm`` (MEMOIRE_LLM_* names, lowercase,
    without the prefix) and no provider key in the environment; the API and the worker's log."""
    home = scratch / f"llm-config-{uuid.uuid4().hex[:6]}"
    redis = localstack.LocalRedis(home / "redis")
    redis.start()
    try:
        with own_server(
            loop_thread, embedder, database_url, redis.url, llm_model=llm["model"]
        ) as server:
            env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
            env.update(
                {
                    "MEMOIRE_DATABASE_URL": database_url,
                    "MEMOIRE_REDIS_URL": redis.url,
                    "MEMOIRE_SECRET_KEY": server.running.app.settings.secret_key.get_secret_value(),
                    "MEMOIRE_DATA_DIR": str(home / "worker"),
                    "MEMOIRE_VECTOR_INDEX": "none",
                    "MEMOIRE_EMBED_IN_SERVER": "false",
                    "MEMOIRE_LOG_FORMAT": "text",
                    **{f"MEMOIRE_LLM_{k.upper()}": v for k, v in llm.items()},
                }
            )
            log = home / "worker.log"
            worker = Worker(env, log)
            worker.start()
            try:
                with grpc.insecure_channel(server.target) as channel:
                    yield Api(channel, server.new_app_key()), log
            finally:
                worker.stop()
    finally:
        redis.stop()


@pytest.fixture
def memoire(scratch, loop_thread, embedder, database_url) -> Memoire:
    """``memoire(**llm)``: memoire_with, beside this session's database and embedder."""
    return functools.partial(memoire_with, scratch, loop_thread, embedder, database_url)


def first_extraction(memoire: Memoire, **llm: str) -> tuple[Any, str]:
    """The first extraction's finished job under these LLM settings, and the worker's log."""
    with memoire(**llm) as (api, log):
        job = finished(api, said(api, "u1", LISBON).extraction_id, timeout=120)
        return job, log.read_text()


@pytest.mark.timeout(150)
def test_a_missing_provider_key_is_named_at_start_and_fails_jobs_at_once(memoire):
    job, started = first_extraction(memoire, model="anthropic/claude-3-5-haiku-latest")

    assert job.state == FAILED
    assert "configuration error" in job.reason
    assert "MEMOIRE_LLM_API_KEY" in job.reason
    assert "ANTHROPIC_API_KEY" in job.reason
    assert job.attempts == 0  # never sent to the provider, never retried
    [line] = [line for line in started.splitlines() if "fact extraction cannot work" in line]
    assert "MEMOIRE_LLM_API_KEY" in line


@pytest.mark.timeout(150)
def test_a_model_no_provider_knows_fails_jobs_at_once_naming_the_setting(memoire):
    job, started = first_extraction(memoire, model="no-such-provider/some-model")

    assert job.state == FAILED
    assert "MEMOIRE_LLM_MODEL='no-such-provider/some-model'" in job.reason
    assert job.attempts == 0
    assert "MEMOIRE_LLM_MODEL" in started


@pytest.mark.timeout(150)
def test_a_local_openai_compatible_server_needs_no_key(memoire):
    with scripted_llm() as llm:
        fact = {"content": "Lives in Lisbon", "slot": "location.home", "value": "Lisbon"}
        llm.say(LISBON, fact)
        with memoire(model="openai/llama3.1", api_base=llm.url) as (api, log):
            job = finished(api, said(api, "u1", LISBON).extraction_id, timeout=120)
            stored = [f.content for f in facts(api, "u1")]
            started = log.read_text()

    assert job.state == SUCCEEDED, job.reason
    assert stored == ["Lives in Lisbon"]
    assert "fact extraction cannot work" not in started
