"""``memoire eval locomo``: retrieval quality of Recall on LoCoMo conversations, beside BM25.

Each conversation goes to a user of its own; every turn is ingested through the real gRPC API
as one message of its session, then every QA question is recalled (limit 10) and scored
against the dialog ids of its evidence turns. No LLM is involved: this measures retrieval.

A turn is stored as ``"<speaker>: <text>"``, followed by ``" [shares <caption>]"`` when it
shares a photo (LoCoMo's BLIP caption stands in for the image, as in the LoCoMo paper; the
image-search ``query`` field is never used). Its ``create_time`` is its session's date plus
one second per turn, so turns keep their order; ``client_message_id`` is its dialog id.

Metrics, over categories 1-4 (category 5 is adversarial and left out):

- **R@k**: the fraction of an item's evidence dialog ids found among the dialog ids of the
  top k recalled memories (a memory derived from several messages counts for all of them),
  averaged over items;
- **MRR**: 1 / rank of the first recalled memory that holds any evidence id (0 when none of
  the 10 does), averaged over items.

Recall has a few weights tuned on this data (how much a question weighs against a statement,
how much a date the query names counts). So that the figure is not a fit to the five
conversations, the embedded stack also reports them left out one at a time: for each
conversation, the weights that score best on the other four (over a small grid) recall its
questions, and the held-out results make a second table beside the plain one.

The BM25 baseline (k1 = 1.2, b = 0.75; lower-cased alphanumeric tokens less a short list of
English stop words, no stemming) ranks the same turn texts of each conversation, in the same
run.
"""

import asyncio
import contextlib
import json
import math
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from memoire_proto.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

T = TypeVar("T")
Weights = dict[str, float]

RECALL_LIMIT = 10
CATEGORIES = (1, 2, 3, 4)
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SESSION_KEY = re.compile(r"session_(\d+)")
EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")
DATE_FORMAT = "%I:%M %p on %d %B, %Y"
BATCH = 100  # the server's default limit of messages per Ingest
EMBED_TIMEOUT_SECONDS = 1800.0


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation."""

    dia_id: str
    session: int
    speaker: str
    text: str
    caption: str
    said_at: datetime

    @property
    def content(self) -> str:
        """The message as stored: speaker, text, and the caption of a shared photo."""
        shared = f" [shares {self.caption}]" if self.caption else ""
        return f"{self.speaker}: {self.text}{shared}"


@dataclass(frozen=True)
class Question:
    """One QA item; ``index`` is its position in the sample's ``qa`` list."""

    index: int
    text: str
    category: int
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    """One LoCoMo conversation and its questions."""

    sample_id: str
    turns: list[Turn]
    questions: list[Question]


def normalise_evidence(raw: Iterable[str]) -> tuple[str, ...]:
    """Dialog ids as ``D<session>:<turn>``, mending the data's few malformed entries."""
    out: list[str] = []
    for entry in raw:
        for session, turn in EVIDENCE_ID.findall(str(entry)):
            dia_id = f"D{int(session)}:{int(turn)}"
            if dia_id not in out:
                out.append(dia_id)
    return tuple(out)


def load(path: Path) -> list[Sample]:
    """The samples of a LoCoMo JSON file."""
    samples = []
    for raw in json.loads(path.read_text()):
        conversation = raw["conversation"]
        turns: list[Turn] = []
        numbers = sorted(
            int(m.group(1)) for key in conversation if (m := SESSION_KEY.fullmatch(key))
        )
        for n in numbers:
            start = datetime.strptime(conversation[f"session_{n}_date_time"], DATE_FORMAT).replace(
                tzinfo=UTC
            )
            turns.extend(
                Turn(
                    dia_id=t["dia_id"],
                    session=n,
                    speaker=t["speaker"],
                    text=t["text"],
                    caption=t.get("blip_caption") or "",
                    said_at=start + timedelta(seconds=i),
                )
                for i, t in enumerate(conversation[f"session_{n}"])
            )
        questions = [
            Question(i, q["question"], int(q["category"]), normalise_evidence(q["evidence"]))
            for i, q in enumerate(raw["qa"])
        ]
        samples.append(Sample(raw["sample_id"], turns, questions))
    return samples


