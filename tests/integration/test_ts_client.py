"""The TypeScript client (clients/ts) against the real server, from its own `npm test`.

`npm test` builds the package and runs its `node --test` suite twice over: gRPC straight to
the session's server (every unary call, a full ObserveChat turn) and gRPC-web through a real
Envoy, plus the README example. This module starts Envoy, hands both addresses and a fresh app
key to it (MEMOIRE_TARGET, MEMOIRE_HTTP_URL, MEMOIRE_API_KEY) and requires exit status 0; it
also requires the committed generated code (clients/ts/src/gen) to match `buf generate`.
Creating apps and rate limits run against a server of their own, with an admin key and a tight
write limit (MEMOIRE_LIMITED_TARGET, MEMOIRE_ADMIN_KEY, MEMOIRE_LIMITED_API_KEY).

Without clients/ts/node_modules (`npm ci` in clients/ts) the tests are skipped, except under CI,
where they fail.
"""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoire_stack.envoy import LocalEnvoy
from tests.integration.conftest import Server, own_server

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "ts"
ADMIN_KEY = "admin-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def npm() -> str:
    """The npm command, once clients/ts has its node_modules; skips (fails under CI) otherwise.

    Asked for before `server`, so a skip starts nothing.
    """
    if not (PACKAGE / "node_modules").is_dir():
        if not os.environ.get("CI"):
            pytest.skip("clients/ts/node_modules is missing; run `npm ci` in clients/ts")
        pytest.fail("clients/ts/node_modules is missing under CI; run `npm ci` in clients/ts")
    found = shutil.which("npm")
    assert found is not None, "npm is not on PATH; install Node.js"
    return found


def run_npm(npm: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> None:
    """Run an npm script in clients/ts; fail with its whole output unless it exits 0."""
    result = subprocess.run(
        [npm, *args],
        cwd=PACKAGE,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=timeout,
    )
    print(result.stdout)  # shown by pytest -rP; on failure it is in the assertion message too
    assert result.returncode == 0, (
        f"`npm {' '.join(args)}` in clients/ts exited {result.returncode}:\n{result.stdout}"
    )


@pytest.fixture(scope="module")
def envoy(server: Server, scratch: Path) -> Iterator[str]:
    """Envoy's base URL, in front of the session's server (as test_http_api.py starts it)."""
    work = scratch / "envoy-ts"
    descriptor = work / "memoire.pb"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_descriptor.py"), "--out", str(descriptor)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proxy = LocalEnvoy(work, server.running.port, descriptor=descriptor)
    url = proxy.start()
    yield url
    proxy.stop()


@pytest.fixture(scope="module")
def limited(loop_thread, embedder, database_url, redis_server) -> Iterator[Server]:
    """A server with an admin key whose keys may write twice at once, then once every 2 s."""
    with own_server(
        loop_thread,
        embedder,
        database_url,
        redis_server.url,
        admin_key=ADMIN_KEY,
        rate_limit_writes_per_second=0.5,
        rate_limit_writes_burst=2,
    ) as server:
        yield server


def test_the_generated_typescript_code_is_current(npm: str) -> None:
    run_npm(npm, "run", "check:generated", timeout=120)


def test_the_typescript_client_passes_its_suite_against_the_real_server(
    npm: str, server: Server, envoy: str, limited: Server
) -> None:
    run_npm(
        npm,
        "test",
        env={
            "MEMOIRE_TARGET": server.target,
            "MEMOIRE_HTTP_URL": envoy,
            "MEMOIRE_API_KEY": server.new_app_key(),
            "MEMOIRE_LIMITED_TARGET": limited.target,
            "MEMOIRE_ADMIN_KEY": ADMIN_KEY,
            "MEMOIRE_LIMITED_API_KEY": limited.new_app_key(),
        },
    )
