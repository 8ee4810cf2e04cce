"""A synthetic but realistic corpus: users with sessions, messages, episodes and facts.

Texts come from templates filled from short word lists, so every user talks about their own
city, family, work and hobbies in everyday sentences. Embedding millions of texts with the
local model would take hours, so only a pool of distinct sentences is embedded; each memory
carries the content of a pool sentence and that sentence's vector with a little noise, and the
vectors are stored under the real model name, exactly as the background embedder stores them.
Users with long histories (``history_batches``) talk in LoCoMo-like turns instead (see
``turns``), each with a blend of pool vectors.
"""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memoire_core.domain import EventType, Kind, Role, Temporal
from memoire_core.ids import new_id

if TYPE_CHECKING:
    from memoire_bench.turns import Turns


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(sep))


CITIES = _words(
    "Lisbon Austin Dallas Berlin Osaka Toronto Nairobi Lyon Porto Denver Seattle Boston Madrid "
    "Krakow Dublin Chicago Melbourne Oslo Prague Vienna Bristol Leeds Valencia Quito Hanoi"
)
NAMES = _words(
    "Sara John Maya Tom Lina Omar Priya Leo Ana Felix Chloe Ravi Noor Ivan Emma Kofi Julia "
    "Mateo Hana Sven Zoe Amir Elena Paul Mina Diego Ruth Ken Ada Luis"
)
RELATIVES = _words("sister brother mother father cousin aunt uncle partner daughter son")
COMPANIES = _words(
    "a bakery|a hospital|a startup|the city council|a law firm|a bike shop|a school|"
    "a design studio|a bank|a bookshop|a museum|a logistics company",
    "|",
)
JOBS = _words(
    "nurse|teacher|data analyst|chef|carpenter|product manager|architect|pharmacist|"
    "electrician|translator|mechanic|accountant",
    "|",
)
HOBBIES = _words(
    "pottery|rock climbing|the piano|chess|sourdough baking|salsa dancing|running|birdwatching|"
    "photography|knitting|Spanish|gardening|surfing|painting",
    "|",
)
PETS = _words("dog cat parrot rabbit tortoise hamster")
PET_NAMES = _words("Biscuit Luna Pepper Milo Olive Rex Mochi Ziggy")
FOODS = _words("peanuts shellfish gluten dairy strawberries sesame")
FAVOURITES = _words(
    "coffee:flat white|coffee:espresso|music:jazz|music:folk|book:Dune|book:Middlemarch|"
    "film:Amelie|film:Heat|tea:earl grey|cuisine:Thai|cuisine:Ethiopian|season:autumn",
    "|",
)
PLACES = _words("the coast|the old town|the lake|the mountains|the market|the national park", "|")
DAYS = _words("Monday|Tuesday|Friday|Saturday|Sunday|next weekend|the long weekend", "|")
MONTHS = _words("January March April June August October December")

USER_TEMPLATES = (
    "I moved to {city} in {month} and I really like the food there.",
    "My {relative} {name} just started working at {company} as a {job}.",
    "We adopted a {pet} called {petname} last {month}.",
    "I've been learning {hobby} on weekends with {name}.",
    "Can you remind me to call {name} on {day} about the trip to {city}?",
    "I'm allergic to {food}, so please leave it out of any recipe.",
    "{name} and I went for a long walk near {place} on {day}.",
    "Honestly my favourite {topic} is {item}, I could have it every day.",
    "I'm nervous about my interview at {company} on {day}.",
    "My {relative} is visiting from {city} in {month}, I need to plan something.",
    "I finally finished the {hobby} course I started in {month}!",
    "{petname} the {pet} knocked over my coffee again this morning.",
    "I work as a {job} at {company}, the hours are long but I like it.",
    "We are thinking about moving from {city} to somewhere quieter.",
    "Do you know a good place for {topic} near {place}?",
)
ASSISTANT_TEMPLATES = (
    "That sounds lovely! How is {name} settling in at {company}?",
    "Good luck with {hobby}; practising a little every day helps most.",
    "Noted: no {food} in recipes. Want a {topic} suggestion instead?",
    "{city} in {month} is a great time to visit {place}.",
    "I'll remind you about {name} on {day}.",
)
QUESTION_TEMPLATES = (
    "Where do I live now?",
    "What does my {relative} do for work?",
    "What is my pet called?",
    "Which hobby have I been learning lately?",
    "What am I allergic to?",
    "When is my interview at {company}?",
    "Who did I go walking with near {place}?",
    "What is my favourite {topic}?",
    "Who is visiting me from {city}?",
    "What did I say about moving somewhere quieter?",
    "Where does {name} work?",
    "What do I do for a living?",
)
NAME_SLOT = "name"


