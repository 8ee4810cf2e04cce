"""Ingest reply to facts visible: how long a new fact takes to reach GetExtraction.

Runs the embedded Postgres and Redis, the gRPC server, one real Celery worker process and an
instant scripted OpenAI-compatible provider, then ingests N messages one at a time and polls
until each extraction has SUCCEEDED. The floor is the same poll loop on an already finished
job, measured in the same run. Usage: ``.venv/bin/python bench/pipeline_latency.py [N]``.
"""

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from pydantic import SecretStr

from memoire_bench.scripted_llm import instant_llm
from memoire_cli import migrate
from memoire_core.config import Settings
from memoire_core.services.accounts import create_app_with_key
from memoire_proto.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from memoire_server.app import start
from memoire_stack import services as localstack

FINAL = {memory_pb2.EXTRACTION_STATE_SUCCEEDED, memory_pb2.EXTRACTION_STATE_FAILED}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_final(stub: Any, meta: Any, job_id: str) -> float:
    started = time.perf_counter()
    while True:
        job = stub.GetExtraction(
            memory_service_pb2.GetExtractionRequest(extraction_id=job_id), metadata=meta
        ).extraction
        if job.state in FINAL:
            assert job.state == memory_pb2.EXTRACTION_STATE_SUCCEEDED, job.reason
            return (time.perf_counter() - started) * 1000
        time.sleep(0.002)


async def main(n: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="memoire-bench-"))
    postgres = localstack.LocalPostgres(scratch / "pg", database="bench")
    postgres.start()
    url = postgres.url("bench")
    await asyncio.to_thread(migrate.upgrade, url)  # Alembic runs its own event loop
    redis = localstack.LocalRedis(scratch / "redis")
    redis.start()
    worker: subprocess.Popen[bytes] | None = None
    with instant_llm() as llm_url:
        settings = Settings(
            database_url=url,
            redis_url=redis.url,
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            grpc_port=0,
            llm_model="openai/scripted",
            llm_api_base=llm_url,
            llm_api_key=SecretStr("k"),
            vector_index="hnsw" if localstack.bundled_pgvector_can_index() else "none",
        )
        running = await start(settings)
        env = {
            **os.environ,
            "MEMOIRE_DATABASE_URL": url,
            "MEMOIRE_REDIS_URL": redis.url,
            "MEMOIRE_LLM_MODEL": settings.llm_model,
            "MEMOIRE_LLM_API_BASE": llm_url,
            "MEMOIRE_LLM_API_KEY": "k",
            "MEMOIRE_DATA_DIR": str(scratch / "worker"),
            "MEMOIRE_VECTOR_INDEX": settings.vector_index,
        }
        worker = subprocess.Popen(  # noqa: ASYNC220, S603 - our own CLI, started once
            [str(Path(sys.executable).parent / "memoire"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with running.app.sessions() as db, db.begin():
                key = await create_app_with_key(db, running.app.server_secret, "bench", "b")
            meta = (("x-api-key", key.secret),)
            channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            texts = [f"My lucky number is {i}." for i in range(n + 1)]

            def ingest(text: str) -> str:
                reply = stub.Ingest(
                    memory_service_pb2.IngestRequest(
                        user_id="bench-user",
                        messages=[
                            memory_service_pb2.MessageInput(role=memory_pb2.ROLE_USER, content=text)
                        ],
                    ),
                    metadata=meta,
                )
                return str(reply.extraction_id)

            loop = asyncio.get_running_loop()
            warm = await loop.run_in_executor(None, ingest, texts[0])
            await loop.run_in_executor(None, wait_final, stub, meta, warm)  # imports LiteLLM
            delays = []
            for text in texts[1:]:
                job_id = await loop.run_in_executor(None, ingest, text)
                delays.append(await loop.run_in_executor(None, wait_final, stub, meta, job_id))
            floor = [
                await loop.run_in_executor(None, wait_final, stub, meta, warm) for _ in range(n)
            ]
            channel.close()
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(20)
            await running.stop(1.0)
            redis.stop()
            postgres.stop()
    p50, p95 = statistics.median(delays), percentile(delays, 0.95)
    floor50 = statistics.median(floor)
    return {
        "n": n,
        "ingest_to_facts_ms": {
            "p50": round(p50, 1),
            "p95": round(p95, 1),
            "max": round(max(delays), 1),
        },
        "poll_floor_ms": {"p50": round(floor50, 2)},
        "p50_over_floor": round(p50 / floor50, 1),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(json.dumps(asyncio.run(main(count)), indent=2))
