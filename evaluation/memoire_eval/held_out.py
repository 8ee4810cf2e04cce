"""Leave one conversation out: each conversation recalled with the weights that score best
on the others, so that a figure is not a fit to the five conversations."""

from collections import defaultdict
from collections.abc import Callable, Iterable

from memoire_eval.embedded import Weights
from memoire_eval.locomo import CATEGORIES, Sample
from memoire_eval.report import progress
from memoire_eval.scoring import Retrieved, score

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
        progress("leave-one-out grid", done, len(plan))
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
