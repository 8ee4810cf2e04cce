"""The results of a run as JSON and as a Markdown page, and the targets they are held to."""

import json
import os
import platform
from pathlib import Path
from typing import Any

# (name, where in the results, bound, "max" or "min") - checked at concurrency 1 where it says.
TARGETS: tuple[tuple[str, tuple[str, ...], float, str], ...] = (
    (
        "Recall p95 (concurrency 1, query embedding included)",
        ("rpc", "recall", "1", "p95_ms"),
        25.0,
        "max",
    ),
    ("Conscious p95 (concurrency 1)", ("rpc", "conscious", "1", "p95_ms"), 3.0, "max"),
    ("Ingest reply p95 (concurrency 1)", ("rpc", "ingest", "1", "p95_ms"), 10.0, "max"),
    ("Ingest messages/s (best level)", ("best", "ingest_items_per_s"), 1000.0, "min"),
    ("New episode recallable p95 (ms)", ("delays", "episode_recallable", "p95_ms"), 1000.0, "max"),
    ("Server peak RSS (MiB)", ("server_rss_mb", "peak"), 1024.0, "max"),
)
UNITS = {"max": "≤", "min": "≥"}


def machine() -> dict[str, Any]:
    """What the run ran on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = 0.0
    try:
        total = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory_gb = round(int(total) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": memory_gb,
        "system": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def _lookup(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = results
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure and whether it was met."""
    out = []
    for name, path, bound, kind in TARGETS:
        value = _lookup(results, path)
        met = None if value is None else (value <= bound if kind == "max" else value >= bound)
        out.append(
            {"name": name, "target": f"{UNITS[kind]} {bound:g}", "measured": value, "met": met}
        )
    return out


def _loads(m: dict[str, Any], when: str) -> str:
    return " / ".join(f"{x:.2f}" for x in m.get("load_average", {}).get(when, []))


