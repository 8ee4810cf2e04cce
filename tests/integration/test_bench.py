"""`memoire bench` measures every call against its floor and writes JSON and Markdown.

A tiny corpus and short levels keep this quick; the figures themselves are never judged here
(tests do not assert on time), only that each one was measured and is coherent.
"""

import json
import re
import subprocess
from typing import Any

import pytest

from memoire_bench import steady
from tests.integration.helpers import BIN

LEVELS = ("1", "4")
HISTORY = {"100": 2, "1000": 1, "10000": 1}


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
            "--history-sizes=100,1000,10000",
            "--history-users=2,1,1",
            "--ingest-rate=5",
            "--steady-seconds=2",
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
    assert_history(results)
    assert_steady(results["steady_ingest"])
    assert_cpu(results["cpu_per_call"])
    assert len(results["targets"]) == 6
    assert all(t["measured"] is not None for t in results["targets"])

    page = (out / "2k.md").read_text()
    for row in ("| recall | 1 |", "| ingest | 4 |", "| floor: ranking_sql | 4 |"):
        assert row in page
    for section in ("Recall / ranking SQL", "episode recallable", "facts visible", "| target |"):
        assert section in page
    for section in (
        "| history |",
        "| 10,000 | 1 | 4 |",
        "found by vector",
        "| history 100: recall | 1 |",
    ):
        assert section in page, section
    assert done.stdout.strip().startswith("# Mémoire benchmark")
    assert "found by vector" in done.stdout


def assert_history(results: dict[str, Any]) -> None:
    assert results["corpus"]["history"] == HISTORY
    assert results["corpus"]["history_memories"] == 100 * 2 + 1000 + 10000
    assert set(results["history"]) == set(HISTORY)
    for size, group in results["history"].items():
        assert group["users"] == HISTORY[size]
        for call in ("recall", "ranking_sql"):
            for level in LEVELS:
                assert_measured(group[call][level], f"{call} of {size} at {level}")
        assert set(group["recall_over_ranking_sql"]) == set(LEVELS)


def assert_steady(s: dict[str, Any]) -> None:
    assert s["target_per_s"] == 5 and s["achieved_per_s"] > 0 and s["window_s"] > 0
    assert_measured(s["ingest"], "steady ingest replies")
    assert s["vector_found"]["calls"] == 3
    assert_measured(s["vector_found"], "found by vector")
    assert s["probe_recalls"] >= s["vector_found"]["calls"]
    assert 0 <= s["owed_start"] <= s["owed_max"] and 0 <= s["owed_end"] <= s["owed_max"]
    assert s["drain_s"] >= 0


def assert_cpu(cpu: dict[str, Any]) -> None:
    levels = [
        *(cpu["rpc"][call] for call in ("recall", "conscious", "ingest")),
        *(cpu["floor"][name] for name in ("empty_call", "ranking_sql")),
        *(cpu["history"][size][call] for size in HISTORY for call in ("recall", "ranking_sql")),
    ]
    for by_level in levels:
        assert set(by_level) == set(LEVELS)
        for c in by_level.values():
            assert c["calls"] > 0 and c["client_ms"] > 0
            assert c["server_ms"] > 0 or c["postgres_ms"] > 0
    # Every RPC runs in the server; every ranking query runs in Postgres.
    for by_level in (cpu["rpc"]["recall"], cpu["history"]["10000"]["recall"]):
        assert all(c["server_ms"] > 0 and c["postgres_ms"] > 0 for c in by_level.values())
    for by_level in (cpu["floor"]["ranking_sql"], cpu["history"]["100"]["ranking_sql"]):
        assert all(c["postgres_ms"] > 0 for c in by_level.values())
    assert cpu["floor"]["query_embedding"]["client_ms"] > 0
    for span in ("window", "with_drain"):
        c = cpu["steady_ingest"][span]
        assert c["calls"] > 0 and c["server_ms"] > 0 and c["postgres_ms"] > 0


def test_paraphrase_probes_share_no_word_with_their_turns() -> None:
    """Only the vector ranking can find a probe's turn from its question."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z]+", text.lower()))

    for turn, question in steady.PARAPHRASES:
        assert not words(turn) & words(question), (turn, question)
