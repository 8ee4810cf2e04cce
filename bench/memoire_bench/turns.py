"""Conversational turns of LoCoMo-like length and vocabulary, generated from a seed.

Real users' histories are long chats: turns of typically 15-40 words, everyday English with a
long tail of rare words (names of people, places, books, dishes) that makes full-text posting
lists and trigram sets as selective as they are in production. The turns here are built from
sentence frames filled from word classes, plus a Zipf-distributed tail of made-up proper nouns,
so the same seed always yields the same history and no real conversation is copied.
"""

import bisect
import itertools
import random
from collections.abc import Callable

from memoire_bench.corpus import CITIES, NAMES


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NOUNS = _w(
    "trip weekend concert painting book movie show recipe garden project class workshop hike "
    "beach museum gallery festival party wedding birthday dinner lunch breakfast picnic game "
    "match team coach job interview promotion meeting presentation deadline colleague boss "
    "neighbour friend family kids puppy kitten horse bike car train flight hotel cabin tent "
    "camera guitar piano violin song album poem story novel essay article podcast video "
    "painting sculpture pottery vase necklace bracelet sweater jacket shoes backpack laptop "
    "phone garden tomatoes flowers roses sunflowers tree lake river mountain forest park "
    "trail island village city town street market bakery cafe restaurant library school "
    "university course degree exam scholarship charity fundraiser volunteer shelter support "
    "group counselor therapist doctor nurse hospital surgery recovery workout marathon race "
    "yoga meditation journal diary habit routine schedule budget savings loan apartment house "
    "kitchen bedroom sofa table lamp mural canvas sketch portrait landscape sunset sunrise "
    "storm snow rain summer winter autumn spring holiday vacation roadtrip camping fishing "
    "surfing skiing climbing dancing singing baking cooking reading writing drawing gaming "
    "community parade protest speech conference mentor student audience stage studio"
)
VERBS_PAST = _w(
    "visited finished started joined tried loved enjoyed watched read painted baked cooked "
    "planned booked found bought sold built fixed cleaned organized signed adopted met called "
    "texted invited helped supported celebrated explored discovered learned taught practiced "
    "recorded wrote drew shared posted missed remembered forgot attended hosted won lost "
    "climbed hiked ran swam danced sang played picked chose decided"
)
VERBS_PP = _w(
    "visited finished started joined tried loved enjoyed watched read painted baked cooked "
    "planned booked found built fixed organized met helped celebrated explored discovered "
    "learned taught practiced recorded written drawn shared attended hosted won climbed hiked"
)
ADJECTIVES = _w(
    "amazing beautiful wonderful great lovely awesome cool fun exciting relaxing peaceful "
    "stressful tough hard busy crazy wild quiet cozy colorful bright dark huge tiny old new "
    "fresh delicious spicy sweet gorgeous stunning inspiring meaningful special important "
    "nervous proud happy grateful thankful excited tired calm curious brave creative "
    "emotional powerful healing supportive local famous favorite little long short"
)
ADVERBS = _w(
    "really totally honestly actually definitely finally recently lately always sometimes "
    "usually often rarely already still just"
)
TIMES = (
    "yesterday",
    "last week",
    "last weekend",
    "last month",
    "last year",
    "this morning",
    "a few days ago",
    "two weeks ago",
    "over the summer",
    "on Friday",
    "on Sunday",
    "back in May",
    "this spring",
    "recently",
)
OPENERS = (
    "Hey!",
    "Wow,",
    "Oh,",
    "Thanks!",
    "Yeah,",
    "Haha,",
    "Hi!",
    "Aww,",
    "Totally!",
    "That's great!",
    "Good to hear from you!",
    "",
)
FEELINGS = _w("happy proud grateful excited nervous calm relieved inspired motivated thankful")
PRONOUNS = _w("I we they she he")
DETERMINERS = ("a", "the", "my", "our", "this", "that", "an old", "a new")
PREPOSITIONS = _w("at near in around behind beside through")
SYLLABLES = _w(
    "ka lo mi ra ven tor bel sa ni qu dor fel ma ri on es ta lin gar wen so pe dru vak "
    "mor cel ith ja bro zen hal tu ros fin ael cor dim"
)
TAIL_SIZE = 6_000  # made-up proper nouns; LoCoMo-like chats name thousands of things
ZIPF_S = 1.05


