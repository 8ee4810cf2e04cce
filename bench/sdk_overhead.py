"""What ``Memoire.wrap()`` adds to an LLM call, beside the unwrapped client in the same run.

Starts a private Postgres and a Mémoire server in its own process, and a local imitation of
the OpenAI API (tests/integration/fake_llm.py) that answers at once, so what is measured is
the SDK and the memory service, not a model. Rows:

- unwrapped: ``openai.OpenAI`` straight to the fake provider (the floor);
- wrapped, memory up: context fetched before and the turn stored after every call
  (a 5 s budget, so no call skips memory; the default budget of 150 ms would cap it),
  back to back, and 0.5 s apart (as with a real model), beside a plain Recall call;
- wrapped, memory up, streamed: time to the first chunk, beside the unwrapped stream's;
- wrapped, memory down: the server stopped and the circuit breaker open.

Figures are measured, never asserted. Run: ``.venv/bin/python bench/sdk_overhead.py [calls]``.
"""

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from memoire import BreakerState, Memoire, MemoireClient, MemoireError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memoire_cli import migrate  # noqa: E402
from memoire_core.db.engine import make_engine, make_session_factory  # noqa: E402
from memoire_core.services.accounts import create_app_with_key  # noqa: E402
from memoire_stack import services as localstack  # noqa: E402
from tests.integration.fake_llm import fake_llm  # noqa: E402

SERVER = (
    "import asyncio\n"
    "from memoire_core.config import Settings\n"
    "from memoire_server.app import serve\n"
    "asyncio.run(serve(Settings()))\n"
)
USER = "bench-user"
GAP_SECONDS = 0.5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def first_chunk_ms(make_stream: Callable[[], Any]) -> float:
    started = time.perf_counter()
    stream = make_stream()
    next(iter(stream))
    took = (time.perf_counter() - started) * 1000
    for _ in stream:
        pass
    return took


async def make_key(url: str, secret: str) -> str:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as db, db.begin():
            new = await create_app_with_key(db, secret.encode(), "bench", "sdk overhead")
        return new.secret
    finally:
        await engine.dispose()


def wait_ready(key: str, target: str) -> None:
    with MemoireClient(key, target, timeout=60) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.conscious(USER)
            except MemoireError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            else:
                return


def side_by_side(
    calls: int, took: Callable[[Any, int], float], plain: Any, wrapped: Any, gap: float = 0.0
) -> tuple[list[float], list[float]]:
    """What ``took`` measures of each client, the two interleaved so both see the same
    machine."""
    base, other = [], []
    for i in range(calls):
        if gap:
            time.sleep(gap)
        base.append(took(plain, i))
        other.append(took(wrapped, i))
    return base, other


def row(name: str, values: list[float], floor: list[float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "case": name,
        "median_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
    }
    if floor is not None:
        out["added_median_ms"] = round(statistics.median(values) - statistics.median(floor), 2)
        out["added_p95_ms"] = round(percentile(values, 0.95) - percentile(floor, 0.95), 2)
    return out


def main(calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="memoire-bench-") as tmp:
        postgres = localstack.LocalPostgres(Path(tmp) / "pg", database="memoire_bench")
        postgres.start()
        server: subprocess.Popen[bytes] | None = None
        try:
            url = postgres.url("memoire_bench")
            migrate.upgrade(url)
            secret = secrets.token_urlsafe(32)
            key = asyncio.run(make_key(url, secret))
            port = localstack.free_port()
            index = "hnsw" if localstack.bundled_pgvector_can_index() else "none"
            env = {
                **os.environ,
                "MEMOIRE_DATABASE_URL": url,
                "MEMOIRE_SECRET_KEY": secret,
                "MEMOIRE_GRPC_PORT": str(port),
                "MEMOIRE_REDIS_URL": "",
                "MEMOIRE_VECTOR_INDEX": index,
                "MEMOIRE_DATA_DIR": tmp,
                "MEMOIRE_LOG_LEVEL": "WARNING",
            }
            server = subprocess.Popen([sys.executable, "-c", SERVER], env=env, cwd=tmp)  # noqa: S603
            target = f"127.0.0.1:{port}"
            wait_ready(key, target)
            results = measure(key, target, server, calls)
        finally:
            if server is not None and server.poll() is None:
                server.terminate()
                server.wait(10)
            postgres.stop()
    print(f"{'case':<44}{'median ms':>11}{'p95 ms':>9}{'added median':>14}{'added p95':>11}")
    for r in results:
        added = (
            f"{r['added_median_ms']:>14.2f}{r['added_p95_ms']:>11.2f}"
            if "added_median_ms" in r
            else ""
        )
        print(f"{r['case']:<44}{r['median_ms']:>11.2f}{r['p95_ms']:>9.2f}{added}")
    print(json.dumps({"calls": calls, "results": results}))


def measure(
    key: str, target: str, server: subprocess.Popen[bytes], calls: int
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with fake_llm() as fake:
        plain = openai.OpenAI(base_url=fake.openai_url, api_key="x")

        def ask(client: Any, i: int, **kwargs: Any) -> Any:
            messages = [{"role": "user", "content": f"Remember that my lucky number is {i}."}]
            return client.chat.completions.create(
                model="gpt-4o", user=USER, messages=messages, **kwargs
            )

        def asked(client: Any, i: int) -> float:
            return timed(ask, client, i)

        def first_chunk(client: Any, i: int) -> float:
            return first_chunk_ms(lambda: ask(client, i, stream=True))

        up = Memoire(api_key=key, target=target, recall_budget=5.0)
        wrapped = up.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"))
        for i in range(5):  # warm both paths: connections, the server's model
            ask(plain, i)
            ask(wrapped, i)
        base, with_memory = side_by_side(calls, asked, plain, wrapped)
        results += [
            row("unwrapped", base, None),
            row("wrapped, memory up", with_memory, base),
        ]
        over = sum(1 for w, b in zip(with_memory, base, strict=True) if w - b > 150)
        results[-1]["calls_over_150ms_added"] = over

        # As in real use, where a model takes a while: the previous turn is stored and
        # embedded before the next call, so the call pays only its own context.
        base, spaced = side_by_side(calls, asked, plain, wrapped, GAP_SECONDS)
        results.append(row(f"wrapped, memory up, calls {GAP_SECONDS}s apart", spaced, base))
        # The server's part of a context: the same recall as a plain Recall call.
        with MemoireClient(key, target) as direct:
            question = "Remember that my lucky number is 7."
            recalls = []
            for _ in range(calls):
                time.sleep(GAP_SECONDS)
                recalls.append(timed(direct.recall, USER, question))
        results.append(row("Recall RPC alone (server's share)", recalls, None))

        base_first, memory_first = side_by_side(calls, first_chunk, plain, wrapped)
        results += [
            row("unwrapped stream, first chunk", base_first, None),
            row("wrapped stream, memory up, first chunk", memory_first, base_first),
        ]
        up.flush(30)
        up.close()

        server.terminate()
        server.wait(10)
        down = Memoire(api_key=key, target=target)  # defaults: 150 ms budget, breaker of 3
        wrapped_down = down.wrap(openai.OpenAI(base_url=fake.openai_url, api_key="x"))
        opening = []
        while down.breaker.state is not BreakerState.OPEN:
            opening.append(timed(ask, wrapped_down, 0))
        base, without = side_by_side(calls, asked, plain, wrapped_down)
        results += [
            row("unwrapped (memory down)", base, None),
            row("wrapped, memory down, breaker open", without, base),
        ]
        results[-1]["calls_before_open_ms"] = [round(t, 2) for t in opening]
        down.close()
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
