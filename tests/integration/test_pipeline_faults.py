"""No lost work: a killed worker or a Redis outage loses no extraction and duplicates no fact."""

import time

import pytest

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.helpers import listed
from tests.integration.pipeline import facts, finished, pipeline, said  # noqa: F401

SUCCEEDED = memory_pb2.EXTRACTION_STATE_SUCCEEDED
RUNNING = memory_pb2.EXTRACTION_STATE_RUNNING
PENDING = memory_pb2.EXTRACTION_STATE_PENDING


def state(api, extraction_id: str) -> int:
    job = api.memory.GetExtraction(pb.GetExtractionRequest(extraction_id=extraction_id))
    return int(job.extraction.state)


@pytest.mark.timeout(150)
def test_a_worker_killed_mid_extraction_is_replaced_and_every_job_completes_once(pipeline):
    api = pipeline.api()
    text = "I am training for the Boston marathon."
    marathon = {"content": "Training for the Boston marathon", "slot": "goal", "value": "Boston"}
    pipeline.llm.say(text, marathon, delay=4.0)
    queued = ["My sister is called Inês.", "I work night shifts."]
    pipeline.llm.say(queued[0], {"content": "Has a sister named Inês"})
    pipeline.llm.say(queued[1], {"content": "Works night shifts"})
    job_id = said(api, "u1", text).extraction_id
    deadline = time.monotonic() + 60
    while state(api, job_id) != RUNNING:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)
    behind = [said(api, "u1", t).extraction_id for t in queued]  # waiting in Redis

    pipeline.worker.kill()
    pipeline.llm.say(text, marathon)
    pipeline.worker.start()
    job = finished(api, job_id, timeout=90)
    others = [finished(api, j, timeout=60) for j in behind]

    assert job.state == SUCCEEDED
    assert job.attempts == 2
    assert [o.state for o in others] == [SUCCEEDED, SUCCEEDED]
    assert sorted(f.content for f in facts(api, "u1")) == [
        "Has a sister named Inês",
        "Training for the Boston marathon",
        "Works night shifts",
    ]
    episodes = listed(api, "u1", kind=memory_pb2.MEMORY_KIND_EPISODE)
    assert sorted(e.content for e in episodes) == sorted([text, *queued])


@pytest.mark.timeout(150)
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
