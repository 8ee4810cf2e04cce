"""A provider's embedding model, reached through LiteLLM, can replace the local one."""

import asyncio

import numpy as np
from pydantic import SecretStr
from sqlalchemy import select

from memoire_adapters.embedding import make_embedder
from memoire_core.config import Limits, Settings
from memoire_core.db.engine import make_engine, make_session_factory
from memoire_core.db.repos import accounts
from memoire_core.db.tables import memory_embeddings
from memoire_core.domain import MessageIn, RecallQuery, Role
from memoire_core.errors import Violations
from memoire_core.services.embedding import embed_owed
from memoire_core.services.ingest import ingest, validate_ingest
from memoire_core.services.recall import Ranking, recall
from tests.integration.conftest import fresh_database
from tests.integration.fake_provider import fake_openai


def test_an_openai_compatible_embedding_server_is_called_through_litellm():
    with fake_openai(dims=64) as provider:
        settings = Settings(
            embedding_model="litellm/openai/text-embedding-3-small",
            embedding_dimensions=64,
            embedding_api_base=provider.url,
            embedding_api_key=SecretStr("test-key"),
        )
        embedder = make_embedder(settings)
        vector = asyncio.run(embedder.embed_query("hello world"))

    assert embedder.model == "litellm/openai/text-embedding-3-small"
    assert vector.shape == (64,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert provider.requests[0]["body"]["model"] == "text-embedding-3-small"
    assert provider.requests[0]["auth"] == "Bearer test-key"


def test_provider_vectors_are_stored_under_the_models_name_and_rank_recall(postgres):
    url = fresh_database(postgres, "provider_check")

    async def scenario(api_base: str) -> tuple[set[str], list[str]]:
        settings = Settings(
            embedding_model="litellm/openai/text-embedding-3-small",
            embedding_dimensions=64,
            embedding_api_base=api_base,
            embedding_api_key=SecretStr("test-key"),
        )
        embedder = make_embedder(settings)
        engine = make_engine(url, pool_size=1)
        sessions = make_session_factory(engine)
        try:
            async with sessions() as db, db.begin():
                app_id = await accounts.get_or_create_app(db, "provider")
                user, _, _ = await accounts.get_or_create_user(db, app_id, "u1")
                messages = [
                    MessageIn(Role.USER, "my dog barks at night"),
                    MessageIn(Role.USER, "quarterly budget review"),
                ]
                command = validate_ingest("", messages, True, Limits(), Violations())
                await ingest(db, user, command, extraction_enabled=False)
            while await embed_owed(sessions, embedder, 8):
                pass
            async with sessions() as db:
                models = set((await db.execute(select(memory_embeddings.c.model))).scalars())
                query = RecallQuery(text="dog night")
                vector = await embedder.embed_query(query.text)
                hits = await recall(db, user, query, vector, embedder, Ranking())
            return models, [h.memory.content for h in hits if h.score.vector > 0]
        finally:
            await engine.dispose()

    with fake_openai(dims=64) as provider:
        models, by_vector = asyncio.run(scenario(provider.url))

    assert models == {"litellm/openai/text-embedding-3-small"}
    assert by_vector[0] == "my dog barks at night"
