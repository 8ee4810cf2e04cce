"""The memory inspector in a real browser, through a real Envoy, against the real server.

Envoy serves the page (``/inspector/``, from ``memoire_stack.inspector``'s static server) and the
API on one origin, as ``memoire up`` does, so the page's gRPC-web calls are same-origin. Headless
Chromium (Debian's ``chromium``, driven by ``inspector/test/driver.ts`` through puppeteer-core)
signs in, picks a user and watches while the test writes facts over gRPC; a screenshot of each
state goes to the test's ``tmp_path``.

Without Chromium, ``inspector/node_modules`` or the built bundle (``scripts/bootstrap.sh dev``
installs and builds all three) the tests are skipped, except under CI, where they fail.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from memoire_proto.v1 import account_service_pb2, memory_pb2, memory_service_pb2
from memoire_stack import envoy
from memoire_stack.inspector import InspectorServer, built
from tests.integration.conftest import Api, Server

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "inspector"
DRIVER = INSPECTOR / ".build" / "driver.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def node() -> str:
    """Node, once Chromium, the driver and the bundle are there; skips (fails under CI) otherwise.

    Asked for first, so a skip starts nothing.
    """
    missing = [
        what
        for what, ok in (
            (f"{CHROMIUM} (apt-get install chromium)", CHROMIUM.exists()),
            (
                "inspector/node_modules (npm ci in inspector/)",
                (INSPECTOR / "node_modules").is_dir(),
            ),
            ("the built inspector (npm run build in inspector/)", built() and DRIVER.is_file()),
        )
        if not ok
    ]
    if missing:
        message = "missing " + ", ".join(missing) + "; run scripts/bootstrap.sh dev"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    found = shutil.which("node")
    assert found is not None, "node is not on PATH; install Node.js"
    return found


@pytest.fixture(scope="module")
def origin(node: str, server: Server, scratch: Path) -> Iterator[str]:
    """The one origin of page and API: Envoy in front of the server and the static server."""
    static = InspectorServer()
    static.start()
    work = scratch / "envoy-inspector"
    descriptor = work / "memoire.pb"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_descriptor.py"), "--out", str(descriptor)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proxy = envoy.LocalEnvoy(
        work, server.running.port, descriptor=descriptor, inspector_port=static.port
    )
    yield proxy.start()
    proxy.stop()
    static.stop()


class Browser:
    """The driver process: one JSON command per line, one JSON answer per line."""

    def __init__(self, node: str, shots: Path) -> None:
        self.shots = shots
        self.process = subprocess.Popen(
            [node, str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )

    def do(self, op: str, **args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the browser driver exited ({self.process.poll()}) during {op}"
        reply = json.loads(line)
        assert reply["ok"], f"{op} {args}: {reply['error']}"
        return reply["value"]

    def wait_for(self, selector: str, text: str | None = None) -> str:
        found: str = self.do("waitFor", selector=selector, **({"text": text} if text else {}))
        return found

    def shot(self, name: str) -> None:
        self.do("screenshot", path=str(self.shots / f"{name}.png"))

    def close(self) -> None:
        try:
            self.do("close")
        finally:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the driver also ends when its input does
            self.process.wait(30)


@pytest.fixture
def browser(node: str, tmp_path: Path) -> Iterator[Browser]:
    driven = Browser(node, tmp_path)
    yield driven
    driven.close()


def add_employer(api: Api, user_id: str, company: str) -> None:
    api.memory.AddMemories(
        memory_service_pb2.AddMemoriesRequest(
            user_id=user_id,
            facts=[
                memory_service_pb2.FactInput(
                    content=f"works at {company}", category="work", slot="employer", value=company
                )
            ],
        )
    )


CURRENT_EMPLOYER = '.fact[data-state="current"][data-slot="employer"]'


def test_a_deleted_fact_gives_the_slot_back_to_the_one_it_replaced(
    browser: Browser, origin: str, server: Server, channel: grpc.Channel, tmp_path: Path
) -> None:
    key = server.new_app_key()
    api = Api(channel, key)
    user_id = f"user-{uuid.uuid4().hex[:8]}"

    browser.do("goto", url=f"{origin}/inspector/")
    browser.wait_for("#sign-in h2", "Sign in")
    browser.shot("1-sign-in")
    browser.do("type", selector="#api-key", text=key)
    browser.do("click", selector="#sign-in-form button")
    browser.wait_for("#pick-user h2", "Which user?")  # an app key names its user
    browser.do("type", selector="#user-id", text=user_id)
    browser.do("click", selector="#pick-user-form button")
    browser.wait_for("#live", "live")
    browser.wait_for("#facts .empty", "No current facts")
    browser.shot("2-signed-in")

    # Facts written over gRPC show up by themselves (the page polls ListMemories).
    add_employer(api, user_id, "Foo")
    browser.wait_for(CURRENT_EMPLOYER, "works at Foo")
    browser.shot("3-foo-current")
    add_employer(api, user_id, "Acme")
    browser.wait_for(CURRENT_EMPLOYER, "works at Acme")
    assert browser.do("count", selector=CURRENT_EMPLOYER) == 1
    browser.wait_for("#activity li", "no longer current: “works at Foo”")
    browser.shot("4-acme-current")

    # The timeline keeps the superseded fact, and its history says why it no longer holds.
    browser.do("click", selector='input[value="timeline"]')
    browser.wait_for('.fact[data-state="superseded"]', "works at Foo")
    browser.do("click", selector='.fact[data-state="superseded"] button[data-action="history"]')
    browser.wait_for('.fact[data-state="superseded"] ol.history li', "superseded")
    browser.shot("5-timeline-with-history")

    # Recall shows every part of each hit's score.
    browser.do("type", selector="#recall-query", text="where does the user work?")
    browser.do("click", selector="#recall-form button")
    browser.wait_for("table.hits tbody tr", "works at Acme")
    headers = browser.wait_for("table.hits thead")
    for part in ("vector", "full text", "trigram", "fused", "confidence", "recency", "final"):
        assert part in headers
    browser.shot("6-recall")

    # Deleting Acme is a correction: Foo holds again, and the page says how the slot changed.
    browser.do("click", selector='input[value="current"]')
    delete = f'{CURRENT_EMPLOYER} button[data-action="delete"]'
    browser.do("click", selector=delete)
    browser.wait_for(delete, "Click again to delete")
    browser.do("click", selector=delete)
    browser.wait_for("#notice", "employer: “works at Acme” → “works at Foo”")
    browser.wait_for(CURRENT_EMPLOYER, "works at Foo")
    assert browser.do("count", selector=CURRENT_EMPLOYER) == 1
    browser.wait_for("table.hits tbody tr", "works at Foo")  # the recall is run again
    browser.shot("7-foo-restored")
    browser.do("click", selector='input[value="timeline"]')
    browser.wait_for('.fact[data-state="deleted"]', "works at Acme")
    browser.do("click", selector='.fact[data-state="deleted"] button[data-action="history"]')
    browser.wait_for('.fact[data-state="deleted"] ol.history li', "deleted")
    browser.shot("8-timeline-after-delete")

    current = api.memory.ListMemories(
        memory_service_pb2.ListMemoriesRequest(
            user_id=user_id, kind=memory_pb2.MEMORY_KIND_FACT, current_view_only=True
        )
    )
    assert [m.content for m in current.memories] == ["works at Foo"]

    # The key lives in this tab's sessionStorage only: not in localStorage, not in a cookie.
    storage = browser.do("storage")
    assert key not in storage["local"]
    assert not any(key in cookie for cookie in storage["cookies"])
    assert key in storage["session"]
    # Nothing went to another origin, and the page broke no rule of its CSP.
    assert all(url.startswith(origin + "/") for url in browser.do("requests") if "://" in url)
    assert browser.do("problems") == []
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "1-sign-in.png",
        "2-signed-in.png",
        "3-foo-current.png",
        "4-acme-current.png",
        "5-timeline-with-history.png",
        "6-recall.png",
        "7-foo-restored.png",
        "8-timeline-after-delete.png",
    ]


def test_a_user_key_opens_its_own_user_and_a_bad_key_is_refused(
    browser: Browser, origin: str, server: Server, channel: grpc.Channel
) -> None:
    app = Api(channel, server.new_app_key())
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    created = app.accounts.CreateUser(
        account_service_pb2.CreateUserRequest(user_id=user_id, issue_api_key=True)
    )
    add_employer(app, user_id, "Initech")

    browser.do("goto", url=f"{origin}/inspector")  # redirected to /inspector/
    browser.do("type", selector="#api-key", text="mem_notakey_notasecret")
    browser.do("click", selector="#sign-in-form button")
    browser.wait_for("#sign-in-error", "refused")
    browser.shot("1-refused")

    browser.do("type", selector="#api-key", text=created.api_key_secret)
    browser.do("click", selector="#sign-in-form button")
    browser.wait_for("#who", "user key")  # no user to pick: the key names its user
    browser.wait_for(CURRENT_EMPLOYER, "works at Initech")
    browser.shot("2-user-key")

    browser.do("click", selector="#sign-out")
    browser.wait_for("#sign-in h2", "Sign in")
    storage = browser.do("storage")
    assert created.api_key_secret not in storage["session"] + storage["local"]


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, without following redirects."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(Stay).open(url, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_static_server_serves_the_page_and_its_bundle_and_nothing_else() -> None:
    static = InspectorServer()
    base = static.start().removesuffix("/inspector/")
    try:
        status, headers, body = fetch(f"{base}/inspector/")
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"Content-Security-Policy" in body
        status, headers, _ = fetch(f"{base}/inspector")
        assert (status, headers["Location"]) == (308, "/inspector/")
        if built():
            status, headers, _ = fetch(f"{base}/inspector/dist/inspector.js")
            assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
            status, headers, _ = fetch(f"{base}/inspector/dist/inspector.css")
            assert (status, headers["Content-Type"]) == (200, "text/css; charset=utf-8")
        for outside in (
            "/inspector/package.json",
            "/inspector/src/inspector.ts",
            "/inspector/dist/../package.json",
            "/inspector/dist/%2e%2e/package.json",
            "/inspector/dist/",
            "/inspector/../README.md",
            "/README.md",
        ):
            assert fetch(base + outside)[0] == 404, outside
    finally:
        static.stop()
