"""Recall per history size: users holding 100, 1,000 or 10,000 LoCoMo-like turns.

Ranking cost grows with how much a user holds (their rows are read, their vectors ranked), so
one figure over uniform users hides what a user with a long history feels. Each size is
measured like the main Recall: through the server, beside the same ranking SQL sent straight
to Postgres for the same users.
"""

import random
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from memoire_bench import corpus, phases, turns
from memoire_bench.levels import Levels
from memoire_core.ports import Embedder
from memoire_core.services.recall import Ranking

QUESTIONS = 64


def questions(seed: int, n: int = QUESTIONS) -> list[str]:
    """``n`` distinct Recall queries about LoCoMo-like histories."""
    talk = turns.Turns(seed, "questions")
    out: dict[str, None] = {}
    for _ in range(n * 20):
        if len(out) >= n:
            break
        out[talk.question()] = None
    return list(out)


def _ratio(recall: dict[str, Any], sql: dict[str, Any]) -> dict[str, float]:
    return {
        level: round(s["p50_ms"] / sql[level]["p50_ms"], 2)
        for level, s in recall.items()
        if sql[level]["p50_ms"] > 0
    }


async def measure(
    levels: Levels,
    client: phases.Client,
    sql_pool: asyncpg.Pool,
    dsn: str,
    embedder: Embedder,
    groups: dict[int, int],
    seed: int,
    ranking: Ranking,
) -> dict[str, Any]:
    """Recall and its ranking-SQL floor, per level, for the users of each history size."""
    asked = questions(seed)
    vectors, _ = await phases.embed_questions(embedder, asked)
    levels.advance()
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload
    out: dict[str, Any] = {}
    for size, users in groups.items():
        names = tuple(corpus.history_external_id(size, n) for n in range(users))
        work = phases.Workload(users, asked, [], rng, names)
        queries = await phases.ranking_queries(dsn, work, vectors, embedder, ranking)
        sql = await levels.run(
            phases.ranking_sql_call(sql_pool, queries, rng), "history", str(size), "ranking_sql"
        )
        recall = await levels.run(phases.recall_call(client, work), "history", str(size), "recall")
        out[str(size)] = {
            "users": users,
            "recall": recall,
            "ranking_sql": sql,
            "recall_over_ranking_sql": _ratio(recall, sql),
        }
    return out