# --- scoring -------------------------------------------------------------------------------

Retrieved = list[str | list[str]]  # one entry per recalled memory: its dialog id(s)


def _ids(entry: str | list[str]) -> list[str]:
    return [entry] if isinstance(entry, str) else entry


def recall_at(evidence: tuple[str, ...], retrieved: Retrieved, k: int) -> float:
    """The fraction of the evidence ids found in the top ``k`` entries."""
    found = {i for entry in retrieved[:k] for i in _ids(entry)}
    return sum(1 for e in evidence if e in found) / len(evidence)


def reciprocal_rank(evidence: tuple[str, ...], retrieved: Retrieved) -> float:
    """1 / rank of the first entry holding an evidence id; 0 when none does."""
    for rank, entry in enumerate(retrieved, start=1):
        if any(i in evidence for i in _ids(entry)):
            return 1.0 / rank
    return 0.0


@dataclass
class Scores:
    """Sums of R@5, R@10 and reciprocal rank over ``n`` items."""

    n: int = 0
    r5: float = 0.0
    r10: float = 0.0
    rr: float = 0.0

    def add(self, evidence: tuple[str, ...], retrieved: Retrieved) -> None:
        self.n += 1
        self.r5 += recall_at(evidence, retrieved, 5)
        self.r10 += recall_at(evidence, retrieved, 10)
        self.rr += reciprocal_rank(evidence, retrieved)

    def means(self) -> tuple[float, float, float]:
        if not self.n:
            return (0.0, 0.0, 0.0)
        return (self.r5 / self.n, self.r10 / self.n, self.rr / self.n)


def score(samples: list[Sample], runs: dict[tuple[str, int], Retrieved]) -> dict[int | str, Scores]:
    """Scores per category 1-4 and over all of them ("all"); items without evidence skipped."""
    out: dict[int | str, Scores] = {c: Scores() for c in (*CATEGORIES, "all")}
    for sample in samples:
        for q in sample.questions:
            if q.category not in CATEGORIES or not q.evidence:
                continue
            retrieved = runs.get((sample.sample_id, q.index), [])
            out[q.category].add(q.evidence, retrieved)
            out["all"].add(q.evidence, retrieved)
    return out


# --- BM25 ----------------------------------------------------------------------------------

TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = (
    "a an the and or but if of to in on at by for with about from as is are was were be been "
    "being do does did have has had i you he she it we they me him her us them my your his its "
    "our their what which who whom this that these those when where why how would could should "
    "will can not no so than too very just there here s t"
)
STOPWORDS = frozenset(_STOPWORDS.split())


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric runs, English stop words left out."""
    return [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    """Okapi BM25 over a small corpus, scored exhaustively."""

    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.terms = [Counter(tokens(d)) for d in docs]
        self.lengths = [sum(c.values()) for c in self.terms]
        self.average = sum(self.lengths) / max(1, len(docs))
        df = Counter(t for c in self.terms for t in c)
        self.idf = {t: math.log(1 + (len(docs) - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def rank(self, query: str, k: int) -> list[int]:
        """Indices of the ``k`` best documents with any query term, best first."""
        q = set(tokens(query)) & self.idf.keys()
        scored = []
        for i, (terms, length) in enumerate(zip(self.terms, self.lengths, strict=True)):
            norm = self.k1 * (1 - self.b + self.b * length / self.average)
            s = sum(self.idf[t] * terms[t] * (self.k1 + 1) / (terms[t] + norm) for t in q)
            if s > 0:
                scored.append((-s, i))
        scored.sort()
        return [i for _, i in scored[:k]]


def bm25_runs(samples: list[Sample]) -> dict[tuple[str, int], Retrieved]:
    runs: dict[tuple[str, int], Retrieved] = {}
    for sample in samples:
        index = BM25([t.content for t in sample.turns])
        for q in sample.questions:
            ranked = index.rank(q.text, RECALL_LIMIT)
            runs[sample.sample_id, q.index] = [sample.turns[i].dia_id for i in ranked]
    return runs


# --- talking to Mémoire --------------------------------------------------------------------


def _progress(label: str, done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\r{label} {done}/{total}", end=end, file=sys.stderr, flush=True)


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
                _progress(f"ingest {sample.sample_id}", done, len(sample.turns))
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


# --- the embedded stack --------------------------------------------------------------------


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

    from memoire_cli import localstack, migrate  # noqa: PLC0415
    from memoire_core.config import Settings  # noqa: PLC0415
    from memoire_core.db.repos import accounts  # noqa: PLC0415
    from memoire_core.db.tables import memories  # noqa: PLC0415
    from memoire_core.domain import RecallQuery  # noqa: PLC0415
    from memoire_core.embedding import Vector  # noqa: PLC0415
    from memoire_core.services import recall  # noqa: PLC0415
    from memoire_core.services.accounts import create_app_with_key  # noqa: PLC0415
    from memoire_server.app import start  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="memoire-eval-") as scratch:
        postgres = localstack.LocalPostgres(Path(scratch) / "pg", database="memoire_eval")
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
                vector_index="hnsw" if localstack.bundled_pgvector_can_index() else "none",
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


# --- the run -------------------------------------------------------------------------------


def _entry(hit: Any, dia_of: dict[str, str]) -> str | list[str]:
    ids = [dia_of[m] for m in hit.memory.source_message_ids if m in dia_of]
    return ids[0] if len(ids) == 1 else ids


def _wait_embedded(
    stack: Stack,
    client: Client,
    users: dict[str, str],
    samples: list[Sample],
    maps: dict[str, dict[str, str]],
) -> None:
    """Block until every episode has its vector (DB count, or probing Recall remotely)."""
    deadline = time.monotonic() + EMBED_TIMEOUT_SECONDS
    if stack.owed is not None:
        total = sum(len(s.turns) for s in samples)
        while (owed := stack.owed()) > 0:
            _progress("embed", total - owed, total)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{owed} memories still owe a vector")
            time.sleep(2)
        _progress("embed", total, total)
        return
    # Remotely: the background embedder takes memories oldest first, so once the last turn of
    # every session is found by the vector ranking, the whole conversation has been embedded.
    probes = [
        (
            s,
            [
                t
                for i, t in enumerate(s.turns)
                if i + 1 == len(s.turns) or s.turns[i + 1].session != t.session
            ],
        )
        for s in samples
    ]
    for sample, lasts in probes:
        pending = list(lasts)
        while pending:
            pending = [
                t
                for t in pending
                if not client.embedded(users[sample.sample_id], t, maps[sample.sample_id])
            ]
            _progress(f"embed {sample.sample_id}", len(lasts) - len(pending), len(lasts))
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} turns of {sample.sample_id} not embedded")
                time.sleep(2)


@dataclass
class Evaluation:
    """A run through the API, and (embedded stack only) its leave-one-out counterpart."""

    runs: dict[tuple[str, int], Retrieved]
    latencies: list[float]
    held_out: dict[tuple[str, int], Retrieved] | None = None
    picks: dict[str, Weights] = field(default_factory=dict)


def evaluate(
    samples: list[Sample], stack: Stack, user_prefix: str, out: TextIO | None
) -> Evaluation:
    """Ingest, wait for vectors, recall every question; with the embedded stack, then again
    with each conversation's weights picked on the other four."""
    client = Client(stack.target, stack.key)
    try:
        users = {s.sample_id: f"{user_prefix}{s.sample_id}" for s in samples}
        maps = {s.sample_id: client.ingest(users[s.sample_id], s) for s in samples}
        _wait_embedded(stack, client, users, samples, maps)
        runs: dict[tuple[str, int], Retrieved] = {}
        latencies: list[float] = []
        total = sum(len(s.questions) for s in samples)
        done = 0
        for sample in samples:
            for q in sample.questions:
                hits, seconds = client.recall(users[sample.sample_id], q.text)
                latencies.append(seconds)
                retrieved = [_entry(h, maps[sample.sample_id]) for h in hits]
                runs[sample.sample_id, q.index] = retrieved
                if out is not None:
                    line = {
                        "sample_id": sample.sample_id,
                        "qa_index": q.index,
                        "retrieved": retrieved,
                        "texts": [h.memory.content for h in hits],
                    }
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                done += 1
                _progress("recall", done, total)
        result = Evaluation(runs, latencies)
        if stack.recall_with is not None:
            grid = grid_runs(samples, stack.recall_with, users, maps)
            result.held_out, result.picks = leave_one_out(samples, grid)
        return result
    finally:
        client.close()