@dataclass(frozen=True)
class FactTemplate:
    """A fact as extraction would store it: its text, slot, value and category."""

    content: str
    slot: str
    value: str
    category: str
    essential: bool = False


# Each placeholder of a template and its words; every one is drawn, in this order, whatever
# the template names, so that a seed makes the same corpus.
_PLACEHOLDERS = {
    "city": CITIES,
    "month": MONTHS,
    "relative": RELATIVES,
    "name": NAMES,
    "company": COMPANIES,
    "job": JOBS,
    "pet": PETS,
    "petname": PET_NAMES,
    "hobby": HOBBIES,
    "day": DAYS,
    "food": FOODS,
    "place": PLACES,
}


def _fill(rng: random.Random, template: str) -> str:
    topic, item = rng.choice(FAVOURITES).split(":")
    words = {name: rng.choice(choices) for name, choices in _PLACEHOLDERS.items()}
    return template.format(**words, topic=topic, item=item)


def _distinct(rng: random.Random, templates: tuple[str, ...], n: int) -> list[str]:
    """``n`` distinct filled sentences (fewer if the templates cannot make that many)."""
    out: dict[str, None] = {}
    for _ in range(n * 20):
        if len(out) >= n:
            break
        out[_fill(rng, rng.choice(templates))] = None
    return list(out)


def fact_pool(rng: random.Random, n: int) -> list[FactTemplate]:
    """``n`` distinct facts across identity, location, work, pets, hobbies and preferences."""
    makers = (
        lambda: FactTemplate(f"Name is {(v := rng.choice(NAMES))}", NAME_SLOT, v, "identity", True),
        lambda: FactTemplate(
            f"Lives in {(v := rng.choice(CITIES))}", "location.home", v, "location", True
        ),
        lambda: FactTemplate(f"Works at {(v := rng.choice(COMPANIES))}", "employer", v, "work"),
        lambda: FactTemplate(f"Works as a {(v := rng.choice(JOBS))}", "job.title", v, "work"),
        lambda: FactTemplate(
            f"Has a {rng.choice(PETS)} named {(v := rng.choice(PET_NAMES))}", "pet", v, "pet"
        ),
        lambda: FactTemplate(f"Is learning {(v := rng.choice(HOBBIES))}", "hobby", v, "hobby"),
        lambda: FactTemplate(
            f"Is allergic to {(v := rng.choice(FOODS))}", "allergy", v, "health", True
        ),
        lambda: _favourite(rng),
        lambda: FactTemplate(
            f"{rng.choice(RELATIVES).capitalize()} {(v := rng.choice(NAMES))} lives in "
            f"{rng.choice(CITIES)}",
            "relationship.family",
            v,
            "relationship",
        ),
    )
    out: dict[str, FactTemplate] = {}
    for _ in range(n * 20):
        if len(out) >= n:
            break
        fact = rng.choice(makers)()
        out.setdefault(fact.content, fact)
    return list(out.values())


def _favourite(rng: random.Random) -> FactTemplate:
    topic, item = rng.choice(FAVOURITES).split(":")
    return FactTemplate(f"Favourite {topic} is {item}", f"preference.{topic}", item, "preference")


def questions(rng: random.Random, n: int) -> list[str]:
    """Recall queries of the kind an agent asks about its user."""
    return _distinct(rng, QUESTION_TEMPLATES, n)


@dataclass(frozen=True)
class Pool:
    """The embedded sentences every memory draws from."""

    episodes: list[tuple[str, Role]]
    facts: list[FactTemplate]
    episode_vectors: npt.NDArray[np.float32]
    fact_vectors: npt.NDArray[np.float32]


