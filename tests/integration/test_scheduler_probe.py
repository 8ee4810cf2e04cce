"""The compose `scheduler` service's health probe, run as Docker runs it, against a real
`memoire scheduler` queueing its periodic tasks through Redis."""

import subprocess
import sys
import time
from pathlib import Path

import redis
import yaml

from tests.integration.helpers import start_memoire

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "maintenance"  # where the scheduler queues the sweep
REDIS_DB = 7  # a database of its own: no other test's worker takes the sweep it queues


def probe_passes() -> bool:
    """Run the exact healthcheck of docker-compose.yml; whether it exits 0."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    test = compose["services"]["scheduler"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    done = subprocess.run([sys.executable, *test[2:]], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def test_the_scheduler_probe_passes_only_while_the_scheduler_runs(
    database_url, redis_server, scratch
):
    url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    broker = redis.Redis.from_url(url)
    broker.delete(QUEUE)
    assert not probe_passes()

    # The console script, as the compose service's command runs it.
    scheduler = start_memoire(
        ["scheduler"], database_url, url, scratch / "scheduler", sweep_every_seconds="1"
    )
    try:
        deadline = time.monotonic() + 120
        while broker.llen(QUEUE) == 0:
            assert scheduler.poll() is None, "the scheduler exited"
            assert time.monotonic() < deadline, "the scheduler queued no sweep"
            time.sleep(0.2)
        assert probe_passes()
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert not probe_passes()
    broker.delete(QUEUE)
    broker.close()
