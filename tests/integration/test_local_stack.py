"""`memoire up` runs the whole service from nothing and keeps its data between runs."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def start_stack(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "MEMOIRE_DATA_DIR": str(data_dir)}
    for name in ("MEMOIRE_DATABASE_URL", "MEMOIRE_REDIS_URL", "MEMOIRE_SECRET_KEY"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(BIN / "memoire"), "up", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    seen = ""
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while "Stop with Ctrl-C" not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"memoire up did not come up; printed:\n{seen}")
        seen += proc.stdout.readline()
    target = re.search(r"gRPC:\s+(\S+)", seen)
    key = re.search(r"API key:\s+(\S+)", seen)
    assert target and key, seen
    return proc, target.group(1), key.group(1)


def stop_stack(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(60)


def cli(*args: str, target: str, key: str) -> Any:
    out = subprocess.run(
        [str(BIN / "memoire"), *args, "--target", target, "--api-key", key],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_memoire_up_serves_ingest_and_recall_and_keeps_data_across_restarts(scratch):
    data_dir = scratch / "stack"
    proc, target, key = start_stack(data_dir)
    try:
        stored = cli("ingest", "user-123", "I live in Austin, Texas now.", target=target, key=key)
        assert len(stored["message_ids"]) == 1
        found = cli("recall", "user-123", "Where do I live? Austin", target=target, key=key)
        assert found["hits"][0]["memory"]["content"] == "I live in Austin, Texas now."
    finally:
        assert stop_stack(proc) == 0

    proc, target, same_key = start_stack(data_dir)
    try:
        assert same_key == key
        found = cli("recall", "user-123", "Austin", target=target, key=key)
        assert found["hits"][0]["memory"]["content"] == "I live in Austin, Texas now."
    finally:
        assert stop_stack(proc) == 0
