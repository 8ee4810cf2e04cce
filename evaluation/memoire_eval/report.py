"""What a run tells a person: progress on stderr, and the results as Markdown tables."""

import statistics
import sys

from memoire_eval.embedded import Weights
from memoire_eval.locomo import CATEGORIES, CATEGORY_NAMES
from memoire_eval.scoring import Scores


def progress(label: str, done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\r{label} {done}/{total}", end=end, file=sys.stderr, flush=True)


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