def _tail_words(rng: random.Random, n: int) -> tuple[str, ...]:
    """``n`` distinct made-up proper nouns of 2-4 syllables."""
    out: dict[str, None] = {}
    while len(out) < n:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        out[word.capitalize()] = None
    return tuple(out)


class Turns:
    """Deterministic generator of conversational turns and of questions about them."""

    def __init__(self, seed: int, stream: str = "history") -> None:
        """Turns of the world of ``seed``; each ``stream`` draws its own sequence from it
        (the seeded histories, the questions, the live messages), over the same vocabulary."""
        self.rng = random.Random(f"{seed}-{stream}")  # noqa: S311 - a reproducible corpus
        self.tail = _tail_words(random.Random(f"{seed}-tail"), TAIL_SIZE)  # noqa: S311
        weights = [1.0 / (rank**ZIPF_S) for rank in range(1, TAIL_SIZE + 1)]
        self._tail_cum = list(itertools.accumulate(weights))
        self._frames: tuple[Callable[[], str], ...] = (
            self._did,
            self._with,
            self._asked,
            self._opinion,
            self._feeling,
            self._plan,
            self._told,
            self._question,
        )

    def rare(self) -> str:
        """A tail word, rank-frequency Zipfian: a few are common, most are rare."""
        x = self.rng.random() * self._tail_cum[-1]
        return self.tail[min(bisect.bisect_left(self._tail_cum, x), TAIL_SIZE - 1)]

    def _noun(self) -> str:
        c = self.rng.choice
        if self.rng.random() < 0.3:
            return f"{c(DETERMINERS)} {self.rare()} {c(NOUNS)}"
        return f"{c(DETERMINERS)} {c(ADJECTIVES)} {c(NOUNS)}"

    def _place(self) -> str:
        c = self.rng.choice
        return c((c(CITIES), f"the {self.rare()} {c(NOUNS)}", f"the {c(NOUNS)}"))

    def _did(self) -> str:
        c = self.rng.choice
        return f"I {c(ADVERBS)} {c(VERBS_PAST)} {self._noun()} {c(PREPOSITIONS)} {self._place()}"

    def _with(self) -> str:
        c = self.rng.choice
        who = c(PRONOUNS).capitalize()
        return f"{who} {c(VERBS_PAST)} {self._noun()} with {c(NAMES)} {c(TIMES)}"

    def _asked(self) -> str:
        c = self.rng.choice
        return f"Have you ever {c(VERBS_PP)} {self._noun()}?"

    def _opinion(self) -> str:
        c = self.rng.choice
        return f"I think {self._noun()} was {c(ADVERBS)} {c(ADJECTIVES)} and {c(ADJECTIVES)}"

    def _feeling(self) -> str:
        c = self.rng.choice
        return f"It made me feel so {c(FEELINGS)}, {c(NAMES)} {c(ADVERBS)} {c(VERBS_PAST)} it too"

    def _plan(self) -> str:
        c = self.rng.choice
        return f"Next time we want to try {self._noun()} {c(PREPOSITIONS)} {self._place()}"

    def _told(self) -> str:
        c = self.rng.choice
        return f"{c(NAMES)} told me about {self._noun()} {c(TIMES)}"

    def _question(self) -> str:
        c = self.rng.choice
        return f"What {c(NOUNS)} did you {c(('like', 'pick', 'try', 'see'))} {c(TIMES)}?"

    def turn(self) -> str:
        """One turn of about 15-40 words (a clipped normal around 24, plus the last sentence)."""
        target = min(45, max(12, round(self.rng.gauss(24, 8))))
        opener = self.rng.choice(OPENERS)
        parts = [opener] if opener else []
        words = len(parts)
        while words < target:
            sentence = self.rng.choice(self._frames)()
            if not sentence.endswith("?"):
                sentence += self.rng.choice((".", ".", "!"))
            parts.append(sentence)
            words += sentence.count(" ") + 1
        return " ".join(parts)

    def question(self) -> str:
        """A Recall query about such a history: a thing, a person or a rare name in it."""
        c = self.rng.choice
        return c(
            (
                f"What did {c(NAMES)} say about the {c(NOUNS)}?",
                f"When did I go to the {self.rare()} {c(NOUNS)}?",
                f"Which {c(NOUNS)} did I {c(('love', 'try', 'plan', 'finish'))} {c(TIMES)}?",
                f"Who came with me to {c(CITIES)}?",
                f"What do I think about {self.rare()}?",
                f"How did I feel after the {c(ADJECTIVES)} {c(NOUNS)}?",
            )
        )
