"""Sync gRPC calls to Mémoire with one app key: ingest a conversation, recall a question."""

import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from memoire_eval.locomo import Sample, Turn
from memoire_eval.report import progress
from memoire_eval.scoring import RECALL_LIMIT
from memoire_proto.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

BATCH = 100  # the server's default limit of messages per Ingest


def _timestamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


class Client:
    """Sync gRPC calls with one app key."""

    def __init__(self, target: str, key: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = memory_service_pb2_grpc.MemoryServiceStub(self.channel)
        self.metadata = (("x-api-key", key),)

    def close(self) -> None:
        self.channel.close()

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
                reply = self.stub.Ingest(
                    memory_service_pb2.IngestRequest(
                        user_id=user_id,
                        session_id=f"session_{n}",
                        messages=[
                            memory_service_pb2.MessageInput(
                                role=memory_pb2.ROLE_USER,
                                content=t.content,
                                client_message_id=t.dia_id,
                                create_time=_timestamp(t.said_at),
                                metadata={"dia_id": t.dia_id, "speaker": t.speaker},
                            )
                            for t in batch
                        ],
                    ),
                    metadata=self.metadata,
                    timeout=60,
                )
                dia_of.update(zip(reply.message_ids, (t.dia_id for t in batch), strict=True))
                done += len(batch)
                progress(f"ingest {sample.sample_id}", done, len(sample.turns))
        return dia_of

    def recall(self, user_id: str, query: str, limit: int = RECALL_LIMIT) -> tuple[Any, float]:
        """The hits and the call's latency in seconds."""
        started = time.perf_counter()
        reply = self.stub.Recall(
            memory_service_pb2.RecallRequest(user_id=user_id, query=query, limit=limit),
            metadata=self.metadata,
            timeout=60,
        )
        return reply.hits, time.perf_counter() - started

    def embedded(self, user_id: str, turn: Turn, dia_of: dict[str, str]) -> bool:
        """Whether the vector ranking already finds this turn (its own text as the query)."""
        hits, _ = self.recall(user_id, turn.content, 20)
        return any(
            h.score.vector > 0 and dia_of.get(m) == turn.dia_id
            for h in hits
            for m in h.memory.source_message_ids
        )
