"""`memoire bench` measures every call against its floor and writes JSON and Markdown.

A tiny corpus and short levels keep this quick; the figures themselves are never judged here
(tests do not assert on time), only that each one was measured and is coherent.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
LEVELS = ("1", "4")


def assert_measured(stats: dict[str, Any], name: str) -> None:
    assert stats["calls"] > 0, name
    assert stats["errors"] == 0, (name, stats["first_error"])
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"] <= stats["max_ms"], name
    assert stats["calls_per_s"] > 0, name


# About a minute on an idle machine (Postgres, the server and a worker start); far more when
# other work shares the cores, which must not fail the suite.
@pytest.mark.timeout(900)
def test_a_tiny_bench_run_writes_every_figure_beside_its_floor(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [
            str(BIN / "memoire"),
            "bench",
            "--memories=2000",
            "--users=20",
            "--concurrency=1,4",
            "--seconds=0.5",
            "--warmup=0.1",
            "--samples=3",
            "--pool=32",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((out / "2k.json").read_text())
    assert results["corpus"]["memories"] == 2000 and results["corpus"]["users"] == 20
    for call in ("recall", "conscious", "ingest"):
        for level in LEVELS:
            assert_measured(results["rpc"][call][level], f"{call} at {level}")
    for floor in ("empty_call", "ranking_sql"):
        for level in LEVELS:
            assert_measured(results["floor"][floor][level], f"{floor} at {level}")
    assert_measured(results["floor"]["query_embedding"], "query embedding")
    for name, by_level in results["ratios"].items():
        assert set(by_level) == set(LEVELS) and all(r > 0 for r in by_level.values()), name
    for delay in ("episode_recallable", "episode_embedded", "facts_visible"):
        assert results["delays"][delay]["calls"] == 3, delay
        assert_measured(results["delays"][delay], delay)
    assert_measured(results["delays"]["get_extraction_floor"], "GetExtraction floor")
    assert results["server_rss_mb"]["peak"] >= results["server_rss_mb"]["end"] > 0
    assert len(results["targets"]) == 6
    assert all(t["measured"] is not None for t in results["targets"])

    page = (out / "2k.md").read_text()
    for row in ("| recall | 1 |", "| ingest | 4 |", "| floor: ranking_sql | 4 |"):
        assert row in page
    for section in ("Recall / ranking SQL", "episode recallable", "facts visible", "| target |"):
        assert section in page
    assert done.stdout.strip().startswith("# Mémoire benchmark")
