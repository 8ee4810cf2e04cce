"""Calls to Mémoire through the SDK with one app key: ingest a conversation, recall a question."""

import time
from collections import defaultdict
from typing import Any

from memoire import MemoireClient

from memoire_eval.locomo import Sample, Turn
from memoire_eval.report import progress
from memoire_eval.scoring import RECALL_LIMIT

BATCH = 100  # the server's default limit of messages per Ingest
TIMEOUT_SECONDS = 60.0  # each call's deadline (the SDK's default is 10 s)


class Client:
    """The SDK's blocking client, and what the evaluation asks of it."""

    def __init__(self, target: str, key: str) -> None:
        self.sdk = MemoireClient(key, target, timeout=TIMEOUT_SECONDS)

    def close(self) -> None:
        self.sdk.close()

    def ingest(self, user_id: str, sample: Sample) -> dict[str, str]:
        """Store every turn, one Ingest per session; message id -> dialog id."""
        by_session: dict[int, list[Turn]] = defaultdict(list)
        for turn in sample.turns:
            by_session[turn.session].append(turn)
        dia_of: dict[str, str] = {}
        done = 0
        for n, turns in sorted(by_session.items()):
            for start in range(0, len(turns), BATCH):
                batch = turns[start : start + BATCH]
                reply = self.sdk.ingest(
                    user_id,
                    [
                        {
                            "role": "user",
                            "content": t.content,
                            "client_message_id": t.dia_id,
                            "create_time": t.said_at,
                            "metadata": {"dia_id": t.dia_id, "speaker": t.speaker},
                        }
                        for t in batch
                    ],
                    session_id=f"session_{n}",
                )
                dia_of.update(zip(reply.message_ids, (t.dia_id for t in batch), strict=True))
                done += len(batch)
                progress(f"ingest {sample.sample_id}", done, len(sample.turns))
        return dia_of

    def recall(self, user_id: str, query: str, limit: int = RECALL_LIMIT) -> tuple[Any, float]:
        """The hits and the call's latency in seconds."""
        started = time.perf_counter()
        reply = self.sdk.recall(user_id, query, limit=limit)
        return reply.hits, time.perf_counter() - started

    def embedded(self, user_id: str, turn: Turn, dia_of: dict[str, str]) -> bool:
        """Whether the vector ranking already finds this turn (its own text as the query)."""
        hits, _ = self.recall(user_id, turn.content, 20)
        return any(
            h.score.vector > 0 and dia_of.get(m) == turn.dia_id
            for h in hits
            for m in h.memory.source_message_ids
        )
