"""Switching the embedding model is a re-embed, not a schema change: a server started with a
new model gives every memory a vector of it in the background, and recall by meaning then
works with the new model's vectors."""

import secrets
import uuid

import grpc
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from memoire_adapters.embedding import LocalE5Embedder
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.tables import memories, memory_embeddings
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api, fresh_database, own_server
from tests.integration.helpers import eventually, ingest

QUESTION = "Which pet do I have?"


@pytest.fixture
def own_database(postgres):
    """A database of this test's own: every server on one database adopts its model."""
    return fresh_database(postgres, "model_switch")


def by_meaning(api: Api, query: str) -> str | None:
    """The top hit once the vector ranking found it (a vector of the server's model)."""
    hits = api.memory.Recall(pb.RecallRequest(user_id="u1", query=query, limit=1)).hits
    return hits[0].memory.content if hits and hits[0].score.vector > 0 else None


def models_holding(loop_thread, database_url: str, text: str):
    async def read() -> set[str]:
        engine = make_engine(database_url, pool_size=1)
        try:
            async with make_session_factory(engine)() as db:
                rows = await db.execute(
                    select(memory_embeddings.c.model)
                    .join(memories, memories.c.id == memory_embeddings.c.memory_id)
                    .where(memories.c.content == text)
                )
                return {r.model for r in rows}
        finally:
            await engine.dispose()

    return loop_thread.run(read())


def test_a_server_with_a_new_model_embeds_every_memory_again(loop_thread, embedder, own_database):
    database_url = own_database
    said = f"My cat {uuid.uuid4().hex[:6]} sleeps all day on the sofa."
    old = LocalE5Embedder(query_engines=1)
    secret = SecretStr(secrets.token_urlsafe(32))  # both servers read the same keys
    with own_server(loop_thread, old, database_url, secret_key=secret) as first:
        key = first.new_app_key()
        with grpc.insecure_channel(first.target) as channel:
            api = Api(channel, key)
            ingest(api, "u1", said, "The budget meeting is on Thursday.")
            assert eventually(lambda: by_meaning(api, QUESTION), timeout=60) == said
    assert models_holding(loop_thread, database_url, said) == {old.model}

    with (
        own_server(loop_thread, embedder, database_url, secret_key=secret) as second,
        grpc.insecure_channel(second.target) as channel,
    ):
        api = Api(channel, key)
        assert eventually(lambda: by_meaning(api, QUESTION), timeout=60) == said
    assert embedder.model in models_holding(loop_thread, database_url, said)