def pool_texts(seed: int, size: int) -> tuple[list[tuple[str, Role]], list[FactTemplate]]:
    """The pool's sentences: three quarters messages (user and assistant), a quarter facts."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    n_facts = max(4, size // 4)
    n_episodes = max(4, size - n_facts)
    users = _distinct(rng, USER_TEMPLATES, n_episodes * 4 // 5)
    assistants = _distinct(rng, ASSISTANT_TEMPLATES, n_episodes - len(users))
    episodes = [(t, Role.USER) for t in users] + [(t, Role.ASSISTANT) for t in assistants]
    return episodes, fact_pool(rng, n_facts)


@dataclass
class Rows:
    """Rows for COPY, per table, in the column order of ``COLUMNS``."""

    users: list[tuple[object, ...]] = field(default_factory=list)
    sessions: list[tuple[object, ...]] = field(default_factory=list)
    messages: list[tuple[object, ...]] = field(default_factory=list)
    memories: list[tuple[object, ...]] = field(default_factory=list)
    memory_embeddings: list[tuple[object, ...]] = field(default_factory=list)
    memory_events: list[tuple[object, ...]] = field(default_factory=list)

    def tables(self) -> dict[str, list[tuple[object, ...]]]:
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "app_id", "external_id", "created_at"),
    "sessions": ("id", "user_id", "external_id", "created_at"),
    "messages": ("id", "user_id", "session_id", "role", "content", "said_at", "created_at"),
    "memories": (
        "id",
        "user_id",
        "kind",
        "content",
        "category",
        "slot",
        "temporal_state",
        "confidence",
        "base_confidence",
        "value",
        "essential",
        "source_message_ids",
        "session_id",
        "message_id",
        "role",
        "valid_from",
        "valid_to",
        "created_at",
        "superseded_at",
        "superseded_by",
        "last_refreshed_at",
        "embedded_with",
    ),
    "memory_embeddings": ("memory_id", "model", "user_id", "dimensions", "embedding"),
    "memory_events": ("id", "user_id", "memory_id", "type", "cause", "created_at"),
}
SESSIONS_PER_USER = 4
TURNS_PER_SESSION = 20
FACT_SHARE = 0.2  # of a user's memories
SPAN = timedelta(days=720)  # how far back a user's history reaches


def user_external_id(n: int) -> str:
    return f"user-{n:07d}"


def halfvec_binary(vector: npt.NDArray[np.float32]) -> bytes:
    """pgvector's binary wire format of a halfvec: dimensions, a zero, big-endian halves."""
    header = np.array([vector.shape[0], 0], dtype=">u2").tobytes()
    return header + vector.astype(">f2").tobytes()


SINGLE_SLOTS = frozenset({NAME_SLOT, "location.home", "employer", "job.title"})