# --- leave one conversation out ------------------------------------------------------------

# The values tried of each weight Recall takes from its ``Ranking`` (services/recall.py).
GRID: dict[str, tuple[float, ...]] = {
    "question_weight": (0.0, 0.15, 0.3, 0.45, 0.6, 0.75),
    "period_weight": (0.0, 0.25, 0.5, 0.75),
    "strict_period_weight": (0.0, 0.25, 0.5, 0.75, 1.0),
}
Combo = tuple[tuple[str, float], ...]  # weight name and value, in GRID's order


def moving_weights(question: str) -> tuple[str, ...]:
    """The weights that can change this question's hits: a period weight only matters to a
    question that names a period (so the grid recalls the others fewer times)."""
    from memoire_core.services import temporal  # noqa: PLC0415

    mention = temporal.find(question)
    if mention is None:
        return ("question_weight",)
    return ("question_weight", "strict_period_weight" if mention.strict else "period_weight")


def combos(names: Iterable[str]) -> list[Combo]:
    """Every combination of the grid values of these weights."""
    out: list[Combo] = [()]
    for name in names:
        out = [(*c, (name, v)) for c in out for v in GRID[name]]
    return out


def grid_runs(
    samples: list[Sample],
    recall_with: Callable[[str, str, Weights], list[list[str]]],
    users: dict[str, str],
    maps: dict[str, dict[str, str]],
) -> dict[tuple[str, int], dict[Combo, Retrieved]]:
    """Each question recalled under every combination of the weights that can move it."""
    items = [(s, q) for s in samples for q in s.questions if q.category in CATEGORIES]
    plan = [(s, q, c) for s, q in items for c in combos(moving_weights(q.text))]
    out: dict[tuple[str, int], dict[Combo, Retrieved]] = defaultdict(dict)
    for done, (sample, q, combo) in enumerate(plan, start=1):
        hits = recall_with(users[sample.sample_id], q.text, dict(combo))
        dia_of = maps[sample.sample_id]
        out[sample.sample_id, q.index][combo] = [
            ids[0] if len(ids) == 1 else ids
            for ids in ([dia_of[m] for m in hit if m in dia_of] for hit in hits)
        ]
        _progress("leave-one-out grid", done, len(plan))
    return out


def _under(
    grid: dict[tuple[str, int], dict[Combo, Retrieved]], key: tuple[str, int], combo: Combo
) -> Retrieved:
    """A question's hits under a full combination (the weights that move it, that is)."""
    tried = grid.get(key)
    if not tried:
        return []
    moving = {name for name, _ in next(iter(tried))}
    return tried.get(tuple(p for p in combo if p[0] in moving), [])