def _f(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def markdown(results: dict[str, Any]) -> str:
    """The run as a Markdown page: latencies, floors, ratios, delays and targets."""
    corpus, m = results["corpus"], results["machine"]
    lines = [
        f"# Mémoire benchmark: {corpus['memories']:,} memories, {corpus['users']:,} users",
        "",
        *_history_corpus(corpus),
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}; "
        f"{results['settings']['seconds']:g} s per level after {results['settings']['warmup']:g} s "
        f"of warm-up; vector index `{results['settings']['vector_index']}`. "
        "Latencies in ms, measured by a client on the same machine.",
        "",
        f"Load average (1, 5, 15 min) at the start {_loads(m, 'start')}, at the end "
        f"{_loads(m, 'end')}: anything above zero is other work sharing the CPUs.",
        "",
        "| call | concurrency | calls | p50 | p95 | p99 | calls/s | items/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group in ("rpc", "floor"):
        for name, levels in results[group].items():
            if not isinstance(levels, dict) or "calls" in levels:
                continue
            label = name if group == "rpc" else f"floor: {name}"
            for level, s in levels.items():
                lines.append(
                    f"| {label} | {level} | {s['calls']} | {_f(s['p50_ms'], 2)} | "
                    f"{_f(s['p95_ms'], 2)} | {_f(s['p99_ms'], 2)} | {_f(s['calls_per_s'])} | "
                    f"{_f(s['items_per_s'])} | {s['errors']} |"
                )
    emb = results["floor"]["query_embedding"]
    lines += [
        "",
        f"Query embedding alone (in the client process, one at a time): p50 "
        f"{_f(emb['p50_ms'], 2)} ms, p95 {_f(emb['p95_ms'], 2)} ms.",
        "",
        "| ratio of p50s | "
        + " | ".join(f"c={c}" for c in results["settings"]["concurrency"])
        + " |",
        "| --- | " + " | ".join("---:" for _ in results["settings"]["concurrency"]) + " |",
    ]
    for name, by_level in results["ratios"].items():
        cells = " | ".join(_f(by_level.get(str(c)), 2) for c in results["settings"]["concurrency"])
        lines.append(f"| {name} | {cells} |")
    d = results["delays"]
    lines += [
        "",
        "| delay after the Ingest reply | samples | p50 | p95 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("episode_recallable", "episode_embedded", "facts_visible", "get_extraction_floor"):
        s = d[name]
        lines.append(
            f"| {name.replace('_', ' ')} | {s['calls']} | {_f(s['p50_ms'])} | {_f(s['p95_ms'])} | "
            f"{_f(s['max_ms'])} |"
        )
    rss = results["server_rss_mb"]
    lines += [
        "",
        f"Embedding backlog after the Ingest phase drained in {_f(d['embedding_backlog_s'])} s. "
        f"Server resident memory: peak {_f(rss['peak'])} MiB, at the end {_f(rss['end'])} MiB.",
        *_history(results),
        *_steady(results),
        *_cpu(results),
        "",
        "| target | bound | measured | met |",
        "| --- | ---: | ---: | :---: |",
    ]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['name']} | {t['target']} | {_f(t['measured'], 2)} | {met} |")
    return "\n".join(lines) + "\n"


def _history_corpus(corpus: dict[str, Any]) -> list[str]:
    groups = corpus.get("history") or {}
    if not groups:
        return []
    sizes = ", ".join(f"{n} users of {int(size):,} memories" for size, n in groups.items())
    return [
        f"Plus users with LoCoMo-like histories: {sizes} "
        f"({corpus.get('history_memories', 0):,} memories).",
        "",
    ]


def _history(results: dict[str, Any]) -> list[str]:
    """Recall per history size beside its ranking-SQL floor, with CPU per call."""
    by_size = results.get("history") or {}
    if not by_size:
        return []
    cpu = results.get("cpu_per_call", {}).get("history", {})
    lines = [
        "",
        "Recall by history size (users holding that many LoCoMo-like memories), beside the "
        "ranking SQL for the same users; CPU in ms per call.",
        "",
        "| history | users | concurrency | Recall p50 | p95 | calls/s | ranking SQL p50 | p95 | "
        "calls/s | Recall / SQL | Recall CPU server | Postgres | SQL CPU Postgres |",
        "|" + " ---: |" * 13,
    ]
    for size, g in by_size.items():
        rc, sc = cpu.get(size, {}).get("recall", {}), cpu.get(size, {}).get("ranking_sql", {})
        for level, r in g["recall"].items():
            q = g["ranking_sql"][level]
            lines.append(
                f"| {int(size):,} | {g['users']} | {level} | {_f(r['p50_ms'], 2)} | "
                f"{_f(r['p95_ms'], 2)} | {_f(r['calls_per_s'])} | {_f(q['p50_ms'], 2)} | "
                f"{_f(q['p95_ms'], 2)} | {_f(q['calls_per_s'])} | "
                f"{_f(g['recall_over_ranking_sql'].get(level), 2)} | "
                f"{_f(rc.get(level, {}).get('server_ms'), 2)} | "
                f"{_f(rc.get(level, {}).get('postgres_ms'), 2)} | "
                f"{_f(sc.get(level, {}).get('postgres_ms'), 2)} |"
            )
    return lines


def _steady(results: dict[str, Any]) -> list[str]:
    """The steady ingest load: rates, reply latency, delay to a vector hit, embedder lag."""
    s = results.get("steady_ingest")
    if not s:
        return []
    ingest, found = s["ingest"], s["vector_found"]
    cost = results.get("cpu_per_call", {}).get("steady_ingest", {})
    window, drained = cost.get("window", {}), cost.get("with_drain", {})
    return [
        "",
        f"Steady ingest: {_f(s['target_per_s'])} messages/s asked, {_f(s['achieved_per_s'])} "
        f"achieved over {_f(s['window_s'])} s ({s['missed']} sends missed because "
        f"{s['in_flight']} calls were already in flight). Ingest reply p50 "
        f"{_f(ingest['p50_ms'], 2)} ms, p95 {_f(ingest['p95_ms'], 2)} ms, "
        f"{ingest['errors']} errors.",
        "",
        "| under steady ingest | samples | p50 | p95 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| new turn found by vector (ms after the reply) | {found['calls']} | "
        f"{_f(found['p50_ms'])} | {_f(found['p95_ms'])} | {_f(found['max_ms'])} |",
        "",
        f"Found by vector: {s['method']}. Memories owed a vector: {s['owed_start']} at the "
        f"start, at most {s['owed_max']}, {s['owed_end']} when the load stopped (drained in "
        f"{_f(s['drain_s'])} s). CPU per ingested message (ms; the background embedding and "
        f"the probes' {s['probe_recalls']} Recalls included): server "
        f"{_f(window.get('server_ms'), 2)}, Postgres "
        f"{_f(window.get('postgres_ms'), 2)} over the window; server "
        f"{_f(drained.get('server_ms'), 2)}, Postgres {_f(drained.get('postgres_ms'), 2)} "
        "until the embedder caught up.",
    ]


def _cpu(results: dict[str, Any]) -> list[str]:
    """CPU per call of every measured level: server, Postgres (all backends), bench client."""
    cpu = results.get("cpu_per_call") or {}
    lines = [
        "",
        "CPU per call (ms) of the server process, of Postgres (all its processes) and of the "
        "bench's client, read from /proc around each measured level.",
        "",
        "| call | concurrency | server | Postgres | client |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [(name, by) for name, by in cpu.get("rpc", {}).items()]
    rows += [(f"floor: {name}", by) for name, by in cpu.get("floor", {}).items()]
    rows += [
        (f"history {int(size):,}: {call}", by)
        for size, calls in cpu.get("history", {}).items()
        for call, by in calls.items()
    ]
    for label, by in rows:
        per_level = {"-": by} if "calls" in by else by
        for level, c in per_level.items():
            lines.append(
                f"| {label} | {level} | {_f(c['server_ms'], 2)} | {_f(c['postgres_ms'], 2)} | "
                f"{_f(c['client_ms'], 2)} |"
            )
    return lines if rows else []


def size_label(memories: int) -> str:
    """``100k``, ``1M``, ``2k``: the corpus size in a file name."""
    if memories >= 1_000_000 and memories % 1_000_000 == 0:
        return f"{memories // 1_000_000}M"
    if memories >= 1_000 and memories % 1_000 == 0:
        return f"{memories // 1_000}k"
    return str(memories)


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``<size>.json`` and ``<size>.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / size_label(results["corpus"]["memories"])
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path
