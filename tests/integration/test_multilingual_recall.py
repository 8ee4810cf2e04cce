"""Recall understands the language a user speaks: a question finds its answer by meaning,
in French and in Japanese, where no word of the question appears in the answer."""

import pytest

from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.helpers import eventually, ingest

UNRELATED = (
    "The quarterly budget review is on Thursday afternoon.",
    "My sister plays the cello in an orchestra.",
    "We painted the kitchen a pale shade of green.",
    "The train to the airport was delayed by an hour.",
)


def best_by_meaning(api, user: str, query: str) -> str | None:
    """The top hit's text once the vector ranking has found it, else None (not yet embedded)."""
    hits = api.memory.Recall(pb.RecallRequest(user_id=user, query=query, limit=3)).hits
    return hits[0].memory.content if hits and hits[0].score.vector > 0 else None


@pytest.mark.parametrize(
    ("said", "asked"),
    [
        ("J'habite à Lyon depuis mars, près de la Saône.", "Dans quelle ville est-ce que je vis ?"),
        ("私は東京に住んでいて、毎朝電車で通勤しています。", "どこに住んでいますか？"),
        ("Mi perro se llama Toby y le encanta correr en la playa.", "¿Cómo se llama mi mascota?"),
    ],
    ids=["french", "japanese", "spanish"],
)
def test_a_question_finds_its_answer_by_meaning_in_the_users_language(api, said, asked):
    ingest(api, "u1", said, *UNRELATED)

    assert eventually(lambda: best_by_meaning(api, "u1", asked), timeout=60) == said