@dataclass
class UserMaker:
    """Builds every row of one user at a time, from the pool and seeded random generators."""

    pool: Pool
    app_id: uuid.UUID
    model: str
    now: datetime
    rng: random.Random
    noise: np.random.Generator
    sigma: float = 0.004  # per dimension: the noisy copy keeps a cosine of about 0.997

    def _vector(self, base: npt.NDArray[np.float32]) -> bytes:
        noisy = base + self.sigma * self.noise.standard_normal(base.shape[0], dtype=np.float32)
        return halfvec_binary(noisy / np.linalg.norm(noisy))

    def user(self, n: int, memories: int, out: Rows) -> None:
        """Append the rows of user ``n``, who holds ``memories`` memories, to ``out``."""
        self.member(user_external_id(n), memories, out)

    def member(
        self, external_id: str, memories: int, out: Rows, turns: "Turns | None" = None
    ) -> None:
        """Append the rows of one user holding ``memories`` memories to ``out``.

        Without ``turns`` episodes are pool sentences with their vectors; with it, each episode
        is a fresh LoCoMo-like turn whose vector blends two pool vectors (embedding every
        generated turn would take hours; the ranking's cost depends on how many vectors a user
        has, not on what they mean).
        """
        user_id = new_id()
        start = self.now - SPAN * self.rng.uniform(0.3, 1.0)
        out.users.append((user_id, self.app_id, external_id, start))
        # Long chats come in many sessions (LoCoMo: about 20 turns each).
        n_sessions = max(SESSIONS_PER_USER, memories // TURNS_PER_SESSION if turns else 0)
        session_ids = [new_id() for _ in range(n_sessions)]
        out.sessions.extend((sid, user_id, f"s{s}", start) for s, sid in enumerate(session_ids))
        n_facts = max(1, round(memories * FACT_SHARE))
        n_episodes = memories - n_facts
        for i in range(n_episodes):
            said_at = start + (self.now - start) * (i + 1) / (n_episodes + 1)
            session_id = session_ids[i * n_sessions // n_episodes]
            k = self.rng.randrange(len(self.pool.episodes))
            content, role = self.pool.episodes[k]
            vector = self.pool.episode_vectors[k]
            if turns is not None:
                content, role = turns.turn(), (Role.USER, Role.ASSISTANT)[i % 2]
                other = self.pool.episode_vectors[self.rng.randrange(len(self.pool.episodes))]
                vector = vector + other
            message_id = new_id()
            out.messages.append(
                (message_id, user_id, session_id, role.value, content, said_at, said_at)
            )
            values = {
                "kind": Kind.EPISODE.value,
                "content": content,
                "source_message_ids": [message_id],
                "session_id": session_id,
                "message_id": message_id,
                "role": role.value,
            }
            self._memory(out, user_id, values, vector, said_at)
        self._facts(out, user_id, n_facts, start)

    def _facts(self, out: Rows, user_id: uuid.UUID, count: int, start: datetime) -> None:
        current: dict[str, int] = {}  # single-valued slot -> row of its current fact
        for i in range(count):
            k = self.rng.randrange(len(self.pool.facts))
            fact = self.pool.facts[k]
            when = start + (self.now - start) * (i + 1) / (count + 1)
            confidence = round(self.rng.uniform(0.6, 1.0), 3)
            values = {
                "kind": Kind.FACT.value,
                "content": fact.content,
                "category": fact.category,
                "slot": fact.slot,
                "temporal_state": Temporal.CURRENT.value,
                "confidence": confidence,
                "base_confidence": confidence,
                "value": fact.value,
                "essential": fact.essential,
            }
            fact_id = self._memory(out, user_id, values, self.pool.fact_vectors[k], when)
            single = fact.slot in SINGLE_SLOTS or fact.slot.startswith("preference.")
            if single and fact.slot in current:
                # The earlier value retires, as slot supersession would have done.
                row = current[fact.slot]
                out.memories[row] = _superseded(out.memories[row], fact_id, when)
            if single:
                current[fact.slot] = len(out.memories) - 1

    def _memory(
        self,
        out: Rows,
        user_id: uuid.UUID,
        values: dict[str, object],
        vector: npt.NDArray[np.float32],
        when: datetime,
    ) -> uuid.UUID:
        memory_id = new_id()
        row = {
            **MEMORY_DEFAULTS,
            "id": memory_id,
            "user_id": user_id,
            "valid_from": when,
            "created_at": when,
            "last_refreshed_at": when,
            "embedded_with": self.model,
            **values,
        }
        out.memories.append(tuple(row[c] for c in COLUMNS["memories"]))
        out.memory_embeddings.append(
            (memory_id, self.model, user_id, vector.shape[0], self._vector(vector))
        )
        out.memory_events.append(
            (new_id(), user_id, memory_id, EventType.CREATED.value, "seeded", when)
        )
        return memory_id


MEMORY_DEFAULTS: dict[str, object] = {
    "category": "",
    "slot": "",
    "temporal_state": None,
    "confidence": 1.0,
    "base_confidence": 1.0,
    "value": "",
    "essential": False,
    "source_message_ids": [],
    "session_id": None,
    "message_id": None,
    "role": None,
    "valid_to": None,
    "superseded_at": None,
    "superseded_by": None,
}


def _superseded(row: tuple[object, ...], by: uuid.UUID, when: datetime) -> tuple[object, ...]:
    """A fact row retired by ``by`` at ``when``."""
    columns = COLUMNS["memories"]
    values = dict(zip(columns, row, strict=True))
    values.update(valid_to=when, superseded_at=when, superseded_by=by)
    return tuple(values[c] for c in columns)


def batches(
    maker: UserMaker, users: int, memories: int, per_batch: int
) -> Iterator[tuple[int, Rows]]:
    """The corpus in batches of ``per_batch`` users: (users done, their rows)."""
    base, extra = divmod(memories, users)
    for first in range(0, users, per_batch):
        rows = Rows()
        last = min(users, first + per_batch)
        for n in range(first, last):
            maker.user(n, base + (1 if n < extra else 0), rows)
        yield last, rows


def now() -> datetime:
    return datetime.now(UTC)


def history_external_id(size: int, n: int) -> str:
    """The id of the ``n``-th seeded user whose history holds ``size`` memories."""
    return f"history-{size}-{n:05d}"


def history_batches(
    maker: UserMaker, turns: "Turns", groups: dict[int, int], per_batch: int
) -> Iterator[tuple[int, Rows]]:
    """Users with LoCoMo-like histories, ``groups[size]`` users of each size, in batches of
    about ``per_batch`` memories: (users done, their rows)."""
    rows, done, held = Rows(), 0, 0
    for size, users in groups.items():
        for n in range(users):
            maker.member(history_external_id(size, n), size, rows, turns)
            done += 1
            held += size
            if held >= per_batch:
                yield done, rows
                rows, held = Rows(), 0
    if held:
        yield done, rows
