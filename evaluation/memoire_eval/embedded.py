"""The embedded stack an evaluation runs on: Postgres in a temporary folder and the gRPC
server in-process, whose ranking can also be asked directly with other weights."""

import asyncio
import contextlib
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from memoire_eval.scoring import RECALL_LIMIT

T = TypeVar("T")
# Fields of Recall's ``Ranking`` by name, with the values to run it with.
Weights = dict[str, float]


class LoopThread:
    """An event loop on its own thread, so the sync client can drive the in-process server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Stack:
    """Where to reach Mémoire, and (for the embedded stack) how to ask its database."""

    target: str
    key: str
    owed: Callable[[], int] | None = field(default=None)  # memories still owing a vector
    # Recall in-process with other ranking weights: user id, query, weights -> message ids of
    # each hit, best first (the embedded stack only; it runs the server's own code path).
    recall_with: Callable[[str, str, Weights], list[list[str]]] | None = field(default=None)


@contextlib.contextmanager
def embedded_stack() -> Iterator[Stack]:
    """Postgres in a temporary folder, migrated, and the gRPC server in-process (no LLM)."""
    from pydantic import SecretStr  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415

    from memoire_cli import migrate  # noqa: PLC0415
    from memoire_core.config import Settings  # noqa: PLC0415
    from memoire_core.db.repos import accounts  # noqa: PLC0415
    from memoire_core.db.tables import memories  # noqa: PLC0415
    from memoire_core.domain import RecallQuery  # noqa: PLC0415
    from memoire_core.ports import Vector  # noqa: PLC0415
    from memoire_core.services import recall  # noqa: PLC0415
    from memoire_core.services.accounts import create_app_with_key  # noqa: PLC0415
    from memoire_server.app import start  # noqa: PLC0415
    from memoire_stack.services import LocalPostgres, bundled_pgvector_can_index  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="memoire-eval-") as scratch:
        postgres = LocalPostgres(Path(scratch) / "pg", database="memoire_eval")
        loop: LoopThread | None = None
        running: Any = None
        try:
            url = postgres.start()
            migrate.upgrade(url)
            settings = Settings(
                data_dir=Path(scratch),
                database_url=url,
                redis_url="",
                llm_model="",
                embed_in_server=True,
                secret_key=SecretStr(secrets.token_urlsafe(32)),
                grpc_port=0,
                db_pool_size=4,
                vector_index="hnsw" if bundled_pgvector_can_index() else "none",
            )
            loop = LoopThread()
            running = loop.run(start(settings))
            app = running.app

            app_name = f"locomo-{uuid.uuid4()}"

            async def make_key() -> str:
                async with app.sessions() as db, db.begin():
                    new = await create_app_with_key(
                        db, app.server_secret, app_name, "locomo evaluation"
                    )
                return new.secret

            vectors: dict[str, Vector | None] = {}

            async def recall_with(user_id: str, text: str, weights: Weights) -> list[list[str]]:
                if text not in vectors:  # one embedding per question, whatever the weights
                    vectors[text] = await recall.embed_query(app.embedder, text)
                async with app.sessions() as db:
                    app_id = await accounts.get_or_create_app(db, app_name)
                    user = await accounts.find_user(db, app_id, user_id)
                    if user is None:
                        return []
                    hits = await recall.recall(
                        db,
                        user,
                        RecallQuery(text, limit=RECALL_LIMIT),
                        vectors[text],
                        app.embedder,
                        replace(app.ranking, **weights),
                        app.corpus_stats,
                    )
                return [[str(m) for m in h.memory.source_message_ids] for h in hits]

            async def owed() -> int:
                async with app.sessions() as db:
                    stmt = select(func.count()).where(memories.c.embedded_with.is_(None))
                    return int((await db.execute(stmt)).scalar_one())

            yield Stack(
                f"127.0.0.1:{running.port}",
                loop.run(make_key()),
                lambda: loop.run(owed()),
                lambda user, text, weights: loop.run(recall_with(user, text, weights)),
            )
        finally:
            if loop is not None:
                if running is not None:
                    loop.run(running.stop(1.0))
                loop.close()
            postgres.stop()
