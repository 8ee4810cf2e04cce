"""R@5, R@10 and MRR of recalled dialog ids against each QA item's evidence."""

from dataclasses import dataclass

from memoire_eval.locomo import CATEGORIES, Sample

RECALL_LIMIT = 10
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
