"""The BM25 baseline over each conversation's turns."""

import math
import re
from collections import Counter

from memoire_eval.locomo import Sample
from memoire_eval.scoring import RECALL_LIMIT, Retrieved

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
