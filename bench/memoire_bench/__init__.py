"""``memoire bench``: seed a realistic corpus, then measure Mémoire through its gRPC server.

One run seeds (or reuses) a corpus of users, sessions, messages, episodes and facts with
vectors, starts the server and measures, at each concurrency level: Recall, Conscious and
Ingest latency and throughput, beside their floors measured in the same run (an empty gRPC
call, Recall's ranking SQL sent straight through asyncpg, the query embedding alone). Then the
delays after an Ingest reply: until the new episode is recallable (by its words, then by its
vector) and until its facts are stored, through a real Celery worker and an instant scripted
LLM. Users with LoCoMo-like histories of 100, 1,000 and 10,000 turns get Recall and its
ranking SQL measured per history size; a steady ingest load measures how soon a new turn is
found by meaning and how far the background embedder falls behind; every level reports the
CPU per call of the server and of Postgres. The server's resident memory is sampled
throughout. See ``bench/README.md``.
"""

from memoire_bench.runner import Options, run

__all__ = ["Options", "run"]