def leave_one_out(
    samples: list[Sample], grid: dict[tuple[str, int], dict[Combo, Retrieved]]
) -> tuple[dict[tuple[str, int], Retrieved], dict[str, Weights]]:
    """For each conversation, the weights with the best R@10 over the other four, and its
    questions' hits under them. Ties go to the smaller weights (the lesser change)."""
    candidates = sorted(combos(GRID), key=lambda c: sum(v for _, v in c))
    held_out: dict[tuple[str, int], Retrieved] = {}
    picks: dict[str, Weights] = {}
    for sample in samples:
        others = [s for s in samples if s is not sample]

        def r10(combo: Combo, others: list[Sample] = others) -> float:
            runs = {
                (s.sample_id, q.index): _under(grid, (s.sample_id, q.index), combo)
                for s in others
                for q in s.questions
            }
            return score(others, runs)["all"].means()[1]

        best = max(candidates, key=r10)  # max keeps the first of equals
        picks[sample.sample_id] = dict(best)
        for q in sample.questions:
            key = (sample.sample_id, q.index)
            held_out[key] = _under(grid, key, best)
    return held_out, picks


def report(
    memoire: dict[int | str, Scores], bm25: dict[int | str, Scores], latencies: list[float]
) -> str:
    """The results table, as Markdown."""
    lines = [
        "| category | n | Mémoire R@5 | R@10 | MRR | BM25 R@5 | R@10 | MRR |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (*CATEGORIES, "all"):
        name = f"{c} {CATEGORY_NAMES[c]}" if isinstance(c, int) else "1-4 (all)"
        m, b = memoire[c].means(), bm25[c].means()
        cells = " | ".join(f"{x:.3f}" for x in (*m, *b))
        lines.append(f"| {name} | {memoire[c].n} | {cells} |")
    if latencies:
        ordered = sorted(latencies)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        lines.append(
            f"\nRecall latency over {len(ordered)} calls: median "
            f"{statistics.median(ordered) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"
        )
    return "\n".join(lines)


def report_held_out(
    plain: dict[int | str, Scores], held_out: dict[int | str, Scores], picks: dict[str, Weights]
) -> str:
    """The leave-one-conversation-out table beside the plain run, and the weights picked."""
    lines = [
        "Leave one conversation out (each conversation's weights picked on the other four):",
        "",
        "| category | n | plain R@10 | held-out R@5 | R@10 | MRR |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (*CATEGORIES, "all"):
        name = f"{c} {CATEGORY_NAMES[c]}" if isinstance(c, int) else "1-4 (all)"
        cells = " | ".join(f"{x:.3f}" for x in held_out[c].means())
        lines.append(f"| {name} | {plain[c].n} | {plain[c].means()[1]:.3f} | {cells} |")
    lines.append("")
    for sample_id, weights in picks.items():
        chosen = ", ".join(f"{k} {v:g}" for k, v in weights.items())
        lines.append(f"- {sample_id} held out: {chosen}")
    return "\n".join(lines)


def run_locomo(
    path: Path, out_path: Path | None, target: str | None, api_key: str | None, user_prefix: str
) -> str:
    """The whole evaluation; returns the report."""
    samples = load(path)
    out = out_path.open("w") if out_path else None
    try:
        if target:
            if not api_key:
                raise ValueError("--target needs --api-key (an app-scoped key)")
            result = evaluate(samples, Stack(target, api_key), user_prefix, out)
        else:
            with embedded_stack() as stack:
                result = evaluate(samples, stack, user_prefix, out)
    finally:
        if out is not None:
            out.close()
    plain = score(samples, result.runs)
    text = report(plain, score(samples, bm25_runs(samples)), result.latencies)
    if result.held_out is None:
        return text + "\n\nLeave one conversation out: needs the embedded stack (no --target)."
    held_out = report_held_out(plain, score(samples, result.held_out), result.picks)
    return text + "\n\n" + held_out
