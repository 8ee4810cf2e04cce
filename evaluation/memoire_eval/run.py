"""One evaluation, start to finish: ingest, wait for vectors, recall, score, report."""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from memoire_eval.bm25 import bm25_runs
from memoire_eval.client import Client
from memoire_eval.embedded import Stack, Weights, embedded_stack
from memoire_eval.held_out import grid_runs, leave_one_out
from memoire_eval.locomo import Sample, load
from memoire_eval.report import progress, report, report_held_out
from memoire_eval.scoring import Retrieved, score

EMBED_TIMEOUT_SECONDS = 1800.0


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
            progress("embed", total - owed, total)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{owed} memories still owe a vector")
            time.sleep(2)
        progress("embed", total, total)
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
            progress(f"embed {sample.sample_id}", len(lasts) - len(pending), len(lasts))
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
                progress("recall", done, total)
        result = Evaluation(runs, latencies)
        if stack.recall_with is not None:
            grid = grid_runs(samples, stack.recall_with, users, maps)
            result.held_out, result.picks = leave_one_out(samples, grid)
        return result
    finally:
        client.close()


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
