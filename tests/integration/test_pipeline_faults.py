"""No lost work: a killed worker or a Redis outage loses no extraction and duplicates no fact."""

import time

from memoire.v1 import memory_pb2
from memoire.v1 import memory_service_pb2 as pb

from tests.integration.pipeline import facts, finished, pipeline, said  # noqa: F401

SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
RUNNING = memory_pb2.EXTRACTION_STATE_RUNNING
PENDING = memory_pb2.EXTRACTION_STATE_PENDING


def state(api, extraction_id: str) -> int:
    job = api.memory.GetExtraction(pb.GetExtractionRequest(extraction_id=extraction_id))
    return int(job.extraction.state)


def test_a_worker_killed_mid_extraction_is_replaced_and_the_job_completes_once(pipeline):
    api = pipeline.api()
    text = "I am training for the Boston marathon."
    pipeline.llm.say(
        text,
        {"content": "Training for the Boston marathon", "slot": "goal", "value": "Boston marathon"},
        delay=4.0,
    )
    job_id = said(api, "u1", text).extraction_id
    deadline = time.monotonic() + 60
    while state(api, job_id) != RUNNING:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)

    pipeline.worker.kill()
    pipeline.llm.say(
        text,
        {"content": "Training for the Boston marathon", "slot": "goal", "value": "Boston marathon"},
    )
    pipeline.worker.start()
    job = finished(api, job_id, timeout=90)

    assert job.state == SUCCEEDED
    assert job.attempts == 2
    assert [f.content for f in facts(api, "u1")] == ["Training for the Boston marathon"]


def test_jobs_queued_while_redis_is_down_all_run_once_it_is_back(pipeline):
    api = pipeline.api()
    texts = [f"My favourite number is {n}." for n in (3, 7, 11)]
    for n, text in zip((3, 7, 11), texts, strict=True):
        pipeline.llm.say(
            text, {"content": f"Favourite number is {n}", "category": "preference", "value": str(n)}
        )

    pipeline.redis.stop()
    try:
        replies = [said(api, "u1", text) for text in texts]
        assert all(r.extraction_state == PENDING for r in replies)
        assert all(state(api, r.extraction_id) == PENDING for r in replies)
    finally:
        pipeline.redis.start()

    jobs = [finished(api, r.extraction_id, timeout=90) for r in replies]

    assert [j.state for j in jobs] == [SUCCEEDED] * 3
    assert sorted(f.content for f in facts(api, "u1")) == [
        "Favourite number is 11",
        "Favourite number is 3",
        "Favourite number is 7",
    ]
